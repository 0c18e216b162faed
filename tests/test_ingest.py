import shutil

from rag.chunk import Chunker
from rag.ingest import ingest
from rag.store import ChromaStore

from fakes import HashEmbedder


def test_ingest_then_reingest_embeds_nothing(store, embedder, seeds):
    first = ingest([seeds], store, embedder, Chunker(), progress=False)
    assert len(first.added) == 5 and first.chunks_embedded > 10
    embedded_before = embedder.texts_embedded

    again = ingest([seeds], store, embedder, Chunker(), progress=False)
    assert again.unchanged == sorted(p.name for p in seeds.glob("*.txt"))
    assert again.added == [] and again.updated == [] and again.chunks_embedded == 0
    assert embedder.texts_embedded == embedded_before


def test_changed_file_replaces_its_chunks(store, embedder, seeds):
    ingest([seeds], store, embedder, Chunker(), progress=False)
    target = seeds / "003_81c9518f30d00088.txt"
    before = {c.id for c in store.all_chunks() if c.source == target.name}
    target.write_text("Brand new text about a fishing festival in Bergen.\n", encoding="utf-8")

    report = ingest([seeds], store, embedder, Chunker(), progress=False)
    assert report.updated == [target.name] and len(report.unchanged) == 4
    chunks = [c for c in store.all_chunks() if c.source == target.name]
    assert [c.text for c in chunks] == ["Brand new text about a fishing festival in Bergen."]
    assert store.chunks.count() == len(store.all_chunks())  # no stale chunks left behind
    assert len(before) > 1


def test_list_and_remove(indexed):
    docs = indexed.articles()
    assert [d.source for d in docs] == sorted(d.source for d in docs)
    assert len(docs) == 5 and all(d.n_chunks > 0 for d in docs)
    assert sum(d.n_chunks for d in docs) == indexed.chunks.count()

    assert indexed.remove("001_019830dcde441936.txt") is True
    assert indexed.remove("001_019830dcde441936.txt") is False
    assert "001_019830dcde441936.txt" not in {c.source for c in indexed.all_chunks()}
    assert indexed.count() == 4


def test_bad_files_are_reported_and_index_stays_usable(store, embedder, seeds, tmp_path):
    (seeds / "bad.txt").write_bytes(b"\xff\xfe\x00\x00binary")
    report = ingest([seeds], store, embedder, Chunker(), progress=False)
    assert [p for p, _ in report.failed] == [str(seeds / "bad.txt")]
    assert "binary file" in report.failed[0][1]
    assert store.count() == 5


def test_uncommitted_chunks_are_ignored_and_cleaned(store, embedder, seeds):
    """Chunks written by an ingest that died before its record was committed never show up."""
    from rag.parse import load_article

    article = load_article(seeds / "000_be872feae246cb84.txt")
    chunks = Chunker().chunk(article)
    store.chunks.add(ids=[c.id for c in chunks], embeddings=embedder.embed([c.text for c in chunks]),
                     documents=[c.text for c in chunks],
                     metadatas=[{"source": c.source, "start": c.start, "end": c.end, "index": c.index,
                                 "content_hash": c.content_hash, "title": c.title} for c in chunks])
    assert store.all_chunks() == [] and store.count() == 0

    ingest([seeds], store, embedder, Chunker(), progress=False)
    assert store.chunks.count() == len(store.all_chunks())


