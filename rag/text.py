"""Small text helpers shared by retrieval, evidence selection and verification."""

from __future__ import annotations

import re
from typing import Iterator

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself just me more
    most my myself no nor not now of off on once only or other our ours ourselves out over own same she
    should so some such than that the their theirs them themselves then there these they this those
    through to too under until up very was we were what when where which while who whom why will with
    would you your yours yourself yourselves said says say according also one two new did does whose
    article articles become became becomes""".split()
)

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def words(text: str) -> list[str]:
    """Lower-case word tokens, possessive endings removed."""
    out = []
    for w in _WORD.findall(text.lower()):
        w = re.sub(r"['’]s$", "", w)
        out.append(w)
    return out


def stem(word: str) -> str:
    """A crude, fast stem: enough to match 'members' with 'member', 'joined' with 'join', 'argue' with 'argued'."""
    for suffix in ("ations", "ation", "ings", "ing", "ies", "ied", "ed", "es", "s", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:-1] if word.endswith("e") and len(word) >= 4 else word  # "argue" and "argued" alike


def content_terms(text: str) -> list[str]:
    """Stemmed words minus stopwords: what overlap and keyword search compare."""
    return [stem(w) for w in words(text) if w not in STOPWORDS]


def found(term: str, terms: set[str]) -> bool:
    """``term`` is in ``terms``, or shares its first five letters with one ("negotiat-ions", "negotiat-ors")."""
    return term in terms or (len(term) >= 5 and any(e.startswith(term[:5]) for e in terms))


# Words that name the kind of answer wanted ("which country", "what year"): the evidence states
# the answer itself ("Belarus", "2001"), not the word "country" or "year".
ANSWER_TYPE_WORDS = frozenset(stem(w) for w in """country countries city cities year years date day days month
    months time person people name names place places number numbers amount official officials leader leaders
    organisation organization group kind type way""".split())


def question_terms(question: str) -> set[str]:
    """The question's content terms, less the words that only name the kind of answer wanted."""
    return set(content_terms(question)) - ANSWER_TYPE_WORDS


def weighted_coverage(terms: set[str], text_terms: set[str], idf=None) -> float:
    """Share of ``terms`` found in ``text_terms``, each weighted by its rarity (``idf``, else 1)."""
    if not terms:
        return 0.0
    weight = idf or (lambda t: 1.0)
    total = sum(weight(t) for t in terms)
    return sum(weight(t) for t in terms if found(t, text_terms)) / total if total else 0.0


def numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


# Initials (U.S.) and titles (Mr.) end with a period that does not end the sentence.
_ABBREV = re.compile(r"(?:\b(?:[A-Z]\.){1,3}|\b(?:Mr|Mrs|Ms|Dr|St|Jr|Sr|Prof|Gen|Gov|Sen|Rep|No|Inc|Ltd|Co|vs|etc)\.)$")


def ends_in_abbreviation(text: str) -> bool:
    """``text`` ends with a title or initials ("Dr.", "U.S."): its period does not end a sentence."""
    return bool(_ABBREV.search(text))


_BOUNDARY = re.compile(r"[.!?]+[”\"’')\]]*\s+|\n+")


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int]]:
    """(start, end) offsets of sentences in ``text[start:end]``, whitespace trimmed."""
    end = len(text) if end is None else end
    pos = start
    for m in _BOUNDARY.finditer(text, start, end):
        if m.group(0)[0] not in "\n" and m.end() < end:
            before = text[pos : m.start() + 1]
            nxt = text[m.end() : m.end() + 1]
            if ends_in_abbreviation(before) or (nxt and nxt.islower()):
                continue
        cut = m.end() if m.group(0)[0] != "\n" else m.start()
        span = _trim(text, pos, cut)
        if span:
            yield span
        pos = m.end()
    span = _trim(text, pos, end)
    if span:
        yield span


def _trim(text: str, a: int, b: int) -> tuple[int, int] | None:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return (a, b) if b > a else None


# Numbers, however written, and the kind of answer a question asks for: shared by evidence selection
# (a sentence that could answer "how many ...?" holds a number) and verification (an answer to it is one).
TOKEN = re.compile(r"[^\W_]+(?:[.,'’][^\W_]+)*", re.UNICODE)
NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
NUMBER_WORDS.update({w: str(i) for i, w in enumerate(
    "zeroth first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth "
    "fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth".split()) if i})
