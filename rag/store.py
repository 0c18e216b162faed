"""The Chroma store: one collection of chunk vectors, one of whole-article records.

An article's record is written last, after its chunks, and carries its content hash.
Chunks whose hash does not match a record (left by an interrupted ingest) are
ignored by every read and deleted by the next ingest of that article.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .chunk import Chunk
from .embed import EmbedderInfo
from .errors import StoreError
from .parse import Article

# What built an index that recorded nothing: before indexes recorded their embedder, only the
# packaged MiniLM on sentence-transformers existed.
UNRECORDED = EmbedderInfo("all-MiniLM-L6-v2", "torch", 384)
_INFO_KEYS = ("embed_model", "embed_backend", "embed_dim")
_KEPT_KEYS = _INFO_KEYS + ("demo_removed",)  # what a write keeps of the records collection's metadata


class EmbedderMismatch(StoreError):
    """The index holds vectors made by another embedder than the one asking."""


@dataclass(frozen=True)
class StoredArticle:
    """An indexed article as recorded in the store."""

    source: str
    title: str
    content_hash: str
    n_chunks: int
    text: str = ""
    outlet: str = ""
    byline: str = ""
    date: str = ""
    demo: bool = False  # one of the demo articles a fresh checkout starts with (the seeds folder)


def _chroma_settings():
    from chromadb.config import Settings

    return Settings(anonymized_telemetry=False, allow_reset=False)


DOCS_SUFFIX = "-docs"


def _guard(method):
    """Turns a lost server connection into a StoreError that says where and what to do."""
    import functools

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except StoreError:
            raise
        except Exception as exc:
            if self.url and _is_connection_error(exc):
                self._chunks = self._docs = None
                raise StoreError(f"lost the Chroma server at {self.url} ({_reason(exc)}); is it running?") from exc
            raise

    return wrapper


class ChromaStore:
    """Chunks and articles in a persistent Chroma (``path``) or a Chroma server (``url``).

    A named ``collection`` is one article set: its chunks live in the Chroma collection of that
    name, its article records in ``<name>-docs``. Every write stamps the records collection with a
    new version, so a process sharing a server can tell when another one changed the articles.
    """

    def __init__(self, path: str | Path | None = None, collection: str = "articles", client=None, page: int = 5000,
                 url: str = ""):
        self.path = Path(path) if path else None
        self.url = url
        self.collection_name = collection
        self.page = page  # records per read when a whole collection is read
        self._client = client
        self._chunks = None
        self._docs = None

    @property
    def where(self) -> str:
        return f"the Chroma server at {self.url}" if self.url else f"the index at {self.path}"

    # -- connection ------------------------------------------------------------
    @property
    def client(self):
        if self._client is None:
            import chromadb

            if self.url:
                from urllib.parse import urlparse

                u = urlparse(self.url)
                try:
                    self._client = chromadb.HttpClient(
                        host=u.hostname, port=u.port or (443 if u.scheme == "https" else 80),
                        ssl=u.scheme == "https", settings=_chroma_settings(),
                    )
                except Exception as exc:
                    raise StoreError(f"cannot reach the Chroma server at {self.url} ({_reason(exc)}); is it running? "
                                     f"Start one with `chroma run --path DIR --port {u.port or 8000}`") from exc
                return self._client
            if self.path is None:
                raise StoreError("no index directory given")
            self.path.mkdir(parents=True, exist_ok=True)
            try:
                self._client = chromadb.PersistentClient(path=str(self.path), settings=_chroma_settings())
            except Exception as exc:
                raise StoreError(f"cannot open the index at {self.path}: {exc}") from exc
        return self._client

    @_guard
    def collections(self) -> list[tuple[str, int]]:
        """Every article set in this store: (name, number of articles)."""
        names = {c.name if hasattr(c, "name") else str(c) for c in self.client.list_collections()}
        return [(name[: -len(DOCS_SUFFIX)], self.client.get_collection(name).count()) for name in sorted(names)
                if name.endswith(DOCS_SUFFIX) and name[: -len(DOCS_SUFFIX)] in names]

    @_guard
    def version(self) -> str:
        """Changes whenever any process adds or removes articles in this collection."""
        meta = self.client.get_or_create_collection(self.collection_name + DOCS_SUFFIX, embedding_function=None).metadata
        return str((meta or {}).get("version", ""))

    def _bump_version(self, made_by: EmbedderInfo | None = None) -> None:
        import uuid

        meta = {k: v for k, v in (self.docs.metadata or {}).items() if k in _KEPT_KEYS}
        if made_by is not None:
            meta.update(embed_model=made_by.model, embed_backend=made_by.backend, embed_dim=made_by.dim)
        self.docs.modify(metadata={**meta, "version": uuid.uuid4().hex})

    @_guard
    def embedder(self) -> EmbedderInfo | None:
        """What made this index's vectors; None for an index with no articles yet."""
        meta = self.client.get_or_create_collection(self.collection_name + DOCS_SUFFIX, embedding_function=None).metadata
        meta = meta or {}
        if all(k in meta for k in _INFO_KEYS):
            return EmbedderInfo(str(meta["embed_model"]), str(meta["embed_backend"]), int(meta["embed_dim"]))
        return UNRECORDED if self.count() else None

    def check_embedder(self, info: EmbedderInfo) -> None:
        """Stop before vectors of two embedders meet in one index."""
        made = self.embedder()
        if made is not None and made != info:
            raise EmbedderMismatch(
                f"{self.where} was built with {made}, and this run embeds with {info}: their vectors cannot be "
                f"compared. Re-embed it with `rag ingest --rebuild`, or select {made} again "
                f"({_how_to_select(made)})")

    @property
    def chunks(self):
        if self._chunks is None:
            self._chunks = self.client.get_or_create_collection(
                self.collection_name, embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
            )
        return self._chunks

    @property
    def docs(self):
        if self._docs is None:
            self._docs = self.client.get_or_create_collection(
                self.collection_name + DOCS_SUFFIX, embedding_function=None,
            )
        return self._docs

    # -- writes ----------------------------------------------------------------
    @_guard
    def put(self, article: Article, chunks: Sequence[Chunk], vectors: np.ndarray,
            made_by: EmbedderInfo | None = None) -> None:
        """Replace an article's chunks, then commit its record (and ``made_by``, the embedder, with it)."""
        self.put_many([(article, chunks, vectors)], made_by)

    @_guard
    def put_many(self, items: Sequence[tuple[Article, Sequence[Chunk], np.ndarray]],
                 made_by: EmbedderInfo | None = None, demo: frozenset[str] | set[str] = frozenset()) -> None:
        """``put`` for several articles in a few calls: their old chunks go, all new chunks are added,
        then all their records are committed together. Each Chroma call costs tens of milliseconds
        whatever its size, which one call per article made as slow as embedding. The articles named in
        ``demo`` are recorded as demo articles."""
        if not items:
            return
        sources = [article.source for article, _, _ in items]
        self.chunks.delete(where={"source": {"$in": sources}} if len(sources) > 1 else {"source": sources[0]})
        chunks = [c for _, cs, _ in items for c in cs]
        vectors = np.concatenate([np.asarray(v, dtype=np.float32).reshape(len(cs), -1) for _, cs, v in items])
        batch = max(1, min(5000, self.client.get_max_batch_size()))
        for i in range(0, len(chunks), batch):
            part = chunks[i : i + batch]
            self.chunks.add(
                ids=[c.id for c in part],
                embeddings=vectors[i : i + batch],
                documents=[c.text for c in part],
                metadatas=[
                    {"source": c.source, "start": c.start, "end": c.end, "index": c.index,
                     "content_hash": c.content_hash, "title": c.title}
                    for c in part
                ],
            )
        for i in range(0, len(items), batch):
            part = items[i : i + batch]
            self.docs.upsert(
                ids=[article.source for article, _, _ in part],
                embeddings=[[1.0]] * len(part),
                documents=[article.text for article, _, _ in part],
                metadatas=[{
                    "title": article.title, "content_hash": article.content_hash, "n_chunks": len(cs),
                    "outlet": article.outlet, "byline": article.byline, "date": article.date,
                    "demo": article.source in demo,
                } for article, cs, _ in part],
            )
        self._bump_version(made_by)

    def sibling(self, collection: str) -> "ChromaStore":
        """Another article set in the same Chroma (same client)."""
        return ChromaStore(self.path, collection=collection, client=self.client, page=self.page, url=self.url)

    @_guard
    def drop(self) -> None:
        """Delete this article set, chunks and records."""
        names = {c.name if hasattr(c, "name") else str(c) for c in self.client.list_collections()}
        for name in (self.collection_name, self.collection_name + DOCS_SUFFIX):
            if name in names:
                self.client.delete_collection(name)
        self._chunks = self._docs = None

    @_guard
    def replace_with(self, new: "ChromaStore") -> None:
        """Make ``new`` (a finished sibling) this article set, in two renames; the old one is deleted last,
        so until then a crash leaves this set as it was."""
        old = self.sibling(self.collection_name + "-replaced")
        old.drop()
        self.chunks.modify(name=old.collection_name)
        self.docs.modify(name=old.collection_name + DOCS_SUFFIX)
        new.chunks.modify(name=self.collection_name)
        new.docs.modify(name=self.collection_name + DOCS_SUFFIX)
        self._chunks = self._docs = new._chunks = new._docs = None
        old.drop()
        self._bump_version()

    def delete_chunks(self, source: str) -> None:
        self.chunks.delete(where={"source": source})

    @_guard
    def remove(self, source: str) -> bool:
        """Take an article out. Returns False if it was not indexed."""
        known = bool(self.docs.get(ids=[source], include=[])["ids"])
        self.docs.delete(ids=[source])  # the record goes first: its chunks stop counting at once
        self.delete_chunks(source)
        if known:
            self._bump_version()
        return known

    @_guard
    def remove_demo(self) -> list[str]:
        """Take every demo article out, and remember it: an empty library is then not filled with the
        demo again (``demo_removed``). The file names removed."""
        demo = [a.source for a in self.articles() if a.demo]
        for source in demo:
            self.remove(source)
        self.docs.modify(metadata={**{k: v for k, v in (self.docs.metadata or {}).items() if k in _KEPT_KEYS},
                                   "demo_removed": True})
        return demo

    @_guard
    def demo_removed(self) -> bool:
        """Whether the user took the demo articles out of this article set."""
        meta = self.client.get_or_create_collection(self.collection_name + DOCS_SUFFIX, embedding_function=None).metadata
        return bool((meta or {}).get("demo_removed"))

    # -- reads -----------------------------------------------------------------
    @_guard
    def articles(self, with_text: bool = False) -> list[StoredArticle]:
        include = ["metadatas", "documents"] if with_text else ["metadatas"]
        got = _get_all(self.docs, include, self.page)
        out = [
            _to_article(source, got["metadatas"][i], got["documents"][i] if with_text else "")
            for i, source in enumerate(got["ids"])
        ]
        return sorted(out, key=lambda a: a.source)

    @_guard
    def article(self, source: str) -> StoredArticle | None:
        got = self.docs.get(ids=[source], include=["metadatas", "documents"])
        if not got["ids"]:
            return None
        return _to_article(source, got["metadatas"][0], got["documents"][0])

    @_guard
    def committed_hashes(self) -> dict[str, str]:
        got = _get_all(self.docs, ["metadatas"], self.page)
        return {s: str((m or {}).get("content_hash", "")) for s, m in zip(got["ids"], got["metadatas"])}

    @_guard
    def all_chunks(self, committed: dict[str, str] | None = None) -> list[Chunk]:
        """Every chunk of every committed article, in article order. ``committed`` is
        ``committed_hashes()`` when the caller has already read it."""
        committed = self.committed_hashes() if committed is None else committed
        got = _get_all(self.chunks, ["documents", "metadatas"], self.page)
        out = [
            _to_chunk(cid, doc, meta)
            for cid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"])
            if committed.get(meta.get("source")) == meta.get("content_hash")
        ]
        return sorted(out, key=lambda c: (c.source, c.index))

    @_guard
    def query(self, vector: np.ndarray, n: int, sources: Sequence[str] | None = None) -> list[tuple[Chunk, float]]:
        """Nearest chunks by cosine similarity (1 - cosine distance), best first; only chunks of the
        articles ``sources`` when given (Chroma's where-filter, applied inside the search)."""
        # No count() first: it costs ~4 ms at 100,000 chunks, and Chroma returns fewer (or no) hits by itself.
        where = None
        if sources is not None:
            if not sources:
                return []
            where = {"source": {"$in": sorted(sources)}} if len(sources) > 1 else {"source": next(iter(sources))}
        got = self.chunks.query(query_embeddings=[vector], n_results=n, where=where,
                                include=["documents", "metadatas", "distances"])
        return [
            (_to_chunk(cid, doc, meta), 1.0 - float(dist))
            for cid, doc, meta, dist in zip(got["ids"][0], got["documents"][0], got["metadatas"][0], got["distances"][0])
            if meta is not None and doc is not None  # deleted by another writer between the vector search and the read
        ]

    @_guard
    def lead_vectors(self, lead_chunks: int = 3, committed: dict[str, str] | None = None) -> dict[str, np.ndarray]:
        """Each committed article's mean vector over its first ``lead_chunks`` chunks (its headline and
        lead): what it is about, from the vectors the index holds."""
        committed = self.committed_hashes() if committed is None else committed
        acc: dict[str, list] = {}
        offset = 0
        while True:
            got = self.chunks.get(where={"index": {"$lt": lead_chunks}}, include=["embeddings", "metadatas"],
                                  limit=self.page, offset=offset)
            for meta, vector in zip(got["metadatas"], got["embeddings"]):
                if meta and committed.get(meta.get("source")) == meta.get("content_hash"):
                    acc.setdefault(meta["source"], []).append(np.asarray(vector, dtype=np.float32))
            if len(got["ids"]) < self.page:
                return {s: np.mean(v, axis=0) for s, v in acc.items()}
            offset += self.page

    @_guard
    def count(self) -> int:
        return self.docs.count()


