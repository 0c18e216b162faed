"""Ingestion: files -> articles -> chunks -> vectors -> store. Idempotent by content hash."""

from __future__ import annotations

import sys
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
    """What one ingest run did, file by file."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    chunks_embedded: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated)

    def summary(self) -> str:
        parts = [f"{len(self.added)} added", f"{len(self.updated)} updated", f"{len(self.unchanged)} unchanged"]
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        return ", ".join(parts) + f"; {self.chunks_embedded} chunks embedded"


def ingest(
    paths: Iterable[Path],
    store: ChromaStore,
    embedder: Embedder,
    chunker: Chunker,
    progress: bool = True,
    max_bytes: int | None = None,
    batch_chunks: int = 256,
) -> IngestReport:
    """Index every supported file under ``paths``. Bad files are reported, not fatal."""
    files = find_files(paths)
    report = IngestReport()
    committed = store.committed_hashes()
    seen: dict[str, Path] = {}
    pending: list[tuple[Article, list[Chunk]]] = []

    def flush():
        if not pending:
            return
        texts = [c.text for _, chunks in pending for c in chunks]
        vectors = embedder.embed(texts) if texts else np.zeros((0, 1), dtype=np.float32)
        offset = 0
        for article, chunks in pending:
            store.put(article, chunks, vectors[offset : offset + len(chunks)])
            offset += len(chunks)
            (report.updated if article.source in committed else report.added).append(article.source)
        report.chunks_embedded += len(texts)
        pending.clear()

    bar = _progress(files, progress)
    for path in bar:
        if path.name in seen:
            report.failed.append((str(path), f"same file name as {seen[path.name]}; rename one of them"))
            continue
        seen[path.name] = path
        try:
            article = load_article(path, max_bytes=max_bytes)
        except InputError as exc:
            report.failed.append((str(path), str(exc)))
            continue
        if committed.get(article.source) == article.content_hash:
            report.unchanged.append(article.source)
            continue
        chunks = chunker.chunk(article)
        if not chunks:
            report.failed.append((str(path), f"{path.name}: no text to index"))
            continue
        pending.append((article, chunks))
        if sum(len(c) for _, c in pending) >= batch_chunks:
            flush()
    flush()
    return report


def _progress(files: list[Path], enabled: bool):
    if not enabled or not files:
        return files
    from tqdm import tqdm

    return tqdm(files, desc="Indexing articles", unit="file", file=sys.stderr, leave=False)
