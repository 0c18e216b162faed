"""Split articles into chunks with llama-index's SentenceSplitter, keeping exact character offsets."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from .parse import Article


@dataclass(frozen=True)
class Chunk:
    """A slice of one article: ``article.text[start:end] == text``."""

    id: str
    source: str
    text: str
    start: int
    end: int
    index: int
    content_hash: str = ""
    title: str = ""


@lru_cache(maxsize=1)
def minilm_tokenizer() -> Callable[[str], list]:
    """Token counter that matches the embedder's own word pieces, read from the packaged model."""
    try:
        from tokenizers import Tokenizer

        from .embed import packaged_minilm_path

        tok = Tokenizer.from_file(str(packaged_minilm_path() / "tokenizer.json"))
        tok.no_truncation()
        tok.no_padding()
        return lambda text: tok.encode(text, add_special_tokens=False).ids
    except Exception:  # no tokenizer file: count words and punctuation instead
        return re.compile(r"\w+|[^\w\s]").findall


class Chunker:
    """Sentence-aware chunks of about ``chunk_size`` embedder tokens."""

    def __init__(self, chunk_size: int = 160, chunk_overlap: int = 30, tokenizer: Callable | None = None):
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.tokenizer = tokenizer
        self._splitter = None

    def _split(self, text: str) -> list[str]:
        if self._splitter is None:
            from llama_index.core.node_parser import SentenceSplitter

            self._splitter = SentenceSplitter(
                chunk_size=self.chunk_size, chunk_overlap=self.chunk_overlap,
                tokenizer=self.tokenizer or minilm_tokenizer(), paragraph_separator="\n",
            )
        return self._splitter.split_text(text)

    def chunk(self, article: Article) -> list[Chunk]:
        text = article.text
        chunks: list[Chunk] = []
        cursor = 0
        for piece in self._split(text):
            span = locate(text, piece, cursor)
            if span is None:
                continue
            start, end = span
            chunks.append(
                Chunk(
                    id=f"{article.source}#{len(chunks)}", source=article.source, text=text[start:end],
                    start=start, end=end, index=len(chunks), content_hash=article.content_hash,
                    title=article.title,
                )
            )
            # Overlapping chunks start before the previous chunk ends.
            cursor = max(cursor, start + 1)
        return chunks


def locate(text: str, piece: str, cursor: int = 0) -> tuple[int, int] | None:
    """Find ``piece`` in ``text`` at or after ``cursor``; tolerate whitespace the splitter changed."""
    piece = piece.strip()
    if not piece:
        return None
    i = text.find(piece, cursor)
    if i < 0:
        i = text.find(piece)
    if i >= 0:
        return i, i + len(piece)
    pattern = r"\s+".join(re.escape(w) for w in piece.split())
    m = re.compile(pattern).search(text, cursor) or re.compile(pattern).search(text)
    return (m.start(), m.end()) if m else None