def _how_to_select(info: EmbedderInfo) -> str:
    if info.backend in ("torch", "onnx-int8"):
        backend = "torch" if info.backend == "torch" else "onnx"
        return f'embed_backend = "{backend}" in rag.toml, or RAG_EMBED_BACKEND={backend}, with no embed_url'
    return f"--embed-url or RAG_EMBED_URL pointing at a server of the model {info.model}"


def _is_connection_error(exc: BaseException) -> bool:
    import httpx

    text = str(exc)
    return isinstance(exc, (httpx.TransportError, ConnectionError)) or "Could not connect" in text


def _reason(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__


def _get_all(collection, include: list[str], page: int) -> dict:
    """A whole collection, read ``page`` records at a time: one unbounded get fails past about
    100,000 records ("too many SQL variables", seen at 104,000 chunks)."""
    out: dict[str, list] = {"ids": [], **{k: [] for k in include}}
    offset = 0
    while True:
        got = collection.get(include=include, limit=page, offset=offset)
        for key in out:
            out[key].extend(got[key] or [])
        if len(got["ids"]) < page:
            return out
        offset += page


def _to_article(source: str, meta: dict | None, text: str) -> StoredArticle:
    meta = meta or {}
    return StoredArticle(
        source=source, title=str(meta.get("title", source)), content_hash=str(meta.get("content_hash", "")),
        n_chunks=int(meta.get("n_chunks", 0)), text=text,
        outlet=str(meta.get("outlet", "")), byline=str(meta.get("byline", "")), date=str(meta.get("date", "")),
        demo=bool(meta.get("demo", False)),
    )


def _to_chunk(cid: str, doc: str, meta: dict) -> Chunk:
    return Chunk(
        id=cid, source=str(meta["source"]), text=doc, start=int(meta["start"]), end=int(meta["end"]),
        index=int(meta["index"]), content_hash=str(meta.get("content_hash", "")), title=str(meta.get("title", "")),
    )