def test_duplicate_file_names_in_one_run(store, embedder, seeds, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(seeds / "000_be872feae246cb84.txt", other / "000_be872feae246cb84.txt")
    report = ingest([seeds, other], store, embedder, Chunker(), progress=False)
    assert len(report.failed) == 1 and "same file name" in report.failed[0][1]


def test_index_persists_across_clients(store, embedder, seeds, tmp_path):
    ingest([seeds], store, embedder, Chunker(), progress=False)
    reopened = ChromaStore(tmp_path / "index")
    assert reopened.count() == 5
    assert HashEmbedder().embed(["x"]).shape == (1, 512)


def test_whole_collection_reads_are_paged(indexed):
    """One unbounded Chroma get fails past ~100,000 records; reads go page by page and lose nothing."""
    whole = indexed.all_chunks()
    indexed.page = 7  # 29 chunks, 5 articles: several pages, the last one partial
    assert [c.id for c in indexed.all_chunks()] == [c.id for c in whole] and len(whole) == 29
    assert len(indexed.committed_hashes()) == 5 and len(indexed.articles()) == 5


# ---- the index knows its embedder --------------------------------------------------

def test_index_records_its_embedder_and_refuses_another(store, embedder, seeds):
    import pytest

    from rag.retrieve import HybridRetriever
    from rag.store import EmbedderMismatch

    ingest([seeds], store, embedder, Chunker(), progress=False)
    assert store.embedder() == embedder.describe()
    other = HashEmbedder(dim=256)  # same kind, other dimension: other vectors
    before = store.chunks.count()
    with pytest.raises(EmbedderMismatch) as err:
        ingest([seeds], store, other, Chunker(), progress=False)
    message = str(err.value)
    assert "hash-bow (test, 512-d)" in message and "hash-bow (test, 256-d)" in message
    assert "rag ingest --rebuild" in message
    assert store.chunks.count() == before  # nothing written
    with pytest.raises(EmbedderMismatch):
        HybridRetriever(store, other).search("Which country joined the SCO?")
    assert HybridRetriever(store, embedder).search("Which country joined the SCO?")  # the index still answers


def test_the_mismatch_message_says_how_to_select_the_index_embedder():
    """Each recorded embedder is named with the setting that selects it."""
    from rag.embed import EmbedderInfo
    from rag.store import _how_to_select

    assert 'embed_backend = "torch"' in _how_to_select(EmbedderInfo("all-MiniLM-L6-v2", "torch", 384))
    assert 'embed_backend = "onnx"' in _how_to_select(EmbedderInfo("all-MiniLM-L6-v2", "onnx-int8", 384))
    assert "--embed-url" in _how_to_select(EmbedderInfo("nomic-embed-text", "openai-server", 768))


def test_an_index_from_before_the_record_counts_as_torch_minilm(store, embedder, seeds):
    from rag.store import UNRECORDED

    ingest([seeds], store, embedder, Chunker(), progress=False)
    store.docs.modify(metadata={"version": "old"})  # what indexes written before this change carry
    assert store.embedder() == UNRECORDED
    assert str(UNRECORDED) == "all-MiniLM-L6-v2 (torch, 384-d)"


def test_rebuild_reembeds_from_the_stored_text_and_keeps_everything(store, embedder, seeds):
    from rag.ingest import rebuild
    from rag.retrieve import HybridRetriever

    ingest([seeds], store, embedder, Chunker(), progress=False)
    articles = store.articles(with_text=True)
    chunks = store.chunks.count()
    shutil.rmtree(seeds)  # the files are gone: the index's own text is enough
    other = HashEmbedder(dim=256)
    report = rebuild(store, other, Chunker(), progress=False, batch_chunks=16)
    assert sorted(report.updated) == [a.source for a in articles]
    assert store.embedder() == other.describe()
    assert store.articles(with_text=True) == articles
    assert store.chunks.count() == chunks
    hits = HybridRetriever(store, other).search("Which country became the tenth member of the SCO?")
    assert hits and len(hits[0].chunk.text) > 0
    assert {c.name for c in store.client.list_collections()} == {store.collection_name, store.collection_name + "-docs"}


def test_a_rebuild_that_fails_half_way_leaves_the_index_as_it_was(store, embedder, seeds):
    import pytest

    from rag.ingest import rebuild
    from rag.retrieve import HybridRetriever

    ingest([seeds], store, embedder, Chunker(), progress=False)
    chunks = store.chunks.count()

    class Failing(HashEmbedder):
        def embed(self, texts):
            if self.calls:
                raise RuntimeError("killed")
            return super().embed(texts)

    with pytest.raises(RuntimeError):
        rebuild(store, Failing(dim=256), Chunker(), progress=False, batch_chunks=16)
    assert store.embedder() == embedder.describe() and store.chunks.count() == chunks
    assert HybridRetriever(store, embedder).search("Which country became the tenth member of the SCO?")


def test_ingest_reports_where_the_time_went(store, embedder, seeds):
    report = ingest([seeds], store, embedder, Chunker(), progress=False)
    assert set(report.seconds) == {"parse", "chunk", "embed", "write"}
    assert all(v > 0 for v in report.seconds.values()) and report.wall_s > 0
    assert report.timing().startswith(f"{report.wall_s:.1f} s (")


def test_progress_counts_articles(store, embedder, seeds, monkeypatch):
    """What the bar counts, not what it drew: tqdm draws at most once per refresh interval, so an ingest that
    ends inside one may never draw "5/5" (it failed so on a busy machine). Its counter is exact."""
    import rag.ingest

    bars = []
    make = rag.ingest._progress
    monkeypatch.setattr(rag.ingest, "_progress", lambda total, enabled: bars.append(make(total, enabled)) or bars[-1])
    ingest([seeds], store, embedder, Chunker(), progress=True)
    (bar,) = bars
    assert (bar.n, bar.total, bar.unit) == (5, 5, "article")
    final = bar.format_meter(**bar.format_dict)  # the line the bar shows at its last count
    assert "5/5" in final and "article/s" in final
    ingest([seeds], store, embedder, Chunker(), progress=True)  # unchanged articles are counted too
    assert bars[-1].n == 5
    ingest([seeds], store, embedder, Chunker(), progress=False)
    assert bars[-1] is None
