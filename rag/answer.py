"""The answer stage, as steps: retrieve, select evidence, read, verify, then answer or decline."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterator

from . import prompts
from .conversation import MORE, NEW, SOURCE, WHY, Resolved, Rewriter, RuleRewriter, Turn, names_in
from .embed import CachedEmbedder, Embedder
from .errors import InputError
from .evidence import Evidence, lead_evidence, passage_evidence, select_evidence, with_speakers
from .generate import Generator
from .judge import MIN_JUDGE, Judge
from .library import overview, overview_text
from .retrieve import HybridRetriever, ranked_sources
from .shape import FACT, OPEN, OVERVIEW, shape_of
from .store import ChromaStore
from .text import content_terms, number_values, sentence_spans
from .verify import Check, Citation, OpenVerifier, check_quote, highlights, split_sentences, verify_fact

__all__ = ["Answer", "Citation", "Pipeline", "Sentence", "Token", "check_question"]

MAX_QUESTION_CHARS = 2000


@dataclass(frozen=True)
class Token:
    """A piece of the model's reply as it streams."""

    text: str


@dataclass(frozen=True)
class Sentence:
    """A sentence of an open answer, checked and cited, shown before the rest is checked."""

    text: str
    citations: tuple[Citation, ...]


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
    shape: str = FACT
    note: str = ""  # what was left out of the answer, for the reader
    searched: str = ""  # the question as answered: a follow-up in its standalone form ("" when the same)
    followup: str = NEW  # how the question was read in its conversation (conversation.Resolved.kind)
    closest: tuple[Citation, ...] = ()  # a decline's nearest sentences, shown as such: never an answer
    answers: bool | None = None  # open answers: whether a shown sentence was judged to answer the question

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
            **({"shape": self.shape} if self.shape else {}),  # the plain recipe has no shapes
            "note": self.note,
            "searched": self.searched or self.question,
            "followup": self.followup,
            "checks": [{"answer": c.answer, "cited": c.cited, "sentence": c.sentence,
                        "p_yes": None if c.p_yes is None else round(c.p_yes, 4), "ok": c.ok, "why": c.why,
                        "bridge": c.bridge, "also": c.also}
                       for c in self.checks],
            "answers_question": self.answers,
            "closest": [{"source": c.source, "quote": c.quote, "start": c.start, "end": c.end, "title": c.title}
                        for c in self.closest],
        }


# Words of an overview question that name no topic: "What are these articles about?", "Summarize the news".
_GENERIC_WORDS = set(content_terms("""articles article stories story reports report documents document texts text pieces
    piece coverage news sources source summary summarize summarise overview gist main key points point headline headlines
    give tell describe brief short quick all each every these this them it library collection folder everything
    whole entire subjects topics what"""))


def _name_words(article) -> str:
    """What a question may call an article by: its file name's words and its title."""
    import re

    stem = re.sub(r"\.\w+$", "", article.source)
    return " ".join(re.split(r"[-_.\s]+", stem)) + " " + (article.title or "")


