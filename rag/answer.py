"""The answer stage, as steps: retrieve, select evidence, read, verify, then answer or decline."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterator

from . import prompts
from .embed import CachedEmbedder, Embedder
from .errors import InputError
from .evidence import Evidence, select_evidence, with_speakers
from .generate import Generator
from .judge import MIN_JUDGE, Judge
from .retrieve import HybridRetriever, ranked_sources
from .store import ChromaStore
from .verify import Check, Citation, Verdict, verify

__all__ = ["Answer", "Citation", "Pipeline", "Token", "check_question"]

MAX_QUESTION_CHARS = 2000


@dataclass(frozen=True)
class Token:
    """A piece of the model's reply as it streams."""

    text: str


@dataclass(frozen=True)
class Answer:
    """A checked answer: text with [n] markers, its citations, and how it was reached."""

    question: str
    text: str
    refused: bool
    citations: tuple[Citation, ...] = ()
    retrieved: tuple[tuple[str, float], ...] = ()
    evidence: tuple[Evidence, ...] = ()
    raw: str = ""
    model: str = ""
    timings: dict = field(default_factory=dict)
    reason: str = ""
    checks: tuple[Check, ...] = ()

    def to_dict(self) -> dict:
        """The fields of an eval results line, plus timings and the model's raw reply."""
        return {
            "question": self.question,
            "answer": self.text,
            "refused": self.refused,
            "citations": [{"source": c.source, "quote": c.quote, "n": c.n, "start": c.start, "end": c.end,
                           "answer_spans": [list(h) for h in c.highlights]} for c in self.citations],
            "retrieved": [{"source": s, "score": round(score, 6)} for s, score in self.retrieved],
            "latency_s": round(self.timings.get("total_s", 0.0), 4),
            "ttft_s": round(self.timings.get("ttft_s", 0.0), 4),
            "tokens": self.timings.get("tokens", 0),
            "timings": {k: round(v, 4) if isinstance(v, float) else v for k, v in self.timings.items()},
            "model": self.model,
            "raw": self.raw,
            "reason": self.reason,
            "checks": [{"answer": c.answer, "cited": c.cited, "sentence": c.sentence,
                        "p_yes": None if c.p_yes is None else round(c.p_yes, 4), "ok": c.ok, "why": c.why,
                        "bridge": c.bridge}
                       for c in self.checks],
        }


def check_question(question: str) -> str:
    """The question with control characters dropped and whitespace collapsed; InputError if unusable."""
    import unicodedata

    q = "".join(ch for ch in (question or "") if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cs"))
    q = " ".join(q.split())
    if not q:
        raise InputError("the question is empty: type a question about the articles")
    if len(q) > MAX_QUESTION_CHARS:
        raise InputError(f"the question is too long ({len(q)} characters; the limit is {MAX_QUESTION_CHARS})")
    return q


class Pipeline:
    """Question in, checked and cited ``Answer`` out. Every part is passed in."""

    def __init__(
        self, store: ChromaStore, embedder: Embedder, generator: Generator,
        retriever: HybridRetriever | None = None, top_k: int = 8, evidence_k: int = 4,
        max_tokens: int = 48, judge: Judge | None = None, min_judge: float = MIN_JUDGE,
    ):
        self.store = store
        self.embedder = embedder if isinstance(embedder, CachedEmbedder) else CachedEmbedder(embedder)
        self.generator = generator
        self.judge = judge
        self.retriever = retriever or HybridRetriever(store, self.embedder, top_k=top_k)
        self.top_k = top_k
        self.evidence_k = evidence_k
        self.max_tokens = max_tokens
        self.min_judge = min_judge
        self._texts: dict[str, str] = {}

    def refresh(self) -> None:
        """Call after the store changed (ingest, remove)."""
        self.retriever.refresh()
        self._texts.clear()

    def ask(self, question: str) -> Answer:
        answer = None
        for event in self.stream(question):
            if isinstance(event, Answer):
                answer = event
        return answer

    def stream(self, question: str, top_k: int | None = None) -> Iterator[Token | Answer]:
        """Yield ``Token``s while the reader writes, then the checked ``Answer``."""
        question = check_question(question)
        t0 = time.perf_counter()
        hits = self.retriever.search(question, top_k or self.top_k)
        t1 = time.perf_counter()
        evidence = self.select(question, hits)
        t2 = time.perf_counter()
        timings = {"retrieve_s": t1 - t0, "evidence_s": t2 - t1, "ttft_s": 0.0, "generate_s": 0.0, "tokens": 0}
        base = dict(question=question, retrieved=tuple(ranked_sources(hits)), evidence=tuple(evidence),
                    model=self.generator.name)
        if not evidence:
            timings.update(total_s=time.perf_counter() - t0, check_s=0.0, checks=0)
            yield Answer(text=prompts.REFUSAL, refused=True, timings=timings,
                         reason="nothing in the index bears on the question", **base)
            return

        pieces: list[str] = []
        for piece in self.read(question, evidence):
            if not pieces:
                timings["ttft_s"] = time.perf_counter() - t2
            pieces.append(piece)
            yield Token(piece)
        t3 = time.perf_counter()
        raw = "".join(pieces).strip()

        verdict: Verdict = verify(question, raw, evidence, judge=self.judge, min_judge=self.min_judge,
                                  article=self._article, refusal=prompts.REFUSAL)
        timings.update(generate_s=t3 - t2, tokens=len(pieces), verify_s=time.perf_counter() - t3,
                       check_s=verdict.check_s, checks=verdict.judge_calls, total_s=time.perf_counter() - t0)
        yield Answer(text=verdict.text, refused=verdict.refused, citations=verdict.citations, raw=raw,
                     timings=timings, reason=verdict.reason, checks=verdict.checks, **base)

    def select(self, question: str, hits) -> list[Evidence]:
        """The sentences the reader is shown: the best ``evidence_k``, quotes widened to name their speaker."""
        evidence = select_evidence(question, hits, self.embedder, k=2 * self.evidence_k, idf=self.retriever.keyword.idf)
        return with_speakers(evidence, self._article, self.evidence_k)

    def read(self, question: str, evidence: list[Evidence]) -> Iterator[str]:
        """The reader's reply over the numbered evidence sentences ("Belarus [1]" or "NONE"), piece by piece."""
        messages = prompts.read_messages(question, [e.text for e in evidence])
        return self.generator.stream(messages, max_tokens=self.max_tokens, grammar=prompts.READ_GRAMMAR)

    def _article(self, source: str) -> str:
        """The stored text of an article ("" if it is gone), read once per refresh."""
        if source not in self._texts:
            stored = self.store.article(source)
            self._texts[source] = stored.text if stored else ""
        return self._texts[source]
