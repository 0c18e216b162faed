"""Real fakes: they subclass the library's base classes and behave like the real parts."""

from __future__ import annotations

import hashlib
import re
from typing import Callable, Iterator, Sequence

import numpy as np

from rag.embed import Embedder
from rag.generate import Generator
from rag.judge import Judge
from rag.text import content_terms


class HashEmbedder(Embedder):
    """Hashed bag of stemmed content words: texts that share words get similar vectors."""

    name = "hash-bow"

    def __init__(self, dim: int = 512):
        self.dim = dim
        self.calls: list[int] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(len(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for term in content_terms(text):
                h = int.from_bytes(hashlib.md5(term.encode()).digest()[:4], "little")
                out[i, h % self.dim] += 1.0
            norm = np.linalg.norm(out[i])
            out[i] = out[i] / norm if norm else out[i]
            if not norm:
                out[i, 0] = 1.0
        return out

    @property
    def texts_embedded(self) -> int:
        return sum(self.calls)


class ScriptedGenerator(Generator):
    """Replies with ``reply(messages)``, streamed word by word; records every prompt."""

    name = "scripted"

    def __init__(self, reply: Callable[[list[dict]], str] | str):
        self.reply = reply if callable(reply) else (lambda messages: reply)
        self.prompts: list[list[dict]] = []

    def stream(self, messages, max_tokens: int = 128) -> Iterator[str]:
        self.prompts.append(messages)
        text = self.reply(messages)
        for piece in re.findall(r"\S+\s*", text):
            yield piece


def sources_in(messages: list[dict]) -> dict[int, str]:
    """The numbered evidence of the last user message."""
    body = messages[-1]["content"]
    return {int(n): t for n, t in re.findall(r"^\[(\d+)\] (.*)$", body, re.MULTILINE)}


def extractive_reply(messages: list[dict]) -> str:
    """Copies the first source that shares a word with the question, cited: a model that reads."""
    body = messages[-1]["content"]
    question = body.rsplit("Question:", 1)[1]
    q = set(content_terms(question))
    for n, text in sources_in(messages).items():
        if q & set(content_terms(text)):
            return f"{text.rstrip('.')} [{n}]."
    return "The articles don't say."


class WordJudge(Judge):
    """Says Yes (1.0) to a sentence containing one of ``words``, else No (0.0); records every call."""

    name = "word-judge"

    def __init__(self, *words: str):
        self.words = [w.lower() for w in words]
        self.calls: list[tuple[str, str]] = []

    def p_yes(self, question: str, sentence: str) -> float:
        self.calls.append((question, sentence))
        return 1.0 if any(w in sentence.lower() for w in self.words) else 0.0
