"""Verification: the whole acceptance policy, behind ``verify``.

The reader's reply ("Belarus [1]", "Helga Brandt [2]; 212 [3]" or "NONE") comes in; a ``Verdict``
comes out: the parts of the answer that stand, each tied to the one evidence sentence that states
it, or a decline with the reason. A part stands when

1. it is of the kind asked for (a number for "how many", a time for "when"), and not the evidence
   sentence handed back;
2. it is grounded in the sentence it cites: every number, date and name in it is in that sentence
   (numbers exactly), and most of its other words are too. When the cited sentence fails, another
   evidence sentence that passes is cited instead: the claim must be stated, the reader's number is
   only a hint;
3. the check model (when there is one) says that sentence answers the question; when it doubts a
   one-part answer, it is asked again with the sentence that links the cited one to the question
   (``bridge``: "'X,' said Brun" beside "Brun, 52" for "How old is the director who said 'X'?"),
   and both are cited;
4. the sentence is still, verbatim, in its article.

Nothing here was tuned on particular articles: the rules are about what a citation must show.
The one threshold, the check model's P(Yes), is calibrated on the dev events (``judge.MIN_JUDGE``).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Callable

from .evidence import Evidence
from .text import (
    CALENDAR, NUMBER_WORDS, SHARE, STOPWORDS, TOKEN, asked_kinds, content_terms, ends_in_abbreviation, found, number_values,
    question_numbers, question_terms, states_time, stem,
)

NONE_REPLY = "NONE"
_PART = re.compile(r"^(.*?)\s*\[(\d+)\]\s*$", re.DOTALL)
_MARKERS = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")
_REFUSAL = re.compile(
    r"\b(?:articles?|sources?|text|context)\s+(?:do(?:es)?\s*n[o']t|do(?:es)? not)\s+(?:say|mention|state|specify|provide|contain|include)"
    r"|\bnot (?:mentioned|stated|specified|provided|given)\b|\bno information\b|\bcannot (?:answer|determine|be determined)\b"
    r"|\bunknown\b|\bnot (?:possible|able) to (?:answer|determine)\b|^\s*none\.?\s*$",
    re.IGNORECASE,
)
MIN_GROUNDING = 0.5  # share of the answer's other content words the sentence must hold
MAX_ANSWER_WORDS = 25  # a longer "answer" is a passage, not an answer
MAX_PARTS = 3  # "What three instruments ...?" is answered item by item, each item cited
MIN_BRIDGE = 2  # question words another sentence must hold, that the cited one lacks, to be shown with it


@dataclass(frozen=True)
class Citation:
    """Marker ``[n]`` in an answer: an exact quote from the article ``source``, at ``start:end``;
    ``highlights`` are the article offsets, inside the quote, of the words that carry the answer."""

    n: int
    source: str
    quote: str
    start: int
    end: int
    title: str = ""
    highlights: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Part:
    """One answer in the reader's reply and the evidence number (1-based) it cites; 0 for none."""

    text: str
    cites: int


@dataclass(frozen=True)
class Check:
    """What verification found for one part: the sentence it settled on, the check model's P(Yes), why not."""

    answer: str
    cited: int
    sentence: int = 0
    p_yes: float | None = None
    ok: bool = False
    why: str = ""
    bridge: int = 0  # the sentence the check also needed: the one saying who or what the question describes


@dataclass(frozen=True)
class Verdict:
    """The answer text with ``[n]`` markers and its citations, or a decline; ``reason`` says why."""

    text: str
    citations: tuple[Citation, ...]
    refused: bool
    reason: str
    checks: tuple[Check, ...] = ()
    check_s: float = 0.0
    judge_calls: int = 0


def is_refusal(text: str) -> bool:
    return bool(_REFUSAL.search(text)) or not text.strip()


