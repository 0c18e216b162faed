import pytest

from rag.errors import IndexEmptyError
from rag.retrieve import HybridRetriever, ranked_sources


def test_hybrid_finds_the_passage(indexed, embedder):
    r = HybridRetriever(indexed, embedder, top_k=5)
    hits = r.search("Which country became the tenth member of the SCO?")
    assert "tenth member of the SCO" in hits[0].chunk.text
    assert hits[0].chunk.source == "000_be872feae246cb84.txt"
    assert hits[0].dense > 0 and hits[0].keyword > 0
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)


def test_keyword_side_rescues_rare_names(indexed, embedder):
    r = HybridRetriever(indexed, embedder, top_k=3)
    hits = r.search("Ukhnaagiin Khurelsukh")
    assert hits[0].chunk.source == "003_81c9518f30d00088.txt"
    assert "Khurelsukh" in hits[0].chunk.text


def test_near_duplicates_are_folded(store, embedder, tmp_path):
    from rag.chunk import Chunker
    from rag.ingest import ingest

    folder = tmp_path / "dups"
    folder.mkdir()
    same = "Belarus joined the Shanghai Cooperation Organisation as its tenth member at the Astana summit."
    for i in range(4):
        (folder / f"copy{i}.txt").write_text(same + f" Edition {i}.\n", encoding="utf-8")
    (folder / "other.txt").write_text("Kazakhstan hosted the summit of the organisation in its capital.\n", encoding="utf-8")
    ingest([folder], store, embedder, Chunker(), progress=False)
    hits = HybridRetriever(store, embedder, top_k=3).search("Who became the tenth member of the organisation?")
    sources = [h.chunk.source for h in hits]
    assert sum(s.startswith("copy") for s in sources) == 1
    assert "other.txt" in sources
    assert len(hits[0].duplicates) == 3
    ranked = [s for s, _ in ranked_sources(hits)]
    assert set(ranked[:4]) == {"copy0.txt", "copy1.txt", "copy2.txt", "copy3.txt"}


def test_empty_index_says_what_to_do(store, embedder):
    with pytest.raises(IndexEmptyError, match="run `rag ingest`"):
        HybridRetriever(store, embedder).search("anything")


def test_plural_and_singular_share_a_stem_so_keyword_search_and_coverage_match_them():
    from rag.text import content_terms, stem

    for plural, singular in [("members", "member"), ("borders", "border"), ("leaders", "leader"),
                             ("countries", "country"), ("joined", "join"), ("argued", "argue")]:
        assert stem(plural) == stem(singular) or stem(plural)[:5] == stem(singular)[:5], (plural, singular)
    assert "border" in content_terms("Belarus, which borders the European Union")
