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
from typing import Callable, Iterator

from .evidence import Evidence
from .text import (
    CALENDAR, NUMBER_WORDS, SHARE, STOPWORDS, TOKEN, asked_kinds, content_terms, ends_in_abbreviation, found, number_values,
    question_numbers, question_terms, stated_numbers, states_time, stem,
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
    also: int = 0  # open answers: a second evidence sentence the claim needed besides ``sentence``


@dataclass(frozen=True)
class Verdict:
    """The answer text with ``[n]`` markers and its citations, or a decline; ``reason`` says why;
    ``note`` tells the reader what was left out of it."""

    text: str
    citations: tuple[Citation, ...]
    refused: bool
    reason: str
    checks: tuple[Check, ...] = ()
    check_s: float = 0.0
    judge_calls: int = 0
    note: str = ""
    answers: bool | None = None  # open answers: whether a shown sentence was judged to answer the question


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


# "Which city ...?", "In what country ...?": a place, named. ("Where ...?" may be answered "at the old pier".)
_PLACE_Q = re.compile(r"^\W*(?:(?:in|at|from|to|near)\s+)?(?:which|what)\s+(?:\w+\s+)?(?:city|cities|town|village|"
                      r"country|countries|state|province|region|county|capital|port|island|district|neighbou?rhood|"
                      r"venue|stadium)\b", re.IGNORECASE)
_NATION_Q = re.compile(r"\b(?:country|countries|state|nation)\b", re.IGNORECASE)
_WHO_Q = re.compile(r"^\W*(?:and\s+)?(?:who|whom)\b", re.IGNORECASE)
_AT_PLACE = r"\b(?:in|at|from|near|to|into|outside|across|of)\s+(?:the\s+)?"


def answer_kind_gap(question: str, answer: str, text: str = "") -> str:
    """Why the answer is not of the kind the question names ("" when it is): "which city / country /
    village?" wants a place, named, that ``text`` (the cited article) speaks of as a place (after "in", "at",
    "from" ...); "who?" wants a person or an organisation, not a bare number or date."""
    if _PLACE_Q.search(question):
        from .conversation import names_in

        answer_names = names_in(answer)
        if not answer_names:
            return "the question asks for a place and the answer names none"
        # a city or a village is written as a place ("in Astana"); a country is often an actor ("Belarus joined")
        if text and not _NATION_Q.search(question) and \
                not any(re.search(_AT_PLACE + re.escape(n.split()[0]), text) for n in answer_names):
            return "the question asks for a place and the article never speaks of the answer as one"
    if _WHO_Q.search(question) and not re.search(r"[^\W\d]{2,}", re.sub(r"\b(?:" + "|".join(
            ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
             "november", "december", "million", "billion", "per", "cent", "percent")) + r")\b", "", answer, flags=re.I)):
        return "the question asks who and the answer is a number or a date"
    return ""


def subject_gap(question: str, answer: str, quote_start: int, text: str, title: str = "",
                before: int = 3, after: int = 1, typed: str | None = None) -> str:
    """Why the cited sentence is not about the question's subject ("" when it may be): the question names
    someone or something (beyond the answer), and neither the cited sentence nor the ``before`` sentences
    before it and ``after`` after it, nor the title, name it by any word of its name or by its initials.
    ``typed``: the question as the user typed it, when ``question`` is its rewrite in a conversation: then
    only the names the rewrite put in are asked about (what "it" or "And X?" was taken to mean)."""
    from .conversation import names_in
    from .text import sentence_spans

    asked = [n for n in names_in(question) if n.lower() not in answer.lower()]
    if typed is not None:
        asked = [n for n in asked if n.lower() not in typed.lower()]
    if not asked or not text:
        return ""
    spans = list(sentence_spans(text))
    k = next((i for i, (a, b) in enumerate(spans) if a <= quote_start < b), None)
    if k is None:
        return ""
    a, b = spans[max(0, k - before)][0], spans[min(len(spans) - 1, k + after)][1]
    window = (title + " " + text[a:b]).lower()
    for name in asked:
        words = [w for w in re.findall(r"[\w’'-]+", name) if len(w) >= 3 and w.lower() not in _COMMON_NAME_WORDS]
        initials = "".join(w[0] for w in name.split() if w[:1].isupper())
        alias = [w.lower() for w in words] + ([initials.lower()] if len(initials) >= 2 else [])
        if any(re.search(rf"\b{re.escape(w)}", window) for w in alias):
            return ""
    return f"the cited passage never names {', '.join(asked[:2])}"


