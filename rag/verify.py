"""Checks after generation: split the reply into claims, tie each to the evidence it cites,
and keep only claims whose content words and numbers the cited evidence really contains."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .evidence import Evidence
from .text import content_terms, found, numbers, question_terms, sentence_spans, weighted_coverage

_MARKER = re.compile(r"\s*\[(\d+(?:\s*,\s*\d+)*)\]")
_REFUSAL = re.compile(
    r"\b(?:articles?|sources?|text|context)\s+(?:do(?:es)?\s*n[o']t|do(?:es)? not)\s+(?:say|mention|state|specify|provide|contain|include)"
    r"|\bnot (?:mentioned|stated|specified|provided|given)\b|\bno information\b|\bcannot (?:answer|determine|be determined)\b"
    r"|\bunknown\b|\bnot (?:possible|able) to (?:answer|determine)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Claim:
    """One sentence of the model's reply and the evidence numbers (1-based) it cites."""

    text: str
    cites: tuple[int, ...]


def is_refusal(text: str) -> bool:
    return bool(_REFUSAL.search(text)) or not text.strip()


def split_claims(reply: str) -> list[Claim]:
    """Sentences of the reply with their [n] markers taken out."""
    claims = []
    for a, b in sentence_spans(reply):
        sentence = reply[a:b]
        cites = tuple(int(n) for m in _MARKER.finditer(sentence) for n in re.split(r"\s*,\s*", m.group(1)))
        text = _MARKER.sub("", sentence).strip()
        if not re.search(r"[^\W_]", text):
            continue  # a stray marker or punctuation on its own; a bare number ("40%") is an answer
        claims.append(Claim(text=text, cites=cites))
    return claims


def support(claim: str, evidence: str, question: str = "") -> float:
    """Share of the claim's new content words (not already in the question) found in the evidence.

    A claim with no new content word, or with a number the evidence lacks, has zero support.
    """
    ev_terms = set(content_terms(evidence))
    q_terms = set(content_terms(question))
    if numbers(claim) - numbers(evidence) - numbers(question):
        return 0.0
    terms = [t for t in content_terms(claim) if t not in q_terms]
    if not terms:
        return 0.0  # it only restates the question: no answer to support
    return sum(found(t, ev_terms) for t in terms) / len(terms)


def coverage(claim: str, evidence: str, question: str, idf=None) -> float:
    """How much of the statement "question + claim" one evidence sentence states, weighted by rarity.

    A claim can be supported word for word by a sentence that is about something else
    ("Iran became a full member" for "which country became the tenth member?"): the rare
    question words ("tenth") missing from that sentence show it. Only the sentence counts, not
    its neighbours: the Iran sentence follows the "tenth member" one in a seed article.
    """
    terms = question_terms(question) | set(content_terms(claim))
    return weighted_coverage(terms, set(content_terms(evidence)), idf)


def best_support(
    claim: Claim, evidence: list[Evidence], question: str, min_support: float = 0.6, idf=None,
) -> tuple[int | None, float]:
    """Among evidence that supports the claim's new words, the one that best states question + claim.

    Returns (1-based evidence number, coverage), or (None, 0.0) when nothing supports the claim.
    """
    best, best_score = None, 0.0
    valid = [n for n in claim.cites if 1 <= n <= len(evidence)]
    for n in valid + [i for i in range(1, len(evidence) + 1) if i not in valid]:
        if support(claim.text, evidence[n - 1].text, question) < min_support:
            continue
        score = coverage(claim.text, evidence[n - 1].text, question, idf)
        if n in valid:
            score += 0.01  # prefer what the model cited when it is as good
        if score > best_score:
            best, best_score = n, score
    return best, min(best_score, 1.0)


def question_coverage(question: str, evidence: str, idf=None) -> float:
    """How much of the question (rare words weigh more; "which country" not counted) the evidence states."""
    return weighted_coverage(question_terms(question), set(content_terms(evidence)), idf)


def check_quote(article_text: str, quote: str, start: int | None = None, end: int | None = None) -> bool:
    """The quote is verbatim in the article (and at the recorded offsets, when given)."""
    if not quote or quote not in article_text:
        return False
    return start is None or end is None or article_text[start:end] == quote
