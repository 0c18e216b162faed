"""Follow-up questions: put back the name a pronoun stands for, from the conversation so far.

"What did he say about Belarus?" after "What did Putin say about the West?" is searched as
"What did Putin say about Belarus?". Rule-based on purpose: the small local model rewrites
unreliably, and a rewrite that changes the question silently is worse than none.
"""

from __future__ import annotations

import re

_PRONOUN = re.compile(r"\b(he|she|him|his|her|they|them|their|it|its)\b", re.IGNORECASE)
_POSSESSIVE = {"his", "her", "their", "its"}
_PERSONAL = {"he", "she", "him", "his", "her"}
# A name: capitalised words, allowing inner particles ("Recep Tayyip Erdoğan", "Bates Gill").
_NAME = re.compile(r"\b[A-Z][\w’'-]+(?:\s+(?:of\s+the\s+|of\s+)?[A-Z][\w’'-]+)*")
_NOT_NAMES = frozenset("""What Which Who Whom Whose Where When Why How Did Does Do Is Are Was Were Can Could Would
    Should Will The A An In On At For And But Or If According Besides Tell Give List Name""".split())


def names_in(text: str) -> list[str]:
    """Capitalised names in ``text``, in order, without question words and possessive endings."""
    out = []
    for m in _NAME.finditer(text):
        words = m.group(0).split()
        while words and words[0] in _NOT_NAMES:
            words = words[1:]
        name = re.sub(r"[’']s$", "", " ".join(words))
        if name and name not in out:
            out.append(name)
    return out


def rewrite(question: str, previous: list[str]) -> str:
    """``question`` with its first pronoun replaced by the last name of the previous questions.

    Returns the question unchanged when it has no pronoun, when there is no earlier question,
    or when the earlier questions name nobody the question does not already name.
    """
    m = _PRONOUN.search(question)
    if not m or not previous:
        return question
    present = set(names_in(question))
    pronoun = m.group(1).lower()
    for earlier in reversed(previous):
        candidates = [n for n in names_in(earlier) if n not in present]
        if pronoun in _PERSONAL:  # "he", "his": prefer a full name or one after a title; never an acronym
            candidates = [n for n in candidates if not n.isupper()]
            people = [n for n in candidates if " " in n or _after_title(earlier, n)]
            candidates = people or candidates
        if candidates:
            name = candidates[0]
            replacement = f"{name}’s" if pronoun in _POSSESSIVE else name
            return question[: m.start()] + replacement + question[m.end():]
    return question


_TITLES = re.compile(r"(?:President|Prime Minister|Minister|Secretary|spokesperson|analyst|fellow|leader|Mr|Ms|Dr)\.?\s+$")


def _after_title(text: str, name: str) -> bool:
    i = text.find(name)
    return i > 0 and bool(_TITLES.search(text[:i]))