def parse_reply(reply: str) -> list[Part]:
    """The parts of a reply ``ANSWER [n]; ANSWER [n]``; [] when the reader declined.

    The grammar makes in-process replies take this shape; a server's free text is read leniently:
    sentences or ``;``-separated pieces, each with its last marker (0 when it has none).
    """
    reply = reply.strip()
    if not reply or is_refusal(reply):
        return []
    pieces: list[str] = []
    for piece in re.split(r";\s*|(?<=[.!?\]])\s+(?=[A-Z])", reply):
        if pieces and ends_in_abbreviation(pieces[-1]):
            pieces[-1] += " " + piece  # "Dr. Sunniva Halden [1]" is one answer, not "Dr" and "Sunniva Halden"
        else:
            pieces.append(piece)
    pieces = [p for p in pieces if p and p.strip(" .")]
    parts, seen = [], set()
    for piece in pieces:
        piece = piece.strip().rstrip(".").strip()
        m = _PART.match(piece)
        if m:
            text, n = m.group(1), int(m.group(2))
        else:
            markers = re.findall(r"\[(\d+)", piece)
            text, n = piece, int(markers[-1]) if markers else 0
        text = _MARKERS.sub("", text).strip(" .,;:\"“”'")
        key = " ".join(words_of(text))
        if text and re.search(r"[^\W_]", text) and not is_refusal(text) and key not in seen:
            seen.add(key)  # "Putin [1]; Putin [2]" is one answer: verification tries the other sentences itself
            parts.append(Part(text, n))
    return parts[:MAX_PARTS]


def names(text: str) -> set[str]:
    """Lower-cased capitalised words that are not function words: names, places, months."""
    out = set()
    for token in TOKEN.findall(text):
        if token[:1].isupper() and token.lower() not in STOPWORDS:
            out.add(re.sub(r"['’]s$", "", token.lower()))
    return out


_SPAN = re.compile(r"^\W*(?:about |around |some |nearly |almost |over |more than |less than |up to )?[\d,.]+"
                   r"|^\W*(?:a|an|one|two|three|four|five|six|seven|eight|nine|ten|several|a few)\b", re.IGNORECASE)
_SPAN_UNITS = re.compile(r"\b(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?)\W*$", re.IGNORECASE)


def answer_type_gap(question: str, answer: str) -> str:
    """Why the answer is not of the kind the question asks for ("" when it is): a quantity question
    ("how many ...?", "what percentage ...?") wants a number, and a count ("how many votes?") not a
    share ("41.2%") unless the question speaks of shares; a "when" question wants a number or a time,
    and "on what date?" a day, not a length of time ("28 days")."""
    kinds = asked_kinds(question)
    if "number" in kinds and not number_values(answer):
        return "the question asks for a number and the answer has none"
    if "count" in kinds and "share" not in kinds and SHARE.search(answer):
        return "the question asks how many and the answer is a share"
    if "time" in kinds and not states_time(answer):
        return "the question asks when and the answer gives no time"
    if "date" in kinds and _SPAN.search(answer) and _SPAN_UNITS.search(answer) and not CALENDAR.search(answer):
        return "the question asks for a date and the answer is a length of time"
    return ""


def handed_back(answer: str, sentence: str) -> bool:
    """The answer is (nearly all of) the sentence word for word: evidence handed back, not an answer."""
    got, whole = words_of(answer), words_of(sentence)
    return len(got) >= 0.8 * len(whole) and " ".join(got) in " ".join(whole)


def words_of(text: str) -> list[str]:
    return [w.lower() for w in TOKEN.findall(text)]


