"""The benchmarks: the synthetic corpus (varied, deterministic, readable by the real parser) and the runner."""

import pytest

from benchmarks.synth import write_corpus
from conftest import SEEDS
from rag.parse import load_article


def test_synthetic_corpus_is_varied_deterministic_and_parseable(tmp_path):
    paths = write_corpus(SEEDS, tmp_path / "a", 20, seed=1)
    again = write_corpus(SEEDS, tmp_path / "b", 20, seed=1)
    assert [p.name for p in paths] == [f"synth_{i:06d}.txt" for i in range(20)]
    texts = [p.read_text(encoding="utf-8") for p in paths]
    assert texts == [p.read_text(encoding="utf-8") for p in again]
    assert len(set(texts)) == 20
    seeds = " ".join(p.read_text(encoding="utf-8") for p in SEEDS.glob("*.txt"))
    assert "Putin" in seeds and not any("Putin" in t for t in texts)  # names are swapped
    article = load_article(paths[0])
    assert article.title and article.date.endswith("May 2024") and len(article.text) > 300


@pytest.mark.parametrize("args, message", [
    (["--stages", "seeds,synthetic", "--questions", "0"], "--questions 0 leaves nothing to time in the stage(s) seeds"),
    (["--stages", "ask,plain", "--questions", "0"], "stage(s) ask, plain: ask at least one"),
    (["--stages", "synthetic", "--articles", "-5"], "--articles and --questions take a count of 0 or more"),
    (["--questions", "-1"], "--articles and --questions take a count of 0 or more"),
])
def test_benchmark_rejects_counts_that_leave_nothing_to_time_before_any_work(tmp_path, args, message):
    """Rejected up front, with exit 2 and the reason, before a long ingest (nothing is written)."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "benchmarks", *args, "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and message in proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_benchmark_runner_stages_and_kept_work_folder(tmp_path):
    """The one command, cut down: real embedder, seeds and a small synthetic corpus, kept for a second run."""
    import json
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "benchmarks", "--stages", "seeds,synthetic", "--articles", "12",
           "--questions", "3", "--work", str(tmp_path / "work"), "--out", str(tmp_path / "out")]
    first = subprocess.run(cmd + ["--name", "one.json"], capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    one = json.loads((tmp_path / "out" / "one.json").read_text())
    default, base = one["ingest_synthetic"]["runs"]  # the default embedder, then torch for the ratio
    assert default["backend"] == "onnx" and base["backend"] == "torch"
    assert default["articles"] == base["articles"] == 12 and default["chunks"] == base["chunks"] > 12
    assert default["stage_s"]["embed"] > 0 and default["peak_rss_mib"] > 0
    assert one["ingest_synthetic"]["speedup_vs"]["torch (this checkout)"] > 0
    assert one["ingest_seeds"]["unchanged_embedded"] == 0 and not one["ingest_seeds"]["reused_index"]
    assert one["retrieval_synthetic"]["chunks"] == default["chunks"]
    assert one["retrieval_seeds"]["search_s"]["n"] == 9 and one["machine"]["cores"] >= 1
    assert "retrieval at" in first.stdout and "ingest speed, default / torch" in first.stdout and "ask" not in one

    # kept work folder: the seeds index is reused, the synthetic corpus is not written again, and
    # the synthetic ingest is measured afresh
    corpus = tmp_path / "work" / "synth-12"
    written = {f: f.stat().st_mtime_ns for f in corpus.iterdir()}
    second = subprocess.run(cmd + ["--name", "two.json", "--base-embedder", "none"], capture_output=True,
                            text=True, timeout=600)
    assert second.returncode == 0, second.stderr
    two = json.loads((tmp_path / "out" / "two.json").read_text())
    assert two["ingest_seeds"]["reused_index"] and "(index reused)" in second.stdout
    assert {f: f.stat().st_mtime_ns for f in corpus.iterdir()} == written
    assert [r["backend"] for r in two["ingest_synthetic"]["runs"]] == ["onnx"]
    assert two["ingest_synthetic"]["runs"][0]["chunks"] == default["chunks"]

    bad = subprocess.run(cmd[:3] + ["--stages", "seeds,warp"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown stage(s): warp" in bad.stderr

    # the synthetic stage alone with no questions: the ingest is timed, its retrieval skipped with a message
    none = subprocess.run(cmd[:3] + ["--stages", "synthetic", "--articles", "12", "--questions", "0",
                                     "--work", str(tmp_path / "work-none"), "--out", str(tmp_path / "out"),
                                     "--name", "none.json"], capture_output=True, text=True, timeout=600)
    assert none.returncode == 0, none.stderr
    assert "retrieval on the synthetic corpus not timed" in none.stderr
    three = json.loads((tmp_path / "out" / "none.json").read_text())
    assert three["ingest_synthetic"]["runs"][0]["articles"] == 12 and "retrieval_synthetic" not in three