_COMMON_NAME_WORDS = frozenset("the and for new national international south north east west united republic city state "
                               "party union council court ministry department agency company group office".split())


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
        if (number_values(answer) - q_numbers) or (names(answer) - q_terms) or picks_one(question, answer):
            return ""
        return "the answer only restates the question"
    # The answer's own numbers are content too, and each one was found in the sentence above: "142 meters"
    # against "142 metres" is half grounded by its number, not ungrounded for a spelling.
    own_numbers = len(number_values(answer) - q_numbers)
    share = (sum(found(t, s_terms) for t in new) + own_numbers) / (len(new) + own_numbers)
    return "" if share >= MIN_GROUNDING else "most of the answer's words are not in the sentence"


_CHOICE = re.compile(r"\b(?:between|or|versus|vs)\b", re.IGNORECASE)


def picks_one(question: str, answer: str) -> bool:
    """The question offers a choice ("Who won the game between the Sixers and the Celtics?", "Did X or Y ...?")
    and the answer names some of its names, not all: it chooses, it does not restate."""
    offered, chosen = names(question), names(answer)
    return bool(_CHOICE.search(question)) and bool(chosen) and chosen < offered


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


# ---- the "which one?" check: does the answer belong to what was asked? ---------------------------
#
# "Who scored for England?" answered with Spain's scorer passes every check above: the name is in the
# sentence, it is a name, and a 1.5B model asked "does the sentence state this answer?" says Yes. The
# idea: show the check model the rivals the evidence offers (the other names for a name, the other
# numbers for a number) and let it choose. Measured on the dev events with the packaged 1.5B model
# (evals/experiments/sweep_choice.py, evals/experiments/results/choice-sweep/): it caught no wrong answer that it did not pay
# for with a right one, so ``verify`` does not use it; it stays here, measured, for a stronger check
# model. ``CHOICE_MARGIN``: how much more likely a rival must be chosen than the answer for it to fall.
CHOICE_MARGIN = 0.3
MAX_RIVALS = 3
_AMOUNT = re.compile(r"(?:[$€£]\s?)?(?:\d[\d,.]*\d|\d)(?:st|nd|rd|th)?(?:\s?%|\s(?:per cent|million|billion|bn)\b)?")
_YEAR = re.compile(r"^(?:1[89]|20)\d\d$")


def rivals(question: str, answer: str, texts: list[str], others: list[str] = ()) -> list[str]:
    """Other answers of the answer's kind that ``texts`` offer, in order, at most ``MAX_RIVALS``: the
    other amounts for a number, the other names for a name; none that the question, the answer or the
    reply's ``others`` parts (answers to the other parts of a two-part question) hold."""
    from .conversation import names_in

    out: list[str] = []
    if number_values(answer):
        have = number_values(answer) | question_numbers(question) | {v for o in others for v in number_values(o)}
        for text in texts:
            for m in _AMOUNT.finditer(text):
                value = number_values(m.group(0))
                if value and not value & have and not (_YEAR.match(m.group(0)) and not _YEAR.search(answer)):
                    if m.group(0) not in out:
                        out.append(m.group(0).strip())
    elif names_in(answer):
        taken = {w.lower() for t in (answer, question, *others) for w in TOKEN.findall(t)}
        for text in texts:
            for name in names_in(text):
                words = {w.lower() for w in TOKEN.findall(name)}
                if words and not words & taken and name not in out and not CALENDAR.search(name):
                    out.append(name)
    return out[:MAX_RIVALS]


