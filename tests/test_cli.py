import json
import subprocess
import sys

import pytest

from rag import build, cli

from fakes import HashEmbedder, ScriptedGenerator, sources_in


@pytest.fixture
def fake_models(monkeypatch):
    """The CLI wired to the fake embedder and a generator that cites the 'tenth member' source."""
    def reply(messages):
        for n, t in sources_in(messages).items():
            if "tenth member" in t:
                return f"Belarus became the tenth member [{n}]."
        return "The articles don't say."

    emb = HashEmbedder()
    monkeypatch.setattr(build, "make_embedder", lambda cfg: emb)
    monkeypatch.setattr(build, "make_generator", lambda cfg: ScriptedGenerator(reply))
    return emb


def test_ask_builds_index_on_first_run_and_prints_json(fake_models, seeds, monkeypatch, capsys):
    monkeypatch.setenv("RAG_SEEDS_DIR", str(seeds))
    rc = cli.main(["ask", "--json", "Which country became the tenth member of the SCO?"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert out["answer"] == "Belarus became the tenth member [1]." and out["refused"] is False
    assert out["citations"][0]["source"] == "000_be872feae246cb84.txt"
    text = (seeds / "000_be872feae246cb84.txt").read_text(encoding="utf-8")
    assert out["citations"][0]["quote"] in text
    (span,) = out["citations"][0]["answer_spans"]  # the answer's own word in the quote: not the question's
    assert text[span[0]:span[1]] == "Belarus’s"
    assert out["reason"] == "verified" and out["checks"][0]["ok"] is True
    assert isinstance(out["latency_s"], float) and out["retrieved"][0]["score"] > 0


def test_ask_plain_output_lists_sources(fake_models, seeds, monkeypatch, capsys):
    monkeypatch.setenv("RAG_SEEDS_DIR", str(seeds))
    assert cli.main(["ask", "Which country became the tenth member of the SCO?"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Belarus became the tenth member [1].\n\nSources:\n[1] 000_be872feae246cb84.txt")
    assert "celebrating **Belarus’s** accession as the tenth member of the SCO.”" in out


def test_ingest_list_remove(fake_models, seeds, capsys):
    assert cli.main(["ingest", "--quiet", str(seeds)]) == 0
    assert "5 added, 0 updated, 0 unchanged" in capsys.readouterr().out
    assert cli.main(["ingest", "--quiet", str(seeds)]) == 0
    assert "0 added, 0 updated, 5 unchanged; 0 chunks embedded" in capsys.readouterr().out
    assert cli.main(["list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert len(listed) == 5 and all(d["chunks"] > 0 for d in listed)
    assert cli.main(["remove", "003_81c9518f30d00088.txt"]) == 0
    assert cli.main(["remove", "nope.txt"]) == 2
    assert "not in the index: nope.txt" in capsys.readouterr().err
    cli.main(["list"])
    assert "4 articles" in capsys.readouterr().out


@pytest.mark.parametrize("question", ["", "   "])
def test_empty_question_is_one_line_error(question, capsys):
    assert cli.main(["ask", question]) == 2
    err = capsys.readouterr().err
    assert err == "rag: error: the question is empty: type a question about the articles\n"


def test_ingest_missing_path(fake_models, tmp_path, capsys):
    assert cli.main(["ingest", str(tmp_path / "nowhere")]) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_unreadable_file_fails_but_index_stays(fake_models, seeds, tmp_path, capsys):
    cli.main(["ingest", "--quiet", str(seeds)])
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\x00\x00\x00")
    assert cli.main(["ingest", "--quiet", str(bad)]) == 1
    assert "binary file" in capsys.readouterr().err
    cli.main(["list", "--json"])
    assert len(json.loads(capsys.readouterr().out)) == 5


def test_missing_model_file(fake_models, seeds, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(build, "make_generator", cli_real_make_generator)
    monkeypatch.setenv("RAG_SEEDS_DIR", str(seeds))
    rc = cli.main(["ask", "--model", str(tmp_path / "absent.gguf"), "What happened?"])
    assert rc == 1
    assert capsys.readouterr().err.strip() == f"rag: error: model file not found: {tmp_path / 'absent.gguf'}"


cli_real_make_generator = build.make_generator


def test_help_is_fast_and_imports_nothing_heavy():
    code = ("import sys, rag.cli\n"
            "try:\n    rag.cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'chromadb', 'llama_cpp', 'gradio', 'llama_index') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out


def test_eval_refuses_an_unscorable_file_before_loading_anything(tmp_path, monkeypatch, capsys):
    """An answerable question with no sources: exit 2 naming the line and field, before any model is loaded."""
    def no_models(cfg):
        raise AssertionError("a model was loaded for a file that cannot be scored")

    monkeypatch.setattr(build, "make_generator", no_models)
    monkeypatch.setattr(build, "make_embedder", no_models)
    good = {"id": "q1", "question": "Tenth member?", "answer": "Belarus", "keywords": [["belarus"]],
            "sources": ["a.txt"], "answerable": True}
    bad = {**good, "id": "q2", "sources": []}
    dataset = tmp_path / "set.jsonl"
    dataset.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    rc = cli.main(["eval", "--dataset", str(dataset), "--out", str(tmp_path / "out")])
    assert rc == 2
    assert capsys.readouterr().err.strip() == ("rag: error: set.jsonl line 2: field 'sources' is empty for an "
                                               "answerable question: name the articles that state the answer")
    assert not (tmp_path / "out").exists()


def test_the_demo_is_marked_in_rag_list_and_removed_in_one_command(fake_models, seeds, monkeypatch, capsys):
    monkeypatch.setenv("RAG_SEEDS_DIR", str(seeds))
    assert cli.main(["ask", "--json", "Which country became the tenth member of the SCO?"]) == 0  # first use: the demo
    capsys.readouterr()
    own = seeds.parent / "own"
    own.mkdir()
    (own / "ferry.txt").write_text("Ferry returns\n\nThe old ferry of Vellmar returned to service on Sunday.\n")
    assert cli.main(["ingest", "--quiet", str(own)]) == 0
    capsys.readouterr()
    assert cli.main(["list", "--json"]) == 0
    assert {d["source"]: d["demo"] for d in json.loads(capsys.readouterr().out)}["ferry.txt"] is False
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert out.count("[demo]") == 5 and "5 are demo articles (remove them all with `rag remove --demo`)" in out
    assert cli.main(["remove", "--demo"]) == 0
    assert capsys.readouterr().out.startswith("removed 5 demo articles: 000_be872feae246cb84.txt")
    assert cli.main(["list", "--json"]) == 0
    assert [d["source"] for d in json.loads(capsys.readouterr().out)] == ["ferry.txt"]
    assert cli.main(["remove"]) == 2
    assert "or --demo for the demo articles" in capsys.readouterr().err


def test_ask_within_chosen_articles(fake_models, seeds, monkeypatch, capsys):
    monkeypatch.setenv("RAG_SEEDS_DIR", str(seeds))
    q = "Which country became the tenth member of the SCO?"
    assert cli.main(["ask", "--json", "--source", "003_*", "--source", "004_8198bc21f95ecf11.txt", q]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out or captured.err)
    assert {r["source"] for r in out["retrieved"]} <= {"003_81c9518f30d00088.txt", "004_8198bc21f95ecf11.txt"}
    assert "000_be872feae246cb84.txt" not in {c["source"] for c in out["citations"]}
    assert cli.main(["ask", "--source", "*.pdf", q]) == 2
    assert "no article in the library matches '*.pdf'" in capsys.readouterr().err


def test_help_states_the_configured_top_k(capsys):
    from rag.config import Config

    with pytest.raises(SystemExit):
        cli.main(["ask", "--help"])
    assert f"(default {Config().top_k})" in " ".join(capsys.readouterr().out.split())
