"""Real fakes: they subclass the library's base classes and behave like the real parts."""

from __future__ import annotations

import hashlib
import re
from typing import Callable, Iterator, Sequence

import numpy as np

from rag.embed import Embedder, EmbedderInfo
from rag.generate import Generator
from rag.judge import Judge
from rag.text import content_terms


class HashEmbedder(Embedder):
    """Hashed bag of stemmed content words: texts that share words get similar vectors."""

    name = "hash-bow"

    def __init__(self, dim: int = 512):
        self.dim = dim
        self.info = EmbedderInfo("hash-bow", "test", dim)
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
        self.grammars: list[str | None] = []

    def stream(self, messages, max_tokens: int = 128, grammar: str | None = None) -> Iterator[str]:
        self.prompts.append(messages)
        self.grammars.append(grammar)
        text = self.reply(messages)
        for piece in re.findall(r"\S+\s*", text):
            yield piece


def sources_in(messages: list[dict]) -> dict[int, str]:
    """The numbered evidence of the last user message."""
    body = messages[-1]["content"]
    return {int(n): t for n, t in re.findall(r"^\[(\d+)\] (.*)$", body, re.MULTILINE)}


def extractive_reply(messages: list[dict]) -> str:
    """A reader that answers in a few words from the source sharing most words with the question: its
    first number the question lacks, else its capitalised words the question lacks (a name); cited.
    NONE when no source shares a word. Asked an open question, it gives that source sentence whole."""
    from rag.prompts import OPEN_SYSTEM, REWRITE_SYSTEM

    body = messages[-1]["content"]
    if messages[0]["content"] == REWRITE_SYSTEM:  # asked to rewrite a follow-up: it leaves it as it is
        return body.split("Last question:", 1)[1].split("\n")[0].strip()
    question = body.rsplit("Question:", 1)[1]
    q = set(content_terms(question))
    scored = [(len(q & set(content_terms(t))), -n, n, t) for n, t in sources_in(messages).items()]
    best = max(scored, default=None)
    if messages[0]["content"] == OPEN_SYSTEM:  # an open question: the best source sentence, as a sentence
        return (best[3].rstrip(" .") + ".") if best and best[0] else "The sources do not say."
    if best is None or best[0] == 0:
        return "NONE"
    n, text = best[2], best[3]
    numbers = [x.rstrip(".,") for x in re.findall(r"\d[\d,.]*", text) if x.rstrip(".,") not in question]
    if numbers:
        return f"{numbers[0]} [{n}]"
    names = [w.strip(".,;:“”\"’'") for w in text.split()[1:] if w[:1].isupper()]
    names = [w for w in names if w and not set(content_terms(w)) & q][:2]
    return f"{' '.join(names) or ' '.join(text.split()[:3])} [{n}]"


class WordJudge(Judge):
    """Says Yes (1.0) to a sentence containing one of ``words``, else No (0.0); records every call."""

    name = "word-judge"

    def __init__(self, *words: str):
        self.words = [w.lower() for w in words]
        self.calls: list[tuple[str, str]] = []
        self.answers: list[str] = []  # the answer each call was asked about

    def p_yes(self, question: str, sentence: str, answer: str = "") -> float:
        self.calls.append((question, sentence))
        self.answers.append(answer)
        return 1.0 if any(w in sentence.lower() for w in self.words) else 0.0