def choose_check(question: str, answer: str, texts: list[str], judge, margin: float | None = None,
                 others: list[str] = ()) -> tuple[str, float]:
    """(the rival the check model chose over ``answer``, or "" when it keeps the answer; the seconds
    it took). Asked only when the evidence offers rivals and the judge can choose. ``margin``: by
    default ``CHOICE_MARGIN``."""
    margin = CHOICE_MARGIN if margin is None else margin
    options = rivals(question, answer, texts, others)
    choose = getattr(judge, "choose", None)
    if not options or choose is None:
        return "", 0.0
    t = time.perf_counter()
    joined = " ".join(texts)
    order = sorted([answer] + options, key=lambda o: (joined.find(o) if o in joined else -1))
    probs = choose(question, joined, order)
    took = time.perf_counter() - t
    if not probs:
        return "", took
    mine = probs[order.index(answer)]
    best = max(range(len(order)), key=lambda i: probs[i])
    return (order[best], took) if order[best] != answer and probs[best] - mine >= margin else ("", took)


def verify(
    question: str, reply: str, evidence: list[Evidence], judge=None, min_judge: float = 0.5,
    article: Callable[[str], str] = lambda source: "", refusal: str = "The articles don't say.",
    shape: str = "fact",
) -> Verdict:
    """The acceptance policy of each shape of answer (``shape.py``): a fact answer's parts
    (``verify_fact``), an open answer's sentences (``OpenVerifier``)."""
    for event in verify_steps(question, reply, evidence, judge, min_judge, article, refusal, shape):
        if isinstance(event, Verdict):
            return event


@dataclass(frozen=True)
class Accepted:
    """One sentence of an open answer that stands, as shown (with its ``[n]``), and the citations it
    adds; yielded as soon as it is checked, before the rest of the answer is."""

    text: str
    citations: tuple[Citation, ...]


def verify_steps(
    question: str, reply: str, evidence: list[Evidence], judge=None, min_judge: float = 0.5,
    article: Callable[[str], str] = lambda source: "", refusal: str = "The articles don't say.",
    shape: str = "fact",
) -> Iterator["Accepted | Verdict"]:
    """``verify`` step by step: each open sentence that stands (``Accepted``), then the ``Verdict``."""
    if shape == "fact":
        yield verify_fact(question, reply, evidence, judge, min_judge, article, refusal)
        return
    checker = OpenVerifier(question, evidence, judge, article=article)
    for sentence in split_sentences(reply):
        checker.check(sentence)
        yield from checker.release()
    yield checker.verdict(refusal)


def verify_fact(
    question: str, reply: str, evidence: list[Evidence], judge=None, min_judge: float = 0.5,
    article: Callable[[str], str] = lambda source: "", refusal: str = "The articles don't say.",
    typed: str | None = None,
) -> Verdict:
    """Keep the parts of the reply that are grounded, of the kind asked, about the subject asked, judged
    to answer the question and verbatim; cite each with its sentence. Declines (with the reason) when
    nothing stands. ``typed``: the question as typed, when ``question`` is its rewrite in a conversation."""
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
            e = evidence[n - 1]
            # Of the kind asked ("which city": a place the article speaks of as one) and, for a follow-up, about
            # what the rewrite took the question to mean: measured on dev answers first (evals/answer_rules.py).
            off = (answer_kind_gap(question, part.text, article(e.source)) if not two_things else "") or \
                (subject_gap(question, part.text, e.start, article(e.source), e.title, typed=typed) if typed else "")
            if off:
                check = check or Check(part.text, part.cites, n, why=off)
                continue
            score = p_yes(n, part.text)
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


# ---- open answers: sentence by sentence -------------------------------------------------------------