def grounding_gap(answer: str, sentence: str, question: str) -> str:
    """Why ``sentence`` does not state ``answer`` ("" when it does): a number, date or name of the
    answer missing from it (unless the question gave it), or too few of the answer's other words."""
    s_numbers, q_numbers = number_values(sentence), question_numbers(question)
    missing = sorted(number_values(answer) - s_numbers - q_numbers)
    if missing:
        return f"the number {missing[0]} is not in the sentence"
    s_words = {re.sub(r"['’]s$", "", w.lower()) for w in TOKEN.findall(sentence)}
    s_terms = set(content_terms(sentence))
    q_terms = set(content_terms(question)) | {w.lower() for w in TOKEN.findall(question)}
    for name in sorted(names(answer)):
        if name not in s_words and stem(name) not in s_terms and name not in q_terms and not name[:1].isdigit():
            if name not in NUMBER_WORDS:
                return f"“{name}” is not in the sentence"
    new = [t for t in content_terms(answer) if t not in q_terms and not t[:1].isdigit() and t not in NUMBER_WORDS]
    if not new:
        if (number_values(answer) - q_numbers) or (names(answer) - q_terms):
            return ""
        return "the answer only restates the question"
    # The answer's own numbers are content too, and each one was found in the sentence above: "142 meters"
    # against "142 metres" is half grounded by its number, not ungrounded for a spelling.
    own_numbers = len(number_values(answer) - q_numbers)
    share = (sum(found(t, s_terms) for t in new) + own_numbers) / (len(new) + own_numbers)
    return "" if share >= MIN_GROUNDING else "most of the answer's words are not in the sentence"


def bridge(question: str, answer: str, evidence: list[Evidence], n: int) -> int:
    """The evidence sentence (1-based; 0 for none) that says what the cited sentence ``n`` leaves out of
    the question. "How old is the director who said 'X'?" is answered by "Y, 52, ..." only together with
    "'X,' said Y": the check must see both to judge it. The sentence must name someone or something
    that sentence ``n`` names and the question does not (the link, Y), and hold at least ``MIN_BRIDGE``
    of the question's words that neither sentence ``n`` nor the answer holds."""
    cited = evidence[n - 1].text
    have = set(content_terms(cited)) | set(content_terms(answer))
    missing = [t for t in sorted(question_terms(question)) if not found(t, have)]
    link = names(cited) - names(question) - {w.lower() for w in TOKEN.findall(question)}
    best, most = 0, MIN_BRIDGE - 1
    for m, e in enumerate(evidence, 1):
        if m != n and names(e.text) & link:  # it speaks of someone or something the cited sentence names
            terms = set(content_terms(e.text))
            hits = sum(found(t, terms) for t in missing)
            if hits > most:
                best, most = m, hits
    return best


def highlights(answer: str, e: Evidence, question: str = "") -> tuple[tuple[int, int], ...]:
    """Article offsets of the sentence's words that carry the answer (those the question does not
    already say, when there are any), adjacent ones merged."""
    a_terms, a_numbers = set(content_terms(answer)) | names(answer), number_values(answer)
    new_terms = a_terms - set(content_terms(question)) - {w.lower() for w in TOKEN.findall(question)}
    new_numbers = a_numbers - question_numbers(question)
    if new_terms or new_numbers:
        a_terms, a_numbers = new_terms, new_numbers
    spans: list[list[int]] = []
    for m in TOKEN.finditer(e.text):
        word = m.group(0)
        low = re.sub(r"['’]s$", "", word.lower())
        hit = (low not in STOPWORDS and (stem(low) in a_terms or low in a_terms)) or bool(number_values(word) & a_numbers)
        if not hit:
            continue
        a, b = e.start + m.start(), e.start + m.end()
        if spans and re.fullmatch(r"[\s,'’-]*(?:(?:of|the|and|de|van|von|al)\s+)?", e.text[spans[-1][1] - e.start:m.start()]):
            spans[-1][1] = b
        else:
            spans.append([a, b])
    return tuple((a, b) for a, b in spans)


