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
    # the answers given and wrong come first, then the rest in file order
    assert "1 of 4 answers given and wrong (listed first)." in md and "| wrong_answer_rate | 0.250 | 1.000 | ours |" in md
    assert [line.split(" | ")[0] for line in md.splitlines() if re.match(r"\| \d \|", line)] == ["| 2", "| 1", "| 3", "| 4"]
    assert re.findall(r"<tr class='(?:ok|bad)'><td>(\d)</td>", page) == ["2", "1", "3", "4"]


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


def test_rag_eval_corpus_uses_an_index_of_its_own(tmp_path, seeds, monkeypatch, capsys):
    """--corpus indexes the folder into a separate index: the user's index is neither read nor written."""
    def reply(messages):
        for n, t in sources_in(messages).items():
            if "ferry" in t:
                return f"Jonas Ekdahl [{n}]."
        return "The articles don't say."

    monkeypatch.setattr(build, "make_embedder", lambda cfg: HashEmbedder())
    monkeypatch.setattr(build, "make_generator", lambda cfg: ScriptedGenerator(reply))
    monkeypatch.setattr(build, "make_judge", lambda cfg, generator=None: None)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "ferry.txt").write_text("Ferry runs aground near Kestrel\n\nThe ferry's skipper, Jonas Ekdahl, "
                                      "steered the vessel onto a sandbank on Tuesday.\n", encoding="utf-8")
    (corpus / "other.md").write_text("# Council budget vote delayed\n\nThe council will vote in May.\n", encoding="utf-8")
    data = tmp_path / "corpus.jsonl"
    item = {"id": "c1", "question": "Who was the ferry's skipper?", "answer": "Jonas Ekdahl",
            "keywords": [["ekdahl"]], "sources": ["ferry.txt"], "answerable": True, "split": "test"}
    data.write_text(json.dumps(item) + "\n")
    out = tmp_path / "run"
    assert cli.main(["ingest", str(seeds)]) == 0  # the user's index: the five seeds
    capsys.readouterr()
    rc = cli.main(["eval", "--quiet", "--dataset", str(data), "--corpus", str(corpus), "--split", "test",
                   "--out", str(out), "--fail-under", "direct_correctness=1.0"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    line = json.loads((out / "results.jsonl").read_text())
    assert line["answer"] == "Jonas Ekdahl [1]." and line["direct_correct"] is True and line["answer_f1"] == 1.0
    assert {r["source"] for r in line["retrieved"]} <= {"ferry.txt", "other.md"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["direct_correctness"] == 1.0 and summary["answer_f1"] == 1.0
    assert "0 of 1 answers were a whole evidence sentence handed back" in (out / "report.md").read_text()
    assert cli.main(["list", "--json"]) == 0  # the user's index still holds the seeds alone
    assert sorted(a["source"] for a in json.loads(capsys.readouterr().out)) == sorted(p.name for p in seeds.glob("*.txt"))

    # a file removed from the corpus leaves its index; a dataset citing a missing article is refused
    (corpus / "other.md").unlink()
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(dict(item, sources=["nowhere.txt"])) + "\n")
    rc = cli.main(["eval", "--quiet", "--dataset", str(bad), "--corpus", str(corpus), "--out", str(tmp_path / "r2")])
    assert rc == 2
    assert "the dataset cites articles that are not in" in capsys.readouterr().err
    rc = cli.main(["eval", "--quiet", "--dataset", str(data), "--corpus", str(corpus), "--out", str(tmp_path / "r3")])
    assert rc == 0
    line = json.loads((tmp_path / "r3" / "results.jsonl").read_text())
    assert {r["source"] for r in line["retrieved"]} == {"ferry.txt"}
    rc = cli.main(["eval", "--quiet", "--dataset", str(data), "--corpus", str(tmp_path / "nope"), "--out", str(out)])
    assert rc == 2 and "no such folder" in capsys.readouterr().err


def test_merge_runs_joins_parts_back_into_the_whole_runs_summary(tmp_path):
    """evals/merge_runs.py: a committed run cut in two parts and joined again has the same metrics."""
    import json
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    whole = root / "evals" / "reports" / "corpus-test"
    lines = (whole / "results.jsonl").read_text(encoding="utf-8").splitlines()
    summary = json.loads((whole / "summary.json").read_text(encoding="utf-8"))
    parts = []
    for k, chunk in enumerate((lines[1::2], lines[::2])):  # out of order on purpose
        part = tmp_path / f"part{k}"
        part.mkdir()
        (part / "results.jsonl").write_text("\n".join(chunk) + "\n", encoding="utf-8")
        (part / "summary.json").write_text(json.dumps({"run": summary["run"]}), encoding="utf-8")
        parts.append(str(part))
    main = tmp_path / "main"
    shutil.copytree(whole, main, ignore=shutil.ignore_patterns("plain-llamaindex"))
    ran = {json.loads(line)["id"] for line in lines}  # the eval set has grown since the run: its questions only
    dataset = tmp_path / "questions.jsonl"
    dataset.write_text("".join(line + "\n" for line in (root / "evals/corpus/questions.jsonl").read_text(
        encoding="utf-8").splitlines() if line.strip() and json.loads(line)["id"] in ran), encoding="utf-8")
    proc = subprocess.run([sys.executable, str(root / "evals" / "merge_runs.py"), "--dataset",
                           str(dataset), "--corpus", str(root / "evals/corpus/articles"),
                           "--split", "test", "--main", str(main), "--name", "again", "--parts", *parts],
                          capture_output=True, text=True, cwd=root)
    assert proc.returncode == 0, proc.stderr
    joined = json.loads((main / "again" / "summary.json").read_text(encoding="utf-8"))
    for key, value in summary.items():
        if isinstance(value, (int, float)):
            assert joined[key] == value, key
    assert (main / "again" / "results.jsonl").read_text(encoding="utf-8").splitlines() == lines
    assert "again" in (main / "report.md").read_text(encoding="utf-8")

    proc = subprocess.run([sys.executable, str(root / "evals" / "merge_runs.py"), "--dataset",
                           str(dataset), "--corpus", str(root / "evals/corpus/articles"),
                           "--split", "test", "--main", str(main), "--name", "half", "--parts", parts[0]],
                          capture_output=True, text=True, cwd=root)
    assert proc.returncode == 1 and f"no result for {len(lines) - len(lines) // 2} questions" in proc.stderr


def _metric_table_heads(md: str) -> list[str]:
    return [line for line in md.splitlines() if line.startswith("| metric |")]


def test_report_without_a_baseline_has_no_comparison_column_nor_a_one_bar_category_chart(tmp_path):
    """One run: a column of its figures, no 'better' column of ties; questions without a category (one
    'uncategorised' bar) or all in one category get no per-category chart."""
    plain = [{k: v for k, v in item.items() if k != "category"} for item in ITEMS]
    one = [dict(item, category="single_fact") for item in ITEMS]
    for k, items in enumerate((plain, one)):
        out = tmp_path / str(k)
        out.mkdir()
        write_reports(out, {"ours": (items, RESULTS, summarize(items, RESULTS, ARTICLES))})
        md = (out / "report.md").read_text()
        assert _metric_table_heads(md) == ["| metric | ours |"]
        assert "| answer_correctness | 0.333 |" in md and "| wrong_answer_rate | 0.250 |" in md
        assert " tie |" not in md and "better" not in md
        page = (out / "report.html").read_text()
        assert "<th>better</th>" not in page and "<td>tie</td>" not in page
        assert float(re.search(r'data-metric="answer_correctness" data-run="ours">([0-9.]+)<', page).group(1)) == 0.333
        assert "correctness_by_category" not in page and "uncategorised" not in page
        assert page.count("data:image/png;base64,") == 2  # latency and first-source rank


def test_report_without_a_baseline_keeps_the_category_chart_where_there_are_categories(tmp_path):
    write_reports(tmp_path, {"ours": (ITEMS, RESULTS, summarize(ITEMS, RESULTS, ARTICLES))})
    page = (tmp_path / "report.html").read_text()
    assert "alt='correctness_by_category'" in page and page.count("data:image/png;base64,") == 3
    assert "<th>better</th>" not in page


def test_report_with_a_baseline_still_compares_without_categories(tmp_path):
    items = [{k: v for k, v in item.items() if k != "category"} for item in ITEMS]
    plain_results = [dict(r, refused=False, answer="no idea") for r in RESULTS]
    write_reports(tmp_path, {"ours": (items, RESULTS, summarize(items, RESULTS, ARTICLES)),
                             "plain-llamaindex": (items, plain_results, summarize(items, plain_results, ARTICLES))})
    md = (tmp_path / "report.md").read_text()
    assert _metric_table_heads(md) == ["| metric | ours | plain-llamaindex | better |"]
    assert "| answer_correctness | 0.333 | 0.000 | ours |" in md
    page = (tmp_path / "report.html").read_text()
    assert "<th>plain-llamaindex</th><th>better</th>" in page and "<td>ours</td></tr>" in page
    assert "correctness_by_category" not in page and page.count("data:image/png;base64,") == 2