MAX_OPEN_SENTENCES = 5
MIN_CLAIM_WORDS = 4  # a shorter "sentence" is a fragment, not a claim
REPEATED = "it repeats an earlier sentence of the reply"
# Share of a claim's content words its cited sentences must hold: lower than a short answer's MIN_GROUNDING,
# as the open reader writes in its own words. Corpus dev open questions (evals/experiments/results/open-sweep/): 0.4
# kept point recall 0.361 against 0.330 at 0.5, with the same sentence support (1.0) and declines.
MIN_OPEN_GROUNDING = 0.4
# The check model's P(Yes) that the cited sentences state a sentence of an open answer, chosen as a classifier
# on the hand-labelled sentences of evals/labels/ (`evals/check_replay.py replay`: 101 frozen dev replies of
# both corpora, no answer-level veto). Supported kept / unsupported dropped / share of shown labelled
# sentences unsupported / point recall / answerable declined: 0.5 0.923 / 0.405 / 0.251 / 0.372 / 9 of 88;
# 0.6 0.887 / 0.432 / 0.250 / 0.361 / 11; 0.7 0.824 / 0.527 / 0.230 / 0.328 / 12; 0.75 0.796 / 0.581 /
# 0.215 / 0.284 / 16. The checks it replaces (veto, 0.5) measured 0.789 / 0.541 / 0.233. The 1.5B check
# model tells true from false sentences poorly (AUC 0.77), so a higher threshold buys little precision
# for many true sentences; 0.7 keeps more true ones than the old checks with no more false ones shown.
MIN_SUPPORT = 0.7
# The check model's P(Yes) that a shown sentence's quotes answer the question, below which (for each of the
# first two shown) the answer says so instead of being declined: true sentences about something else answer
# a near miss's false premise with what the articles do say, and the reader is told they may not answer the
# question as asked. The veto this replaces declined at 0.45 (corpus dev: 3 of 4 near misses, and 0.31 of
# the answerable questions); as a note, it throws nothing away.
MIN_RELEVANCE = 0.45
DOUBT = "These sentences may not answer the question as asked: the articles may not say what it assumes."
_END = re.compile(r"[.!?…][\"”’')\]]*$")
_CONNECTIVE = re.compile(r"^(?:However|But|Also|Additionally|Moreover|Furthermore|In addition|Meanwhile|Still|Yet|And)"
                         r"\b,?\s+")


_SENTENCE_END = re.compile(r"[.!?…][\"”’')]*((?:\s*\[\d+(?:\s*,\s*\d+)*\])*)\.?(?=\s+[A-Z0-9\"“‘'(]|\s*$)")


def split_sentences(reply: str) -> list[str]:
    """The reply's sentences, each with its own ``[n]`` markers (a marker after the full stop goes with
    the sentence before it); list items and lines read as sentences. At most ``MAX_OPEN_SENTENCES``."""
    out = []
    for line in reply.splitlines():
        line = re.sub(r"^\s*(?:[-*•]|\d+[.)])\s+", "", line).strip()  # "- point" / "1. point"
        pos = 0
        for m in _SENTENCE_END.finditer(line):
            if not m.group(1) and ends_in_abbreviation(line[pos:m.start() + 1]):
                continue  # "Dr." or "p.m." goes on
            out.append(line[pos:m.end()].strip())
            pos = m.end()
        out.append(line[pos:].strip())
    out = [" ".join(p.split()) for p in out if p.strip() and not is_refusal(p)]
    return out[:MAX_OPEN_SENTENCES]


def claim_names(claim: str) -> set[str]:
    """``names`` of a claim, less its first word: a sentence's first word is capitalised whatever it is
    ("Meanwhile", "Officials"), and a name there is nearly always named again or in the evidence."""
    first = TOKEN.search(claim)
    rest = claim[first.end():] if first else claim
    return names(rest)


@dataclass(frozen=True)
class Known:
    """What a claim may take as given rather than from its cited sentences: the numbers and names of the
    question and of the cited articles' titles that those articles hold somewhere ("Why did the Sixers beat
    the Celtics in November 2023?" answered "The Sixers beat the Celtics ... in November 2023 because ..."
    is not ungrounded for a month the one cited sentence lacks, when the article is dated in it)."""

    numbers: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()


