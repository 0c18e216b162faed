"""Ingestion: files -> articles -> chunks -> vectors -> store. Idempotent by content hash.

Two stages run at once: a reader thread parses and chunks the next files while the main thread
embeds a batch of chunks and writes it to the store. An article counts as stored only once its
record is written, after its chunks (see ``store``), so an ingest killed at any point and run again
skips every article it had stored and embeds only the rest.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from .chunk import Chunk, Chunker
from .embed import Embedder
from .errors import InputError
from .parse import Article, find_files, load_article
from .store import ChromaStore


@dataclass
class IngestReport:
    """What one ingest run did, file by file, and where its time went."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    chunks_embedded: int = 0
    # seconds spent in each stage; parse and chunk overlap embed and write, so they may sum past the wall time
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(("parse", "chunk", "embed", "write"), 0.0))
    wall_s: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated)

    def summary(self) -> str:
        parts = [f"{len(self.added)} added", f"{len(self.updated)} updated", f"{len(self.unchanged)} unchanged"]
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        return ", ".join(parts) + f"; {self.chunks_embedded} chunks embedded"

    def as_dict(self) -> dict:
        return {"added": len(self.added), "updated": len(self.updated), "unchanged": len(self.unchanged),
                "failed": [{"path": p, "reason": r} for p, r in self.failed], "chunks_embedded": self.chunks_embedded,
                "wall_s": round(self.wall_s, 3), "seconds": {k: round(v, 3) for k, v in self.seconds.items()}}

    def timing(self) -> str:
        """Where the time went: '12.3 s (embed 10.1 s, write 1.2 s, parse 0.9 s, chunk 0.2 s)'."""
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in sorted(self.seconds.items(), key=lambda kv: -kv[1]))
        return f"{self.wall_s:.1f} s ({stages})"


@dataclass
class _Parsed:
    """One file, read by the reader thread: an article to embed, or why it is skipped."""

    path: Path
    article: Article | None = None
    chunks: list[Chunk] = field(default_factory=list)
    failed: str = ""
    unchanged: bool = False


_DONE = object()