def verify(
    question: str, reply: str, evidence: list[Evidence], judge=None, min_judge: float = 0.5,
    article: Callable[[str], str] = lambda source: "", refusal: str = "The articles don't say.",
) -> Verdict:
    """Keep the parts of the reply that are grounded, judged to answer the question and verbatim; cite
    each with its sentence. Declines (with the reason) when nothing stands."""
    parts = parse_reply(reply)
    if not parts:
        return Verdict(refusal, (), True, "the reader found no answer in the sources")
    judged: dict[tuple[int, str, str], float] = {}
    clock = [0.0, 0]

    def p_yes(n: int, answer: str, shown: str = "") -> float | None:
        if judge is None:
            return None
        if (n, answer, shown) not in judged:
            t = time.perf_counter()
            judged[n, answer, shown] = judge.p_yes(question, shown or evidence[n - 1].text, answer)
            clock[0] += time.perf_counter() - t
            clock[1] += 1
        return judged[n, answer, shown]

    checks: list[Check] = []
    for part in parts:
        if len(part.text.split()) > MAX_ANSWER_WORDS or any(handed_back(part.text, e.text) for e in evidence):
            checks.append(Check(part.text, part.cites, why="the answer is the sentence itself, not a short answer"))
            continue
        two_things = len(parts) >= 2 and re.search(r"\band\b", question)  # "X, and Y?" may mix kinds
        if not two_things and answer_type_gap(question, part.text):
            checks.append(Check(part.text, part.cites, why=answer_type_gap(question, part.text)))
            continue
        order = ([part.cites] if 1 <= part.cites <= len(evidence) else []) + \
                [n for n in range(1, len(evidence) + 1) if n != part.cites]
        grounded = [n for n in order if not grounding_gap(part.text, evidence[n - 1].text, question)]
        if not grounded:
            cited = part.cites if 1 <= part.cites <= len(evidence) else 1
            why = grounding_gap(part.text, evidence[cited - 1].text, question)
            checks.append(Check(part.text, part.cites, why=f"not stated in the sources: {why}"))
            continue
        check = None
        for n in grounded[:2]:  # the cited (or first grounded) sentence, then one more
            score = p_yes(n, part.text)
            e = evidence[n - 1]
            # A one-part answer to a question that describes its subject ("the director who said X") may need
            # the sentence that says who that is. Not for two-part answers: there, the other sentences state
            # the other part, and shown with a wrong answer they made the check say Yes to it (dev events).
            b = bridge(question, part.text, evidence, n) if len(parts) == 1 and score is not None and score < min_judge else 0
            if b:
                score = p_yes(n, part.text, f"{evidence[b - 1].text} {e.text}")
            if score is not None and score < min_judge:
                check = check or Check(part.text, part.cites, n, score,
                                       why=f"the check model doubts the sentence answers the question (P(Yes) {score:.2f})")
                continue
            if any(article(q.source)[q.start:q.end] != q.text for q in [e] + ([evidence[b - 1]] if b else [])):
                check = check or Check(part.text, part.cites, n, score, why="the quote is no longer in its article")
                continue
            check = Check(part.text, part.cites, n, score, ok=True, bridge=b)
            break
        checks.append(check)

    kept = [c for c in checks if c.ok]
    if not kept:
        return Verdict(refusal, (), True, "; ".join(f"“{c.answer}”: {c.why}" for c in checks),
                       tuple(checks), clock[0], clock[1])
    numbering: dict[int, int] = {}
    citations, pieces = [], []
    for c in kept:
        e = evidence[c.sentence - 1]
        shown = [(c.sentence, highlights(c.answer, e, question))]
        if c.bridge:  # cited too, with the words that link it to the answer's sentence marked
            b = evidence[c.bridge - 1]
            shown.append((c.bridge, highlights(" ".join(names(b.text) & names(e.text)), b, question)))
        for k, marks in shown:
            if k not in numbering:
                numbering[k] = len(numbering) + 1
                q = evidence[k - 1]
                citations.append(Citation(numbering[k], q.source, q.text, q.start, q.end, q.title, marks))
        pieces.append(c.answer + " " + "".join(f"[{numbering[k]}]" for k, _ in shown))
    dropped = [c for c in checks if not c.ok]
    reason = "verified" + ("; dropped " + "; ".join(f"“{c.answer}”: {c.why}" for c in dropped) if dropped else "")
    return Verdict("; ".join(pieces) + ".", tuple(citations), False, reason, tuple(checks), clock[0], clock[1])


def check_quote(article_text: str, quote: str, start: int | None = None, end: int | None = None) -> bool:
    """The quote is verbatim in the article (and at the recorded offsets, when given)."""
    if not quote or quote not in article_text:
        return False
    return start is None or end is None or article_text[start:end] == quote