# A claim that gives a cause or draws a conclusion ("because ...", "..., which led to ...", "..., suggesting
# ...") states more than a sequence of facts: the cited sentences must speak of a cause too, or the link is
# the reader's own. English connectives only; nothing about any article.
_CAUSE_CLAIMED = re.compile(
    r"\b(?:because|due to|owing to|as a result|result(?:ed|ing|s)? in|(?:which|this|that) (?:led|leads) to|leading to|"
    r"caus(?:ed|ing)|so that|therefore|thus|hence|(?:which|this|that) (?:means|meant|suggests|shows|showed|indicates|"
    r"implies|reflects|highlights|demonstrates)|indicating|suggesting|implying|showing that|demonstrating|"
    r"highlighting|reflecting|in order to)\b", re.IGNORECASE)
_CAUSE_STATED = re.compile(
    r"\b(?:because|due to|owing to|as a result|result(?:ed|ing|s)?|led to|lead(?:s|ing)? to|caus\w*|after|following|since|"
    r"so|therefore|thus|hence|reasons?|why|prompt\w*|amid|in response|blam\w*|attribut\w*|driven|fuel\w*|trigger\w*|"
    r"thanks to|sparked|meant|means|aim\w*|to (?:help|ensure|avoid|prevent|allow|protect|make)|in order to)\b",
    re.IGNORECASE)


def claim_gap(claim: str, cited: str, min_share: float = MIN_OPEN_GROUNDING, known: Known = Known()) -> str:
    """Why the cited text does not state the claim ("" when it does): one of the claim's figures or
    names missing from it (unless ``known``: the question's or the title's, and in the article), too few
    of its other content words there, or a cause or conclusion where the cited text speaks of none.
    Unlike a short answer's grounding, what the question says counts too: "X walked out because Y" must
    be stated, X and the walk-out with it, or a near miss's premise would pass on the question's word alone."""
    s_numbers = number_values(cited)
    missing = sorted(stated_numbers(claim) - s_numbers - known.numbers)
    if missing:
        return f"the number {missing[0]} is not in the cited sentences"
    s_words = {re.sub(r"['’]s$", "", w.lower()) for w in TOKEN.findall(cited)}
    s_terms = set(content_terms(cited))
    for name in sorted(claim_names(claim)):
        if name not in s_words and stem(name) not in s_terms and name not in NUMBER_WORDS and name not in known.names:
            return f"“{name}” is not in the cited sentences"
    terms = [t for t in content_terms(claim) if not t[:1].isdigit()]
    if terms:
        share = sum(found(t, s_terms) or NUMBER_WORDS.get(t) in s_numbers for t in terms) / len(terms)
        if share < min_share:
            return f"only {share:.0%} of its words are in the cited sentences"
    if _CAUSE_CLAIMED.search(claim) and not _CAUSE_STATED.search(cited):
        return "it gives a cause or a conclusion the cited sentences do not"
    return ""


