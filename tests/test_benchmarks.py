"""The synthetic corpus the benchmarks ingest: varied, deterministic, and readable by the real parser."""

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