def ingest(
    paths: Iterable[Path],
    store: ChromaStore,
    embedder: Embedder,
    chunker: Chunker,
    progress: bool = True,
    max_bytes: int | None = None,
    batch_chunks: int = 256,
    demo: bool = False,
) -> IngestReport:
    """Index every supported file under ``paths``. Bad files are reported, not fatal. ``demo``: they
    are the demo articles (the seeds folder), marked so in the library.

    Stops before writing anything if the store was built by another embedder (``EmbedderMismatch``).
    """
    started = time.perf_counter()
    files = find_files(paths)
    made_by = embedder.describe()
    store.check_embedder(made_by)
    committed = store.committed_hashes()
    report = IngestReport()
    bar = _progress(len(files), progress)
    parsed: queue.Queue = queue.Queue(maxsize=4 * batch_chunks)  # bounded: memory stays flat on any archive
    stop = threading.Event()
    reader = threading.Thread(target=_read_files, args=(files, chunker, committed, max_bytes, parsed, report, stop),
                              name="ingest-reader", daemon=True)
    reader.start()
    pending: list[_Parsed] = []

    def flush():
        if not pending:
            return
        texts = [c.text for p in pending for c in p.chunks]
        t = time.perf_counter()
        vectors = embedder.embed(texts)
        report.seconds["embed"] += time.perf_counter() - t
        t = time.perf_counter()
        bounds = np.cumsum([0] + [len(p.chunks) for p in pending])
        store.put_many([(p.article, p.chunks, vectors[a:b]) for p, a, b in zip(pending, bounds, bounds[1:])],
                       made_by=made_by, demo={p.article.source for p in pending} if demo else frozenset())
        for p in pending:
            (report.updated if p.article.source in committed else report.added).append(p.article.source)
        report.seconds["write"] += time.perf_counter() - t
        report.chunks_embedded += len(texts)
        _advance(bar, len(pending))
        pending.clear()

    try:
        while (item := parsed.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            if item.failed:
                report.failed.append((str(item.path), item.failed))
                _advance(bar, 1)
            elif item.unchanged:
                report.unchanged.append(item.article.source)
                _advance(bar, 1)
            else:
                pending.append(item)
                if sum(len(p.chunks) for p in pending) >= batch_chunks:
                    flush()
        flush()
    finally:
        stop.set()
        if bar is not None:
            bar.close()
    report.wall_s = time.perf_counter() - started
    return report


def rebuild(store: ChromaStore, embedder: Embedder, chunker: Chunker, progress: bool = True,
            batch_chunks: int = 256) -> IngestReport:
    """Embed every stored article again, from the text the store keeps, with ``embedder``.

    The new vectors go into a fresh article set beside the old one, which is replaced only when
    all are written: killed half way, the index is as it was and still answers.
    """
    started = time.perf_counter()
    made_by = embedder.describe()
    stored = store.articles(with_text=True)
    demo = {s.source for s in stored if s.demo}
    demo_removed = store.demo_removed()
    fresh = store.sibling(store.collection_name + "-rebuild")
    fresh.drop()  # what an earlier, interrupted rebuild left
    report = IngestReport()
    bar = _progress(len(stored), progress)
    batch: list[tuple[Article, list[Chunk]]] = []

    def flush():
        texts = [c.text for _, chunks in batch for c in chunks]
        t = time.perf_counter()
        vectors = embedder.embed(texts)
        report.seconds["embed"] += time.perf_counter() - t
        t = time.perf_counter()
        bounds = np.cumsum([0] + [len(chunks) for _, chunks in batch])
        fresh.put_many([(article, chunks, vectors[a:b]) for (article, chunks), a, b in zip(batch, bounds, bounds[1:])],
                       made_by=made_by, demo=demo)
        report.updated.extend(article.source for article, _ in batch)
        report.seconds["write"] += time.perf_counter() - t
        report.chunks_embedded += len(texts)
        _advance(bar, len(batch))
        batch.clear()

    try:
        for s in stored:
            article = Article(source=s.source, text=s.text, title=s.title, content_hash=s.content_hash,
                              outlet=s.outlet, byline=s.byline, date=s.date)
            t = time.perf_counter()
            batch.append((article, chunker.chunk(article)))
            report.seconds["chunk"] += time.perf_counter() - t
            if sum(len(c) for _, c in batch) >= batch_chunks:
                flush()
        if batch:
            flush()
    finally:
        if bar is not None:
            bar.close()
    if demo_removed:
        fresh.docs.modify(metadata={**(fresh.docs.metadata or {}), "demo_removed": True})
    store.replace_with(fresh)
    report.wall_s = time.perf_counter() - started
    return report


def _read_files(files: list[Path], chunker: Chunker, committed: dict[str, str], max_bytes: int | None,
                out: queue.Queue, report: IngestReport, stop: threading.Event) -> None:
    """The reader stage: parse and chunk each file, in order, onto ``out``; then ``_DONE``."""
    seen: dict[str, Path] = {}

    def put(item) -> bool:
        while not stop.is_set():  # the consumer failed: do not block on a full queue forever
            try:
                out.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    try:
        for path in files:
            if path.name in seen:
                item = _Parsed(path, failed=f"same file name as {seen[path.name]}; rename one of them")
            else:
                seen[path.name] = path
                item = _parse(path, chunker, committed, max_bytes, report)
            if not put(item):
                return
        put(_DONE)
    except BaseException as exc:  # an unexpected failure ends the ingest with its own error
        put(exc)


def _parse(path: Path, chunker: Chunker, committed: dict[str, str], max_bytes: int | None,
           report: IngestReport) -> _Parsed:
    t = time.perf_counter()
    try:
        article = load_article(path, max_bytes=max_bytes)
    except InputError as exc:
        return _Parsed(path, failed=str(exc))
    finally:
        report.seconds["parse"] += time.perf_counter() - t
    if committed.get(article.source) == article.content_hash:
        return _Parsed(path, article, unchanged=True)
    t = time.perf_counter()
    chunks = chunker.chunk(article)
    report.seconds["chunk"] += time.perf_counter() - t
    if not chunks:
        return _Parsed(path, failed=f"{path.name}: no text to index")
    return _Parsed(path, article, chunks)


def _progress(total: int, enabled: bool):
    """A bar of articles stored, with their rate and the time left (tqdm's own estimate)."""
    if not enabled or not total:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="Indexing", unit="article", file=sys.stderr, leave=False, smoothing=0.1)


def _advance(bar, n: int) -> None:
    if bar is not None:
        bar.update(n)
