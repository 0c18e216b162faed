"""Conversations: a follow-up turned, from the earlier questions *and answers*, into a question that
stands alone, before anything is searched.

People chat: after "Who won the final?" → "Spain" they ask "Who scored their winning goal?", "And for
England?", "Why?", "Tell me more", "Which article says that?". ``resolve`` reads the question against
the conversation so far (``Turn``s) and says what to answer (``Resolved``):

- ``new``: the question stands on its own and is left as it is. Misreading a new topic as a follow-up
  is worse than missing one, so anything the rules below do not recognise is ``new``.
- ``pronoun``: "their", "he", "it" ... is replaced by the name it stands for: a name in the last
  answer first (the team that "Who won?" was answered with), then one in the last questions.
- ``ellipsis``: "And for England?", "What about the second day?", "And who scored for England?" take
  the earlier question's frame: the fragment replaces its counterpart there, or the conversation's
  topic is added to a question that lacks it.
- ``why`` / ``more``: "Why?", "Tell me more": an open answer about the last answer, from its sources
  first (``Resolved.sources``).
- ``source``: "Which article says that?", "Who else reported it?": answered from the last answer's
  citations and the library, without the reader.

Rules on English conversational forms only, nothing about any article. A stronger model on a server
can do the rewriting instead (``ModelRewriter``): the rules still decide the kind of turn, so a
standalone question is never sent to be rewritten.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from .text import STOPWORDS

NEW, PRONOUN, ELLIPSIS, WHY, MORE, SOURCE = "new", "pronoun", "ellipsis", "why", "more", "source"
REFERS_TO_ANSWER = (WHY, MORE, SOURCE)

_MARKERS = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")


@dataclass(frozen=True)
class Turn:
    """One earlier exchange: what was asked, what was answered, and from which articles."""

    question: str
    answer: str = ""
    searched: str = ""  # the question as answered (its standalone form); the question when empty
    refused: bool = False
    sources: tuple[str, ...] = ()  # the articles the answer cites, in citation order
    shape: str = "fact"
    kind: str = "new"  # how it was resolved (``Resolved.kind``)

    @property
    def standalone(self) -> str:
        return self.searched or self.question

    @property
    def plain_answer(self) -> str:
        """The answer without its ``[n]`` markers and final full stop; "" for a decline."""
        return "" if self.refused else _MARKERS.sub("", self.answer).strip().rstrip(".").strip()

    @classmethod
    def of(cls, question: str, answer) -> "Turn":
        """From an ``answer.Answer`` (or its ``to_dict()``)."""
        d = answer if isinstance(answer, dict) else answer.to_dict()
        sources = []
        for c in d.get("citations", []):
            if c["source"] not in sources:
                sources.append(c["source"])
        return cls(question, d.get("answer", ""), d.get("searched") or question, bool(d.get("refused")),
                   tuple(sources), d.get("shape") or "fact", d.get("followup") or NEW)


def read_history(text: str) -> list[Turn]:
    """Earlier turns from JSON lines of ``{"question", "answer"}`` (``rag ask --history``); the optional
    ``searched``, ``refused``, ``sources`` (file names) and ``citations`` (as ``--json`` prints them) are
    used when given. ValueError saying which line is wrong."""
    turns = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"history line {n} is not JSON: {exc}") from None
        if not isinstance(d, dict) or not isinstance(d.get("question"), str) or not isinstance(d.get("answer", ""), str):
            raise ValueError(f"history line {n} needs a \"question\" and an \"answer\" (strings)")
        sources = d.get("sources") or [c.get("source") for c in d.get("citations", []) if isinstance(c, dict)]
        if not all(isinstance(s, str) for s in sources):
            raise ValueError(f"history line {n}: \"sources\" must be file names")
        answer = d.get("answer", "")
        refused = bool(d.get("refused", answer.strip().lower().startswith("the articles don't say")))
        turns.append(Turn(d["question"], answer, d.get("searched", "") or "", refused,
                          tuple(dict.fromkeys(sources)), d.get("shape") or "fact", d.get("followup") or NEW))
    return turns


@dataclass(frozen=True)
class Resolved:
    """What to answer for a question asked after ``history``."""

    question: str  # as standalone: what is searched, read and checked
    kind: str = NEW
    about: Turn | None = None  # the turn a why / more / source question refers to
    sources: tuple[str, ...] = field(default=())  # articles to answer from first (why / more / source)
    others: bool = False  # source: the *other* articles that state it ("Who else reported it?")

    @property
    def rewritten(self) -> bool:
        return self.kind != NEW


class Rewriter:
    """Turns a question asked in a conversation into one that stands alone."""

    name = "rules"

    def resolve(self, question: str, history: list[Turn]) -> Resolved:
        raise NotImplementedError


# ---- the words of a question ---------------------------------------------------------------------

_PRONOUN = re.compile(r"\b(he|she|him|his|her|they|them|their|it|its)\b", re.IGNORECASE)
_POSSESSIVE = {"his", "her", "their", "its"}
_PERSONAL = {"he", "she", "him", "his", "her"}
# "it" that points at nothing: "how long did it take", "is it true that", "it is said".
_EXPLETIVE = re.compile(r"\bit (?:take|took|takes|cost|costs|rain|rained|mean|means)\b|\b(?:is|was) it (?:true|possible|likely)\b"
                        r"|\bit (?:is|was) (?:said|reported|claimed|expected|thought|believed)\b", re.IGNORECASE)
# A name: capitalised words, allowing inner particles and a number ("Recep Tayyip Erdoğan", "Euro 2024").
_NAME = re.compile(r"\b[A-Z][\w’'-]*(?:\s+(?:of\s+the\s+|of\s+|de\s+|van\s+|von\s+)?(?:[A-Z][\w’'-]*|\d[\d.,]*\b))*")
_NOT_NAMES = frozenset("""What Which Who Whom Whose Where When Why How Did Does Do Is Are Was Were Can Could Would
    Should Will The A An In On At For And But Or If According Besides Tell Give List Name So Also Then Now Okay Ok
    Please Has Have Had I Since After Before During Until From By With Over Under About Around Nearly Almost More
    Less Some Only Just Mid Its Their His Her""".split())
_CALENDAR_WORDS = frozenset("""january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday""".split())
_TITLES = re.compile(r"(?:President|Prime Minister|Minister|Secretary|spokesperson|spokesman|spokeswoman|analyst|"
                     r"fellow|leader|chief|director|judge|Justice|Mr|Mrs|Ms|Dr|Captain|coach|manager)\.?\s+$", re.IGNORECASE)
_PREPS = ("for", "in", "at", "on", "of", "by", "from", "to", "during", "after", "before", "against", "with", "about",
          "near", "under", "over", "between", "among", "since", "until", "into", "per")
_PLACE_PREPS = {"in", "at", "from", "near", "on", "to", "into"}
_WH = r"(?:who|whom|whose|what|when|where|which|why|how|did|does|do|is|are|was|were|has|have|had|can|could|will|would|should)"

_WHY = re.compile(r"^(?:(?:and|but|so|ok(?:ay)?)[\s,]+)?(?:why(?: so| not| is that| was that| that| did (?:that|this|it) happen)?"
                  r"|how come|for what reason|what was the reason(?: for (?:that|this|it))?|what(?:'s| is) the reason(?: for (?:that|this|it))?"
                  r"|what caused (?:that|this|it))\W*$", re.IGNORECASE)
_MORE = re.compile(r"^(?:(?:please|ok(?:ay)?|and|so|great|thanks|interesting)[\s,!.]+)*"
                   r"(?:tell me (?:a bit |a little |some )?more|say more|more|go on|continue|elaborate|explain(?: that| this| it| more)?"
                   r"|(?:any )?more details|details|what else|anything else|can you (?:tell me|say|give me|explain) (?:a bit |a little |some )?more"
                   r"|could you (?:tell me|say|give me|explain) (?:a bit |a little |some )?more|i(?:'d| would) like to know more)"
                   r"(?: (?:about|on) (?:that|this|it|them|him|her|this one|that one))?(?: please)?\W*$", re.IGNORECASE)
_SOURCE = re.compile(
    r"^(?:(?:and|so|ok(?:ay)?|but)[\s,]+)?(?:"
    r"(?:which|what) (?:articles?|sources?|outlets?|papers?|reports?|stories|story|publications?|newspapers?|pages?|"
    r"sites?|websites?)\b[^?]*"
    r"\b(?:says?|said|reports?|reported|states?|stated|mentions?|mentioned|writes?|wrote|has|have|had|is (?:that|this|it) from|claims?)"
    r"(?: (?:that|this|it|so|them))?|"
    r"where (?:does|did) (?:it|that|this) (?:say|come from)(?: (?:that|so))?|where did you (?:find|get|read|see) (?:that|this|it)|"
    r"who (?:said|says|reported|reports|wrote|writes|claims?) (?:that|this|it|so)|"
    r"(?:who|which (?:articles?|outlets?|papers?|sources?)) else (?:said|says|reported|reports|wrote|writes|mentions?|mentioned|has|had)"
    r"(?: (?:that|this|it|so))?|"
    r"(?:what(?:'s| is| are) )?(?:your|the|its) sources?|sources?|says who|according to (?:whom|who|what|which article))\W*$",
    re.IGNORECASE)
_ELSE = re.compile(r"\belse\b", re.IGNORECASE)
# "Which article says that Orvala is Marenland's capital?": a claim of the question's own, not the last answer's.
# ("Who said that X?" asks for a person and "Which report warned that X?" may ask for a report the article
# names: both are left to the reader.)
_WHICH_SAYS = re.compile(r"^(?:which|what) (?:articles?|sources?|outlets?|newspapers?|stories|story|publications?)"
                         r" (?:says?|said|reports?|reported|states?|stated|mentions?|mentioned|writes?|wrote|claims?)"
                         r"(?: that)? (?P<claim>.{12,}?)\W*$", re.IGNORECASE)
_LEAD = re.compile(r"^(?:and|but|also|so|ok(?:ay)?|then)\s*,?\s+", re.IGNORECASE)
# A question that names its own subject: "in which city did the summit take place", "when did Ostrevia sign".
# After "And" it is a new question, not a fragment of the last one.
_COMPLETE = re.compile(r"^(?:(?:in|at|on|from|for|by|with|to|of|during|after|before)\s+)?"
                       r"(?:which|what|who|whom|whose|where|when|how(?:\s+(?:many|much|long|old|far|often))?)"
                       r"(?:\s+[\w’'-]+){0,2}?\s+(?:did|does|do|was|were|is|are|has|have|had|will|would|can|could|should)\s+"
                       r"(?:the\s+[\w’'-]+|[A-Z][\w’'-]+)", re.IGNORECASE)
_ABOUT = re.compile(r"^(?:(?:and|but|also|so|ok(?:ay)?|then)\s*,?\s+)?(?:what|how) about\s+", re.IGNORECASE)


def names_in(text: str) -> list[str]:
    """Capitalised names in ``text``, in order, without question words and possessive endings."""
    out = []
    for m in _NAME.finditer(text):
        words = m.group(0).split()
        while words and (re.sub(r"[’']\w*$", "", words[0]) in _NOT_NAMES or words[0].lower() in STOPWORDS):
            words = words[1:]
        if words and words[0].lower() in _CALENDAR_WORDS:  # "April", "January 2019": a date, not who "it" is
            continue
        if len(words) == 1 and m.start() == 0 and words[0].endswith("ly"):  # "Mostly ...": a sentence's first word
            continue
        name = re.sub(r"[’']s?$", "", " ".join(words)).strip()
        if name and name[0].isupper() and name not in out:
            out.append(name)
    return out


def _after_title(text: str, name: str) -> bool:
    i = text.find(name)
    return i > 0 and bool(_TITLES.search(text[:i]))


_ORG_WORDS = frozenset("""agency authority association bank board court council party union league ministry department
    commission committee fund company corporation corp group inc ltd llc plc systems works analytics industries holdings
    press wire news times post herald review service services institute university college club team federation
    organisation organization office bureau airlines partners capital motors energy labs foundation""".split())


def _person_like(name: str, context: str) -> bool:
    """A person's name, by its form: two or more words (not an organisation's) or after a title."""
    words = name.split()
    org = words[-1].lower() in _ORG_WORDS or any(ch.isdigit() for ch in name)
    return name[:1].isupper() and not name.isupper() and not org and (len(words) > 1 or _after_title(context, name))


def _strip_q(text: str) -> str:
    return text.strip().rstrip("?.! ").strip()


# ---- the rules -------------------------------------------------------------------------------------


class RuleRewriter(Rewriter):
    """Follow-ups resolved by rules on English conversational forms: no model, no time."""

    name = "rules"

    def resolve(self, question: str, history: list[Turn]) -> Resolved:
        question = " ".join(question.split())
        claim = _WHICH_SAYS.match(question)
        if claim and not re.fullmatch(r"(?:that|this|it|so|them)", claim.group("claim"), re.IGNORECASE):
            # the articles that state a claim the question makes itself: the library is searched for it
            return Resolved(question, SOURCE, Turn("", claim.group("claim")))
        if not history:
            return Resolved(question)
        last = history[-1]
        answered = next((t for t in reversed(history) if not t.refused), None)
        kind = SOURCE if _SOURCE.match(question) else WHY if _WHY.match(question) else MORE if _MORE.match(question) else ""
        if kind:
            about = answered if kind == SOURCE else last
            if about is None:
                return Resolved(question)
            if kind == MORE and re.search(r"\b(?:him|her|them)\W*$", question, re.IGNORECASE):
                named = self._pronoun(question, history)  # "Tell me more about her": about the person
                if named:
                    return Resolved(named, MORE, about)
            also = bool(_ELSE.search(question))
            return Resolved(refer(kind, about, also), kind, about, about.sources, others=kind == SOURCE and also)
        about = _ABOUT.match(question)
        lead = _LEAD.match(question)
        # the frame of an elliptical question: the last question that was not about an answer itself
        last = next((t for t in reversed(history) if t.kind not in REFERS_TO_ANSWER), last)
        if about or lead:
            rest = question[(about or lead).end():]
            if not about and _COMPLETE.match(rest) and not _PRONOUN.search(rest):
                return Resolved(rest[:1].upper() + rest[1:])  # "And in which city did the summit take place?"
            if not about and re.match(_WH + r"\b", rest, re.IGNORECASE):  # "And who scored for England?"
                full = rest[:1].upper() + rest[1:]
                full = self._pronoun(full, history) or full
                return Resolved(with_topic(full, history), ELLIPSIS, last)
            fragment = _strip_q(rest)
            if fragment and len(fragment.split()) <= 8:
                full = substitute(last.standalone, fragment)
                return Resolved(self._pronoun(full, history) or full, ELLIPSIS, last)
        rewritten = self._pronoun(question, history)
        if rewritten:
            return Resolved(rewritten, PRONOUN, last)
        return Resolved(question)

    @staticmethod
    def _pronoun(question: str, history: list[Turn]) -> str:
        """The question with its first pronoun replaced by the name it stands for, or "" when it has
        none, when the question names someone before it (the pronoun is its own: "What did Putin say
        in his speech?"), or when the conversation names nobody new."""
        m = _PRONOUN.search(question)
        if not m or _EXPLETIVE.search(question) or names_in(question[: m.start()]):
            return ""
        pronoun = m.group(1).lower()
        present = set(names_in(question))
        last = history[-1]
        if last.kind == PRONOUN:  # "How did it vote?" → "What was its turnout?": the same one as last time
            before = _PRONOUN.search(last.question)
            named = [n for n in names_in(last.standalone) if n not in names_in(last.question)]
            if before and named and _GROUP.get(before.group(1).lower()) == _GROUP[pronoun] and named[0] not in present:
                return _replace(question, m, named[0])
        if (pronoun in ("they", "them", "their") and re.match(r"^\W*how many\b", last.standalone, re.IGNORECASE)
                and not names_in(last.plain_answer)):
            return ""  # "How many were arrested?" → "17" → "What were they arrested for?": the people, not a name
        pools = [(n, context) for turn in reversed(history) for pool, context in _candidate_pools(turn)
                 for n in pool if n not in present]
        if pronoun in ("it", "its") and not names_in(last.question):
            thing = _THING.search(last.question)  # "And after the recount?" → "Who asked for it?": the recount
            if thing and thing.group(1).split()[-1].lower() not in _CALENDAR_WORDS | _TIME_NOUNS:
                last_pools = _candidate_pools(last)
                after = len(last_pools[0][0]) if len(last_pools) > 1 else 0  # after a named answer
                pools.insert(min(after, len(pools)), (thing.group(0).strip(), last.question))
        if pronoun in _PERSONAL:  # "he", "his": a person's name (a full one or after a title), never an acronym,
            # never a name used as a modifier ("the Vellmar governor election")
            pools = [(n, c) for n, c in pools if not n.isupper() and not re.search(rf"\bthe\s+{re.escape(n)}\b", c)]
            pools = [(n, c) for n, c in pools if _person_like(n, c)] or pools
        elif pronoun in ("it", "its"):  # "it": a thing, a place or an organisation before a person
            pools = [(n, c) for n, c in pools if not _person_like(n, c)] + [(n, c) for n, c in pools if _person_like(n, c)]
        if not pools:
            return ""
        return _replace(question, m, pools[0][0])


_GROUP = {"he": "he", "him": "he", "his": "he", "she": "she", "her": "she", "they": "they", "them": "they",
          "their": "they", "it": "it", "its": "it"}


def _replace(question: str, m: re.Match, name: str) -> str:
    """``question`` with the pronoun matched by ``m`` replaced by ``name`` (possessive kept; "her" at
    the end is "about her", not "her ...")."""
    at_end = not re.search(r"\w", question[m.end():])
    if m.group(1).lower() in _POSSESSIVE and not at_end:
        name = f"{name}’" if name.endswith("s") else f"{name}’s"
    return question[: m.start()] + name + question[m.end():]


_THING = re.compile(r"\bthe\s+((?:[a-z][\w-]*\s+){0,2}[a-z][\w-]*)(?=\s*(?:\?|$|,))")
_TIME_NOUNS = frozenset("day days week weeks month months year years morning afternoon evening night time moment end start".split())


def _candidate_pools(turn: Turn) -> list[tuple[list[str], str]]:
    """Where a pronoun's name may come from in one earlier turn, nearest first: the name an elliptical
    question asked about ("And Marenland?"), a short answer (what "Who won?" was answered with), then
    the question as it was answered."""
    pools = []
    if turn.kind == ELLIPSIS and names_in(turn.question):
        pools.append((names_in(turn.question), turn.question))
    answer = turn.plain_answer
    if answer and turn.shape == "fact" and len(answer.split()) <= 15:
        pools.append((names_in(answer), answer))
    pools.append((names_in(turn.standalone), turn.standalone))
    return pools


def refer(kind: str, about: Turn, also: bool = False) -> str:
    """The standalone form of a turn about the last answer: what it asked and what it was told."""
    q, a = _strip_q(about.standalone), about.plain_answer
    if a and re.sub(r"[’']s?$", "", a.split()[0]) not in " ".join(names_in(a)).split():
        a = a[:1].lower() + a[1:]  # "An elliptical orbit" inside a sentence, a name as it is
    short = a and about.shape == "fact" and len(a.split()) <= 12
    if kind == WHY:
        statement = _as_statement(q, a) if short else ""
        return f"Why {statement}?" if statement else f"Why {a}? ({q}?)" if short else f"Why? ({q}?)"
    if kind == MORE:
        return f"Tell me more about {a} ({q}?)" if short else f"Tell me more: {q}?"
    what = f"{a} ({q}?)" if short else f"{q}?"
    return f"Which other articles say {what}" if also else f"Which articles say {what}"


_AUX = r"(?:did|does|do|was|were|is|are|has|have|had|will|would|can|could|should)"


def _as_statement(question: str, answer: str) -> str:
    """What a wh-question and its answer say together, as the rest of a "why" question: "What did
    Ostrevia refuse to sign?" + "Annex B" → "did Ostrevia refuse to sign Annex B"; "Who asked for the
    recount?" + "Hasselgren's campaign" → "Hasselgren's campaign asked for the recount". "" when the
    question has neither form."""
    m = re.match(rf"^(?:what|which|where|when|who|whom)(?:\s+\w+)?\s+({_AUX})\s+(.+)$", question, re.IGNORECASE)
    if m and not re.match(r"^(?:how|why)\b", question, re.IGNORECASE):
        return f"{m.group(1).lower()} {m.group(2)} {answer}"
    m = re.match(r"^(?:who|what)\s+(?!" + _AUX + r"\b)(\w+\b.*)$", question, re.IGNORECASE)
    if m:
        return f"{answer} {m.group(1)}"
    return ""


def topic_names(history: list[Turn]) -> list[str]:
    """The names the conversation is about: those of its questions (as answered), oldest first, not
    the names that came from an answer."""
    from_answers = {n for t in history for n in names_in(t.plain_answer)} if history else set()
    out = []
    for t in history:
        for n in names_in(t.standalone):
            if n not in from_answers and n not in out:
                out.append(n)
    return out


def with_topic(question: str, history: list[Turn]) -> str:
    """``question`` with the conversation's topic added when it names none of it: "Who scored for
    England?" after questions about "the Euro 2024 final" → "Who scored for England? (Euro 2024 final)"."""
    topic = [n for n in topic_names(history) if n not in names_in(question)]
    if not topic or any(n in question for n in topic_names(history)):
        return question
    phrases = []
    for t in history:
        for n in topic:
            m = re.search(r"\bthe\s+" + re.escape(n) + r"\s+([a-z][\w-]+)\b(?!\s+(?:of|to)\b)", t.standalone)
            phrase = f"{n} {m.group(1)}" if m and m.group(1) not in _PREPS else n
            if n not in " ".join(phrases):
                phrases.append(phrase)
    return f"{_strip_q(question)}? ({', '.join(phrases[:3])})"


def substitute(frame: str, fragment: str) -> str:
    """The earlier question ``frame`` with ``fragment`` ("for England", "Carrow", "the second day") put
    where its counterpart was; appended when there is none."""
    body = _strip_q(frame)
    words = fragment.split()
    if fragment.lower().startswith("according to "):  # "And according to Ostrevia?": the other source's figure
        m = re.search(r"\baccording to\s+[^,?;]+", body, re.IGNORECASE)
        if m:
            return f"{body[:m.start()]}{body[m.start():m.start() + 1]}{fragment[1:]}{body[m.end():]}?"
        return f"{body}, {fragment}?"
    prep = words[0].lower() if words[0].lower() in _PREPS else ""
    obj = " ".join(words[1:]) if prep else fragment
    if prep:
        for p in [prep] + sorted(_PLACE_PREPS - {prep} if prep in _PLACE_PREPS else []):
            spans = list(re.finditer(rf"\b{p}\s+((?:the\s+)?[^,?;]*?)(?=\s+(?:{'|'.join(_PREPS)}|and|or|who|which|that)\b|[,?;]|$)",
                                     body))
            spans = [s for s in spans if p == prep or names_in(s.group(1))]
            if spans:
                s = spans[-1]
                return f"{body[:s.start()]}{prep} {obj}{body[s.end():]}?"
        return f"{body} {fragment}?"
    if fragment[:1].isupper() and names_in(fragment):
        new = names_in(fragment)[0]
        olds = [n for n in names_in(body) if n not in names_in(fragment)]
        if olds:
            context = [n for n in olds if re.search(rf"\b(?:the|in|at|during|of)\s+{re.escape(n)}\b", body)]
            old = next((n for n in olds if n not in context), olds[0])
            own = re.search(r"[’']s?$", fragment)
            return re.sub(rf"{re.escape(old)}(?:[’']s?\b|[’'](?=\s))?",
                          lambda m: fragment + ("" if own else m.group(0)[len(old):]), body, count=1) + "?"
        return f"{body} ({fragment})?"
    head = words[-1].lower().rstrip("s")
    m = None
    for m in re.finditer(rf"\b(?:the|a|an|this|that|its|their|his|her)\s+(?:[\w’'-]+\s+){{0,3}}?{re.escape(head)}s?\b", body,
                         re.IGNORECASE):
        pass
    if m:
        return f"{body[:m.start()]}{fragment}{body[m.end():]}?"
    copular = re.match(r"^((?:who|what|which(?: \w+)?) (?:is|are|was|were)) [^?]*[’']s? ", body, re.IGNORECASE)
    if copular and words[0].lower() in ("its", "their", "his", "her", "the"):
        # "Who is Brightwater's chief legal officer?" + "its chief executive" → "Who is its chief executive?"
        return f"{copular.group(1)} {fragment}?"
    return f"{body} ({fragment})?"


class ModelRewriter(Rewriter):
    """A chat model writes the standalone question, shown worked examples and the rules' reading as a hint,
    under a grammar that keeps it to one question. The turns about the last answer (why, more, source) are
    always the rules'. ``mode``:

    - ``"model"``: the model reads every later turn, and decides itself whether it is a follow-up (a
      question it returns unchanged is new);
    - ``"followups"``: the rules decide whether a turn is a follow-up; the model writes every follow-up;
    - ``"hybrid"``: the rules decide, and keep the pronouns they resolve (a name put for "it", "their");
      the model writes the elliptical turns ("And Marenland?", "What about the second day?").

    A reply that is empty or too long falls back to the rules' rewrite."""

    name = "model"
    MODES = ("model", "followups", "hybrid")

    def __init__(self, generator, rules: Rewriter | None = None, max_tokens: int = 60, mode: str = "followups"):
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {self.MODES}, got {mode!r}")
        self.generator = generator
        self.rules = rules or RuleRewriter()
        self.max_tokens = max_tokens
        self.mode = mode
        self.name = "model" if mode == "model" else f"model-{mode}"

    @staticmethod
    def rules_sure(question: str, rewritten: str) -> bool:
        """Whether the rules' name for a pronoun agrees with it: a person for "he", "she", "his", "her"; not a
        lone person for "they", "their" ("their prime minister" is a country's); not a person for "it", "its"."""
        m = _PRONOUN.search(question)
        if not m:
            return True
        name = next((n for n in names_in(rewritten) if n not in names_in(question)), "")
        if not name:
            return False
        person = _person_like(name, rewritten)
        pronoun = m.group(1).lower()
        return person if pronoun in _PERSONAL else not person

    def resolve(self, question: str, history: list[Turn]) -> Resolved:
        ruled = self.rules.resolve(question, history)
        if ruled.kind in REFERS_TO_ANSWER or not history:
            return ruled
        if ruled.kind == NEW and self.mode != "model":
            return ruled
        if ruled.kind == PRONOUN and self.mode == "hybrid" and self.rules_sure(question, ruled.question):
            return ruled
        from . import prompts

        hint = ruled.question if ruled.kind != NEW else ""
        reply = "".join(self.generator.stream(prompts.rewrite_messages(question, history[-3:], hint),
                                              max_tokens=self.max_tokens, grammar=prompts.REWRITE_GRAMMAR)).strip()
        reply = " ".join(reply.splitlines()[0].split()) if reply else ""
        if not reply.endswith("?") or len(reply) > 3 * len(ruled.question) + 80:
            return ruled  # empty, not a question (a server may ignore the grammar), or rambling
        if _strip_q(reply).lower() == _strip_q(question).lower():
            return ruled  # unchanged: new for the model, or a follow-up it did not resolve (the rules' reading)
        if ruled.kind == NEW:
            kind = PRONOUN if _PRONOUN.search(question) else ELLIPSIS
            return Resolved(reply, kind, history[-1])
        return Resolved(reply, ruled.kind, ruled.about, ruled.sources)