def _stating_sentence(text: str, answer: str, question: str, min_share: float = 0.5) -> tuple[int, int] | None:
    """The span of the sentence of ``text`` that states ``answer`` best: all its numbers and names, and
    ``min_share`` of its words, the question's words breaking ties. None when no sentence does."""
    if not answer:
        return None
    a_numbers, a_names = number_values(answer), {n.lower() for n in names_in(answer)}
    a_terms, q_terms = set(content_terms(answer)), set(content_terms(question))
    best, best_score = None, 0.0
    for a, b in sentence_spans(text):
        sentence = text[a:b]
        low = sentence.lower()
        if not a_numbers <= number_values(sentence) or not all(n in low for n in a_names):
            continue
        terms = set(content_terms(sentence))
        share = len(a_terms & terms) / max(1, len(a_terms))
        score = share + 0.1 * len(q_terms & terms) / max(1, len(q_terms))
        if share >= min_share and score > best_score:
            best, best_score = (a, b), score
    return best


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
        open_k: int = 8, open_max_tokens: int = 200, rewriter: Rewriter | None = None,
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
        self.open_k = open_k
        self.open_max_tokens = open_max_tokens
        self.rewriter = rewriter or RuleRewriter()
        self._texts: dict[str, str] = {}
        self._leads: tuple[str, dict] | None = None  # (store version, lead vectors)

    def refresh(self) -> None:
        """Call after the store changed (ingest, remove)."""
        self.retriever.refresh()
        self._texts.clear()

    def ask(self, question: str, history: list[Turn] = (), sources: frozenset[str] | None = None) -> Answer:
        answer = None
        for event in self.stream(question, history=history, sources=sources):
            if isinstance(event, Answer):
                answer = event
        return answer

    def stream(self, question: str, top_k: int | None = None, history: list[Turn] = (),
               sources: frozenset[str] | None = None) -> Iterator[Token | Sentence | Answer]:
        """Yield ``Token``s while the reader writes, then (open questions) each ``Sentence`` as it is
        checked, then the checked ``Answer``. The steps: resolve the question in its conversation
        (``history``, earlier ``Turn``s), shape, evidence, read, verify, answer or decline.
        ``sources``: the articles chosen to chat with (file names); every step stays within them."""
        question = check_question(question)
        t0 = time.perf_counter()
        resolved = self.rewriter.resolve(question, list(history))
        t_resolve = time.perf_counter() - t0
        if resolved.kind == SOURCE:  # "Which article says that?": the last answer's articles, no reader
            yield self.sources_answer(question, resolved, t0, sources)
            return
        searched = resolved.question
        shape = OPEN if resolved.kind in (WHY, MORE) else shape_of(searched)
        if shape == OVERVIEW and not self.topic_of(searched, sources):  # "What are these articles about?"
            yield self.library_answer(question, resolved, t0, sources)
            return
        hits = self.retriever.search(searched, top_k or self.top_k, sources)
        if resolved.sources:  # "Why?", "Tell me more": the last answer's articles first
            hits = sorted(hits, key=lambda h: h.chunk.source not in resolved.sources)
        t1 = time.perf_counter()
        evidence = self.select(searched, hits, shape, sources)
        t2 = time.perf_counter()
        timings = {"resolve_s": t_resolve, "retrieve_s": t1 - t0 - t_resolve, "evidence_s": t2 - t1, "ttft_s": 0.0,
                   "generate_s": 0.0, "tokens": 0}
        base = dict(question=question, retrieved=tuple(ranked_sources(hits)), evidence=tuple(evidence),
                    model=self.generator.name, shape=shape, searched=searched if resolved.rewritten else "",
                    followup=resolved.kind)
        question = searched  # read and checked as it stands alone
        if not evidence:
            timings.update(total_s=time.perf_counter() - t0, check_s=0.0, checks=0)
            yield Answer(text=prompts.REFUSAL, refused=True, timings=timings,
                         reason="nothing in the index bears on the question", **base)
            return

        # Open answers are checked sentence by sentence while the reader writes: each sentence as soon as
        # the next one begins (the reader's state is set aside meanwhile), so the first is shown early.
        checker = None if shape == FACT else OpenVerifier(question, evidence, self.judge, article=self._article)
        pieces: list[str] = []
        checked: list[str] = []
        for piece in self.read(question, evidence, shape):
            if not pieces:
                timings["ttft_s"] = time.perf_counter() - t2
            pieces.append(piece)
            yield Token(piece)
            if checker is not None:
                written = split_sentences("".join(pieces))[:-1]  # the last may still be growing
                yield from self._check_sentences(checker, written, checked, timings, t0)
        t3 = time.perf_counter()
        checking = checker.check_s if checker is not None else 0.0  # the checks made while the reader wrote
        raw = "".join(pieces).strip()

        if checker is None:
            verdict = verify_fact(question, raw, evidence, self.judge, self.min_judge, self._article, prompts.REFUSAL,
                                  typed=base["question"] if resolved.rewritten else None)
        else:
            yield from self._check_sentences(checker, split_sentences(raw), checked, timings, t0)
            verdict = checker.verdict(prompts.REFUSAL)
        closest = self.closest(question, hits) if verdict.refused else ()
        timings.update(generate_s=t3 - t2 - checking, tokens=len(pieces), verify_s=time.perf_counter() - t3 + checking,
                       check_s=verdict.check_s, checks=verdict.judge_calls, total_s=time.perf_counter() - t0)
        yield Answer(text=verdict.text, refused=verdict.refused, citations=verdict.citations, raw=raw,
                     timings=timings, reason=verdict.reason, checks=verdict.checks, note=verdict.note,
                     closest=closest, answers=verdict.answers, **base)

    @staticmethod
    def _check_sentences(checker: OpenVerifier, sentences: list[str], checked: list[str], timings: dict,
                         t0: float) -> Iterator[Sentence]:
        """Check the ``sentences`` not yet ``checked`` (in order), and yield each that stands."""
        for sentence in sentences[len(checked):]:
            checked.append(sentence)
            checker.check(sentence)
            for step in checker.release():
                timings.setdefault("first_sentence_s", time.perf_counter() - t0)
                yield Sentence(step.text, step.citations)

    def sources_answer(self, question: str, resolved: Resolved, t0: float,
                       sources: frozenset[str] | None = None) -> Answer:
        """"Which article says that?": each article of the last answer, cited with the sentence that
        states it. "Who else reported it?": the other articles in the library with such a sentence."""
        about = resolved.about
        also = resolved.others
        base = dict(question=question, model="", shape=FACT, searched=resolved.question if resolved.rewritten and
                    resolved.question != question else "", followup=SOURCE)
        claim = f"{about.standalone} {about.plain_answer}"
        if also or not about.sources:
            hits = self.retriever.search(claim, self.top_k, sources)
            candidates = [s for s, _ in ranked_sources(hits) if s not in about.sources]
            also = also or not about.question  # a claim of the question's own: every article that states it
        else:
            candidates = [s for s in about.sources if sources is None or s in sources]
        own = not about.question  # a claim of the question's own, a sentence: most of its words must be there
        citations, checked, t_check = [], 0, 0.0
        for source in candidates[:6]:
            text = self._article(source)
            found = _stating_sentence(text, about.plain_answer, about.standalone, min_share=0.75 if own else 0.5)
            if not found:
                continue
            a, b = found
            if self.judge is not None:  # the check model confirms the sentence states it
                t = time.perf_counter()
                p = (self.judge.supports(text[a:b], about.plain_answer) if own else
                     self.judge.p_yes(about.standalone, text[a:b], about.plain_answer))
                t_check += time.perf_counter() - t
                checked += 1
                if p < self.min_judge:
                    continue
            stored = self.store.article(source)
            title = stored.title if stored else ""
            marks = highlights(about.plain_answer, Evidence(source, title, text[a:b], a, b, 0.0))  # what it states, in bold
            citations.append(Citation(len(citations) + 1, source, text[a:b], a, b, title, marks))
        timings = {"total_s": time.perf_counter() - t0, "check_s": t_check, "checks": checked}
        if not citations:
            why = ("no article in the library states it" if own else "no other article in the library states it" if also
                   else "its articles no longer state it")
            text = "No article in the library says that." if own else "No other article in the library says it." \
                if also else prompts.REFUSAL
            return Answer(text=text, refused=True, timings=timings, reason=why, **base)
        names = "; ".join(f"{('“' + c.title + '” ') if c.title else ''}({c.source}) [{c.n}]" for c in citations)
        return Answer(text=f"{names}.", refused=False, citations=tuple(citations), timings=timings,
                      reason="the articles that state the last answer", **base)

    def select(self, question: str, hits, shape: str = FACT, sources: frozenset[str] | None = None) -> list[Evidence]:
        """The sentences the reader is shown, quotes widened to name their speaker: for a fact question
        the best ``evidence_k``; for an open one the sentences of the best passages of several articles;
        for an overview the articles' leading sentences (``open_k``)."""
        if shape == FACT:
            evidence = select_evidence(question, hits, self.embedder, k=2 * self.evidence_k, idf=self.retriever.keyword.idf)
            return with_speakers(evidence, self._article, self.evidence_k)
        if shape == OVERVIEW:
            return lead_evidence(self.overview_articles(question, hits, sources=sources), k=self.open_k)
        return passage_evidence(hits)

    def closest(self, question: str, hits, most: int = 2) -> tuple[Citation, ...]:
        """A decline's nearest sentences: the ``most`` that bear most on the question (the fact path's
        sentence scores, whatever the question's shape) and share a content word with it, each still
        verbatim in its stored article. They are shown as what the search found, not as an answer:
        nothing says they answer the question."""
        asked = set(content_terms(question))
        out: list[Citation] = []
        for e in select_evidence(question, hits, self.embedder, k=3 * most, idf=self.retriever.keyword.idf):
            if len(out) == most:
                break
            overlaps = any(c.source == e.source and e.start < c.end and c.start < e.end for c in out)
            if (not overlaps and asked & set(content_terms(e.text))
                    and check_quote(self._article(e.source), e.text, e.start, e.end)):
                out.append(Citation(len(out) + 1, e.source, e.text, e.start, e.end, e.title))
        return tuple(out)

    def _library(self, sources: frozenset[str] | None = None) -> dict:
        """The articles chatted with, with their text: the chosen ``sources``, else all."""
        return {a.source: a for a in self.store.articles(with_text=True) if sources is None or a.source in sources}

    @staticmethod
    def _named(question: str, articles: dict):
        """The one article the question names by its file name or title (two words or more), or None."""
        q_words = set(content_terms(question))
        named = [(len(q_words & set(content_terms(_name_words(a)))), s) for s, a in articles.items()]
        best = max((n for n, _ in named), default=0)
        if best >= 2 and sum(n == best for n, _ in named) == 1:
            return articles[next(s for n, s in named if n == best)]
        return None

    def topic_of(self, question: str, sources: frozenset[str] | None = None) -> bool:
        """Whether an overview question is about something (a topic, or one article it names) rather
        than the whole library ("What are these articles about?", "Summarize the library")."""
        if set(content_terms(question)) - _GENERIC_WORDS:
            return True
        named = {a.source: a for a in self.store.articles() if sources is None or a.source in sources}  # no text needed
        return self._named(question, named) is not None

    def library_answer(self, question: str, resolved: Resolved, t0: float,
                       sources: frozenset[str] | None = None) -> Answer:
        """What the whole library (or the chosen articles) is about: every article, grouped by event,
        the biggest groups first, each line cited with its group's lead sentence. No reader: the lead
        sentences are the articles' own summaries, and a library of any size is covered."""
        articles = self._library(sources)
        ov = overview(list(articles.values()), self._lead_vectors())
        base = dict(question=question, model="", shape=OVERVIEW, followup=resolved.kind,
                    searched=resolved.question if resolved.rewritten else "")
        timings = {"total_s": time.perf_counter() - t0, "check_s": 0.0, "checks": 0}
        if not ov.lines:
            return Answer(text=prompts.REFUSAL, refused=True, timings=timings, reason="the library has no articles"
                          if not articles else "no article has a sentence to quote", **base)
        leads = [lead for line in ov.lines for lead in line.leads]
        citations = tuple(Citation(n, article.source, article.text[a:b], a, b, article.title)
                          for n, (article, a, b) in enumerate(leads, 1))
        retrieved = tuple((a.source, 1.0) for line in ov.lines for a in line.group.articles)
        return Answer(text=overview_text(ov), refused=False, citations=citations, retrieved=retrieved,
                      timings=timings, reason="an overview of the library, grouped by event", **base)

    def _lead_vectors(self) -> dict:
        """Every article's lead vector (``ChromaStore.lead_vectors``), read again when the store changed."""
        version = self.store.version()
        if self._leads is None or self._leads[0] != version:
            self._leads = (version, self.store.lead_vectors())
        return self._leads[1]

    def overview_articles(self, question: str, hits, most: int = 4, sources: frozenset[str] | None = None) -> list:
        """The articles an overview is about: the one the question names (by its file name or title),
        else those the search found, best first; all of them (up to ``most``) when the question names
        no topic."""
        articles = self._library(sources)
        one = self._named(question, articles)
        if one is not None:
            return [one]
        q_words = set(content_terms(question))
        topic = q_words - _GENERIC_WORDS
        ranked = [s for s, _ in ranked_sources(hits)] if topic else []
        ranked += [s for s in articles if s not in ranked]
        return [articles[s] for s in ranked if s in articles][:most]

    def read(self, question: str, evidence: list[Evidence], shape: str = FACT) -> Iterator[str]:
        """The reader's reply over the numbered evidence: "Belarus [1]" or "NONE" for a fact question,
        a few sentences for an open one, piece by piece."""
        if shape == FACT:
            messages = prompts.read_messages(question, [e.text for e in evidence])
            return self.generator.stream(messages, max_tokens=self.max_tokens, grammar=prompts.READ_GRAMMAR)
        messages = prompts.open_messages(question, [(e.title, e.text) for e in evidence])
        return self.generator.stream(messages, max_tokens=self.open_max_tokens, grammar=prompts.OPEN_GRAMMAR)

    def _article(self, source: str) -> str:
        """The stored text of an article ("" if it is gone), read once per refresh."""
        if source not in self._texts:
            stored = self.store.article(source)
            self._texts[source] = stored.text if stored else ""
        return self._texts[source]
