import json
import re

from rag import build, cli
from rag.metrics import summarize
from rag.report import write_reports

from fakes import HashEmbedder, ScriptedGenerator, sources_in
from test_metrics import ARTICLES, ITEMS, RESULTS


def test_reports_show_both_runs_and_match_summary(tmp_path):
    ours = summarize(ITEMS, RESULTS, ARTICLES)
    plain_results = [dict(r, refused=False, answer="no idea") for r in RESULTS]
    plain = summarize(ITEMS, plain_results, ARTICLES)
    write_reports(tmp_path, {"ours": (ITEMS, RESULTS, ours), "plain-llamaindex": (ITEMS, plain_results, plain)})
    page = (tmp_path / "report.html").read_text()
    for run, summary in (("ours", ours), ("plain-llamaindex", plain)):
        cell = re.search(rf'data-metric="answer_correctness" data-run="{run}">([0-9.]+)<', page).group(1)
        assert float(cell) == round(summary["answer_correctness"], 3)
    assert page.count("data:image/png;base64,") == 3
    md = (tmp_path / "report.md").read_text()
    assert "| answer_correctness | 0.333 | 0.000 | ours |" in md
    assert "| 2 | Where did they meet? | In Moscow [1]. |" in md and "| wrong |" in md


def test_rag_eval_cli_writes_everything_and_gates(tmp_path, seeds, monkeypatch, capsys):
    def reply(messages):
        for n, t in sources_in(messages).items():
            if "tenth member" in t:
                return f"Belarus became the tenth member [{n}]."
        return "The articles don't say."

    monkeypatch.setattr(build, "make_embedder", lambda cfg: HashEmbedder())
    monkeypatch.setattr(build, "make_generator", lambda cfg: ScriptedGenerator(reply))
    monkeypatch.setenv("RAG_SEEDS_DIR", str(seeds))
    data = tmp_path / "set.jsonl"
    data.write_text("\n".join(json.dumps(i) for i in [
        {"id": "a", "question": "Which country became the tenth member of the SCO?", "answer": "Belarus",
         "keywords": [["belarus"]], "sources": ["000_be872feae246cb84.txt"], "answerable": True, "split": "test"},
        {"id": "b", "question": "What is the SCO's annual budget?", "answer": "The articles don't say.",
         "keywords": [], "sources": [], "answerable": False, "split": "test"},
    ]) + "\n")
    out = tmp_path / "run"
    rc = cli.main(["eval", "--quiet", "--dataset", str(data), "--out", str(out), "--fail-under", "answer_correctness=0.9"])
    assert rc == 0
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert [x["id"] for x in lines] == ["a", "b"]
    assert set(lines[0]) >= {"id", "question", "answer", "refused", "citations", "retrieved", "latency_s"}
    assert lines[0]["citations"][0]["source"] == "000_be872feae246cb84.txt"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["answer_correctness"] == 1.0 and summary["quote_verbatim_rate"] == 1.0
    assert (out / "report.md").exists() and (out / "report.html").exists()

    # the same run as a baseline, and a gate it cannot meet
    rc = cli.main(["eval", "--quiet", "--dataset", str(data), "--out", str(tmp_path / "run2"),
                   "--baseline", str(out), "--fail-under", "answer_correctness=1.01"])
    captured = capsys.readouterr()
    assert rc == 1
    assert "Right before, wrong now: none" in captured.out
    assert "quality gate failed: answer_correctness = 1.000 is below 1.01" in captured.err