class OpenVerifier:
    """The acceptance policy of open answers, one sentence at a time, so each can be shown once it
    stands. A sentence stands when

    1. it is a claim (``MIN_CLAIM_WORDS`` words or more, ending as a sentence does);
    2. one evidence sentence, or two together, state it (``claim_gap``): every number and name of it
       is there, and most of its other words. The reader's own ``[n]`` is tried first, but the
       claim must be stated: the number is only a hint;
    3. the check model says those sentences state it, as an answer to the question;
    4. they are still, verbatim, in their articles.

    Sentences that fail are dropped and said to be (``Verdict.note``); each that stands is shown at once.
    When none stands, it declines. There is no answer-level "does it answer the question?" veto: it threw
    away supported sentences (evals/labels/README.md). A near miss answered with true sentences is not a
    wrong answer; one that states its false premise fails at 2 or 3, as any unsupported sentence does.
    """

    def __init__(self, question: str, evidence: list[Evidence], judge=None, min_judge: float = MIN_SUPPORT,
                 article: Callable[[str], str] = lambda source: "", min_share: float = MIN_OPEN_GROUNDING):
        self.question, self.evidence, self.judge = question, evidence, judge
        self.min_judge, self.article, self.min_share = min_judge, article, min_share
        self.terms = [set(content_terms(e.text)) for e in evidence]  # each sentence's, once for every claim
        self._context: dict[tuple[str, ...], Known] = {}
        self.checks: list[Check] = []
        self.numbering: dict[int, int] = {}
        self.citations: list[Citation] = []
        self.pieces: list[str] = []
        self.added: list[tuple[Citation, ...]] = []  # the citations each piece brought
        self.released = 0
        self.check_s, self.judge_calls = 0.0, 0

    def _timed(self, call, *args) -> float:
        """A check model call, its time and count kept for the verdict."""
        t = time.perf_counter()
        score = call(*args)
        self.check_s += time.perf_counter() - t
        self.judge_calls += 1
        return score

    def _p_yes(self, cited: str, claim: str) -> float | None:
        return None if self.judge is None else self._timed(self.judge.supports, cited, claim)

    def _grounded(self, claim: str, hints: list[int]) -> list[tuple[int, ...]]:
        """Evidence that states the claim: single sentences (the reader's hints first, then by shared
        words), then pairs; best two candidates."""
        ev = self.evidence
        c_terms = set(content_terms(claim))
        overlap = {n: sum(found(t, terms) for t in c_terms) for n, terms in enumerate(self.terms, 1)}
        order = [n for n in hints if 1 <= n <= len(ev)]
        order += sorted((n for n in overlap if n not in order), key=lambda n: -overlap[n])
        out = [(n,) for n in order if not claim_gap(claim, ev[n - 1].text, self.min_share, self._known((n,)))]
        if not out:
            best = order[:4]
            out = [(a, b) for i, a in enumerate(best) for b in best[i + 1:]
                   if not claim_gap(claim, f"{ev[a - 1].text} {ev[b - 1].text}", self.min_share, self._known((a, b)))]
        return out[:2]

    def _known(self, group: tuple[int, ...]) -> Known:
        """The question's and the cited articles' titles' numbers and names that those articles hold."""
        sources = tuple(sorted({self.evidence[n - 1].source for n in group}))
        if sources not in self._context:
            titles = " ".join({self.evidence[n - 1].title for n in group})
            given = f"{self.question} {titles}"
            text = " ".join(self.article(s) for s in sources) + " " + titles
            words = {re.sub(r"['’]s$", "", w.lower()) for w in TOKEN.findall(text)}
            self._context[sources] = Known(frozenset(question_numbers(given) & number_values(text)),
                                           frozenset(names(given) & words))
        return self._context[sources]

    def check(self, sentence: str) -> Check:
        """Decide one sentence of the reply; when it stands, it joins the answer (``pieces``)."""
        hints = [int(n) for n in re.findall(r"\d+", " ".join(re.findall(r"\[[\d,\s]+\]", sentence)))]
        claim = _MARKERS.sub("", sentence).strip()
        said = [" ".join(words_of(c.answer)) for c in self.checks]
        if " ".join(words_of(claim)) in said:  # the reader wrote it twice: shown once
            check = Check(claim, hints[0] if hints else 0, why=REPEATED)
        else:
            check = self._decide(claim, hints)
        self.checks.append(check)
        if check.ok:
            self._keep(check)
        return check

    def release(self) -> Iterator["Accepted"]:
        """The sentences that stand and have not been shown yet."""
        for text, added in zip(self.pieces[self.released:], self.added[self.released:]):
            yield Accepted(text, added)
        self.released = len(self.pieces)

    def _decide(self, claim: str, hints: list[int]) -> Check:
        cited = hints[0] if hints else 0
        if len(words_of(claim)) < MIN_CLAIM_WORDS or not _END.search(claim):
            return Check(claim, cited, why="not a whole sentence")
        grounded = self._grounded(claim, hints)
        if not grounded:
            near = ([n for n in hints if 1 <= n <= len(self.evidence)] or [1])[0]
            why = claim_gap(claim, self.evidence[near - 1].text, self.min_share, self._known((near,))) \
                if self.evidence else "no sources"
            return Check(claim, cited, why=f"not stated in the sources: {why}")
        first = None
        for group in grounded:
            shown = [self.evidence[n - 1] for n in group]
            score = self._p_yes(" ".join(e.text for e in shown), claim)
            n, also = group[0], (group[1] if len(group) > 1 else 0)
            if score is not None and score < self.min_judge:
                first = first or Check(claim, cited, n, score, why=f"the check model doubts the sources state it (P(Yes) {score:.2f})", also=also)
                continue
            if any(self.article(e.source)[e.start:e.end] != e.text for e in shown):
                first = first or Check(claim, cited, n, score, why="the quote is no longer in its article", also=also)
                continue
            return Check(claim, cited, n, score, ok=True, also=also)
        return first

    def _keep(self, check: Check) -> None:
        marks, shown = [], len(self.citations)
        for k in (check.sentence, check.also):
            if not k:
                continue
            if k not in self.numbering:
                self.numbering[k] = len(self.numbering) + 1
                e = self.evidence[k - 1]
                self.citations.append(Citation(self.numbering[k], e.source, e.text, e.start, e.end, e.title,
                                               highlights(check.answer, e, self.question)))
            marks.append(f"[{self.numbering[k]}]")
        body = _END.sub("", check.answer).rstrip(" ,;:")
        if not self.pieces:  # "However, ..." leans on a sentence before it, which was dropped or never was
            m = _CONNECTIVE.match(body)
            if m and len(body) > m.end():
                body = body[m.end()].upper() + body[m.end() + 1:]
        end = _END.search(check.answer).group(0)  # '."' : the stop goes after the markers, the quote's close stays
        self.pieces.append(f"{body}{end[1:]} {''.join(marks)}{end[:1]}")
        self.added.append(tuple(self.citations[shown:]))

    def verdict(self, refusal: str = "The articles don't say.") -> Verdict:
        dropped = [c for c in self.checks if not c.ok and c.why != REPEATED]
        why = "; ".join(f"“{c.answer}”: {c.why}" for c in dropped)
        if not self.pieces:
            return Verdict(refusal, (), True, why or "the reader found no answer in the sources",
                           tuple(self.checks), self.check_s, self.judge_calls)
        notes = []
        if dropped:
            n = len(dropped)
            notes.append(f"{n} sentence{'s' if n > 1 else ''} of the reader's answer {'were' if n > 1 else 'was'} left "
                         f"out: {'they' if n > 1 else 'it'} could not be checked against the articles.")
        answers = self.answers_question()
        if answers is False:
            notes.insert(0, DOUBT)
        return Verdict(" ".join(self.pieces), tuple(self.citations), False,
                       "verified" + (f"; dropped {why}" if why else ""), tuple(self.checks), self.check_s,
                       self.judge_calls, " ".join(notes), answers)

    def answers_question(self, most: int = 2) -> bool | None:
        """Whether one of the first ``most`` sentences that stand has quotes the check model judges to answer
        the question (None without a check model). Asked once the answer is complete: it adds no wait
        before the first sentence, and it only adds a note."""
        if self.judge is None:
            return None
        for check in [c for c in self.checks if c.ok][:most]:
            cited = " ".join(self.evidence[k - 1].text for k in (check.sentence, check.also) if k)
            if self._timed(self.judge.p_yes, self.question, cited) >= MIN_RELEVANCE:
                return True
        return False


def check_quote(article_text: str, quote: str, start: int | None = None, end: int | None = None) -> bool:
    """The quote is verbatim in the article (and at the recorded offsets, when given)."""
    if not quote or quote not in article_text:
        return False
    return start is None or end is None or article_text[start:end] == quote
