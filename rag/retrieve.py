"""Hybrid retrieval: dense vectors from Chroma plus BM25 keywords, fused by reciprocal rank.

Near-duplicate passages (the same sentence reported by several outlets) are folded
into one hit that remembers the other sources, so they cannot crowd out the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .chunk import Chunk
from .embed import Embedder
from .errors import IndexEmptyError
from .store import ChromaStore
from .text import content_terms


@dataclass(frozen=True)
class Hit:
    """A retrieved chunk with its fused score and the per-retriever scores behind it."""

    chunk: Chunk
    score: float
    dense: float = 0.0
    keyword: float = 0.0
    duplicates: tuple[str, ...] = ()  # chunk ids folded into this one


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


class KeywordIndex:
    """BM25 over content terms, built with bm25s."""

    def __init__(self, chunks: list[Chunk]):
        import bm25s

        self.chunks = chunks
        self.terms = [content_terms(c.title + " " + c.text) for c in chunks]
        self._bm25 = bm25s.BM25()
        self._vocab: dict[str, int] = {}
        ids = [[self._vocab.setdefault(t, len(self._vocab)) for t in doc] for doc in self.terms]
        if chunks:
            self._bm25.index(bm25s.tokenization.Tokenized(ids=ids, vocab=self._vocab), show_progress=False)
        self._df: dict[str, int] = {}
        for doc in self.terms:
            for t in set(doc):
                self._df[t] = self._df.get(t, 0) + 1

    def idf(self, term: str) -> float:
        """Inverse document frequency over chunks; a term the corpus lacks counts as rarest."""
        return math.log((len(self.chunks) + 1) / (self._df.get(term, 0) + 0.5))

    def search(self, query: str, n: int, sources: frozenset[str] | None = None) -> list[tuple[int, float]]:
        """The ``n`` best chunks for ``query`` (positions, BM25 scores); only chunks of ``sources`` when given."""
        q = [self._vocab[t] for t in content_terms(query) if t in self._vocab]
        if not q or not self.chunks:
            return []
        scores = self._bm25.get_scores(q)
        import numpy as np

        if sources is not None:
            scores = np.where([c.source in sources for c in self.chunks], scores, 0.0)
        n = min(n, len(self.chunks))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(i), float(scores[i])) for i in top if scores[i] > 0]


@dataclass(frozen=True)
class _Snapshot:
    """What one refresh read from the store."""

    version: str
    committed: dict[str, str]  # source -> content hash of its committed record
    keyword: KeywordIndex
    by_id: dict[str, int]  # chunk id -> position in keyword.chunks


def _terms(snap: _Snapshot, cid: str, chunk: Chunk) -> list[str]:
    i = snap.by_id.get(cid)
    return snap.keyword.terms[i] if i is not None else content_terms(chunk.title + " " + chunk.text)


class HybridRetriever:
    """Dense + BM25 candidates, reciprocal-rank fusion, near-duplicate folding."""

    def __init__(
        self, store: ChromaStore, embedder: Embedder, top_k: int = 5, candidates: int = 20,
        rrf_k: int = 60, dup_threshold: float = 0.6,
    ):
        self.store = store
        self.embedder = embedder
        self.top_k = top_k
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.dup_threshold = dup_threshold
        self._snapshot: _Snapshot | None = None  # replaced whole, so a search never mixes two refreshes

    def refresh(self) -> None:
        """Re-read the store (after ingest or remove, here or in another process). Stops with
        ``EmbedderMismatch`` if the index was built by another embedder than ours."""
        self.store.check_embedder(self.embedder.describe())
        version = self.store.version()  # read first: a write during the re-read shows up next time
        committed = self.store.committed_hashes()
        chunks = self.store.all_chunks(committed)  # the article records are read once per refresh
        self._snapshot = _Snapshot(version, committed, KeywordIndex(chunks), {c.id: i for i, c in enumerate(chunks)})

    @property
    def keyword(self) -> KeywordIndex:
        if self._snapshot is None:
            self.refresh()
        return self._snapshot.keyword

    def refresh_if_changed(self) -> None:
        """One cheap read of the store's version; the keyword index is rebuilt only if it moved."""
        if self._snapshot is None or self.store.version() != self._snapshot.version:
            self.refresh()

    def search(self, query: str, top_k: int | None = None, sources: frozenset[str] | None = None) -> list[Hit]:
        """The best ``top_k`` passages for ``query``; only of the articles ``sources`` when given (both
        searches are filtered, so the chosen articles' passages fill the list)."""
        top_k = top_k or self.top_k
        self.refresh_if_changed()
        snap = self._snapshot  # one consistent view, even if another thread refreshes meanwhile
        keyword = snap.keyword
        if not keyword.chunks:
            raise IndexEmptyError("the index is empty: run `rag ingest` first")
        qvec = self.embedder.embed([query])[0]
        dense = [
            (c, s) for c, s in self.store.query(qvec, self.candidates, sources)
            if snap.committed.get(c.source) == c.content_hash
        ]
        lexical = keyword.search(query, self.candidates, sources)

        fused: dict[str, float] = {}
        info: dict[str, dict] = {}
        for rank, (chunk, sim) in enumerate(dense):
            fused[chunk.id] = fused.get(chunk.id, 0.0) + 1.0 / (self.rrf_k + rank + 1)
            info.setdefault(chunk.id, {"chunk": chunk})["dense"] = sim
        for rank, (i, score) in enumerate(lexical):
            chunk = keyword.chunks[i]
            fused[chunk.id] = fused.get(chunk.id, 0.0) + 1.0 / (self.rrf_k + rank + 1)
            info.setdefault(chunk.id, {"chunk": chunk})["keyword"] = score

        order = sorted(fused, key=lambda cid: -fused[cid])
        hits: list[Hit] = []
        kept_terms: list[set] = []
        folded: dict[int, list[str]] = {}
        for cid in order:
            terms = set(_terms(snap, cid, info[cid]["chunk"]))
            dup_of = next((j for j, t in enumerate(kept_terms) if jaccard(terms, t) >= self.dup_threshold), None)
            if dup_of is not None:
                folded.setdefault(dup_of, []).append(cid)
                continue
            kept_terms.append(terms)
            d = info[cid]
            hits.append(Hit(chunk=d["chunk"], score=fused[cid], dense=d.get("dense", 0.0), keyword=d.get("keyword", 0.0)))
            if len(hits) >= top_k:
                break
        return [
            Hit(h.chunk, h.score, h.dense, h.keyword, tuple(folded.get(i, ()))) if i in folded else h
            for i, h in enumerate(hits)
        ]


def ranked_sources(hits: list[Hit]) -> list[tuple[str, float]]:
    """Article-level ranking: each source once, at its best hit's place."""
    out: dict[str, float] = {}
    for h in hits:
        out.setdefault(h.chunk.source, h.score)
        for cid in h.duplicates:
            out.setdefault(cid.rsplit("#", 1)[0], h.score)
    return list(out.items())