NUMBER_WORDS.update({"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70",
                     "eighty": "80", "ninety": "90", "hundred": "100", "dozen": "12"})
_ORDINAL = re.compile(r"^(\d+)(?:st|nd|rd|th)$")


def number_values(text: str) -> set[str]:
    """Numbers in the text as digit strings: "1,200" -> "1200", "10th" and "tenth" -> "10", "fourteen" -> "14"."""
    out = set()
    for token in TOKEN.findall(text.lower()):
        token = token.strip(".,'’")
        m = _ORDINAL.match(token)
        if m:
            out.add(m.group(1))
        elif token[:1].isdigit():
            out.add(re.sub(r"(?<=\d),(?=\d{3})", "", token))
        elif token in NUMBER_WORDS:
            out.add(NUMBER_WORDS[token])
    return out


_NAMED_NUMBER = re.compile(r"[^\W\d_]+-\d+\b")  # "Zephrin-2", "COVID-19": part of a name, not a quantity


def question_numbers(question: str) -> set[str]:
    """The quantities the question gives: its numbers, less those that are part of a name ("Falcon-9")."""
    return number_values(_NAMED_NUMBER.sub(" ", question))


def stated_numbers(claim: str) -> set[str]:
    """The quantities a claim states in figures ("$48.6 million", "2026", "10th"), less those that are part
    of a name ("Caldera-1's", "COVID-19"). Spelled-out numbers ("four countries", "the first woman") are
    words of the claim, held to the share of its words: a list of four names states "four" without the word."""
    return {v for token in TOKEN.findall(_NAMED_NUMBER.sub(" ", claim)) if token[:1].isdigit()
            for v in number_values(token)}


_QUANTITY = re.compile(r"^\W*(?:how (?:many|much|old|long|far|big|large|tall|high|deep|wide|heavy|fast)\b"
                       r"|(?:what|which) (?:percentage|proportion|share|per ?cent|number|amount|sum|figure|year|age)\b"
                       r"|in (?:what|which) year\b)", re.IGNORECASE)
_COUNT = re.compile(r"^\W*how many\b(?! of\b)", re.IGNORECASE)  # "how many of the voters?" may be a share
SHARE = re.compile(r"%|\bper ?cent\b|\bpercentage\b|\bshare\b|\bproportion\b", re.IGNORECASE)
_WHEN = re.compile(r"^\W*(?:when|on what (?:day|date)|what (?:day|date|time))\b", re.IGNORECASE)
_DATE = re.compile(r"^\W*(?:on )?(?:what|which) (?:day|date)\b", re.IGNORECASE)
_DAYS = (r"january|february|march|april|may|june|july|august|september|october|november|december"
         r"|monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|yesterday|tomorrow")
_TIME_WORDS = re.compile(rf"\b(?:{_DAYS}|morning|afternoon|evening|night|midnight|noon|dawn|week|month|year|decade"
                         r"|spring|summer|autumn|fall|winter|before|after|during)\b", re.IGNORECASE)
CALENDAR = re.compile(rf"\b(?:{_DAYS})\b|\b\d{{1,4}}[/.-]\d{{1,2}}(?:[/.-]\d{{1,4}})?\b", re.IGNORECASE)  # names a day


def asked_kinds(question: str) -> frozenset[str]:
    """The kinds of answer the question asks for: "number" ("how many", "what percentage"), "count"
    ("how many", but not "how many of"), "share" (it speaks of a percentage or share), "time" ("when"),
    "date" ("on what date"). Empty for who/what/which questions."""
    kinds = [("number", _QUANTITY), ("count", _COUNT), ("share", SHARE), ("time", _WHEN), ("date", _DATE)]
    return frozenset(k for k, pattern in kinds if pattern.search(question))


def states_time(text: str, besides: set[str] = frozenset()) -> bool:
    """The text gives a number (other than those ``besides``) or a time word (a month, a weekday, "after")."""
    return bool((number_values(text) - besides) or _TIME_WORDS.search(text))
