from rag.chunk import Chunker, locate
from rag.parse import load_article
from rag.text import sentence_spans

from conftest import SEEDS


def test_chunks_are_exact_slices_covering_every_seed():
    chunker = Chunker(chunk_size=160, chunk_overlap=30)
    for path in sorted(SEEDS.glob("*.txt")):
        article = load_article(path)
        chunks = chunker.chunk(article)
        assert len(chunks) >= 2, path.name
        covered = set()
        for c in chunks:
            assert article.text[c.start:c.end] == c.text
            covered.update(range(c.start, c.end))
        non_space = {i for i, ch in enumerate(article.text) if not ch.isspace()}
        assert non_space <= covered, f"{path.name}: text outside every chunk"


def test_locate_tolerates_changed_whitespace():
    text = "Alpha beta.\n\nGamma   delta epsilon."
    assert locate(text, "Gamma delta epsilon.") == (13, 35)
    assert locate(text, "not there") is None


def test_sentence_spans_keep_abbreviations_together():
    text = "Both criticised U.S. dominance in world affairs. Putin spoke. Mr. Smith left."
    got = [text[a:b] for a, b in sentence_spans(text)]
    assert got == ["Both criticised U.S. dominance in world affairs.", "Putin spoke.", "Mr. Smith left."]
