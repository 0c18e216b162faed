"""The shape of answer a question wants, decided in one place, from the question alone.

- ``fact``: "who", "how many", "when", "which" ... a short answer ("Belarus [1].").
- ``open``: what happened, why, how, describe, summarize, compare, list the ...: a few cited sentences.
- ``overview``: what the articles (or one article) are about: an open answer over the articles' leading
  sentences rather than over passages matched to the question's words.

Rules on English question forms only, nothing about any article. Measured on the eval sets (every
question of a fact category must route ``fact``, every open one ``open`` or ``overview``):
``rag eval`` counts the misroutes in its summary (``shape_misroutes``).
"""

from __future__ import annotations

import re

FACT, OPEN, OVERVIEW = "fact", "open", "overview"

_POLITE = re.compile(r"^(?:(?:please|so|ok(?:ay)?|and|now|then)[\s,]+|(?:can|could|would|will) you (?:please )?|"
                     r"i(?:'d| would) like (?:you )?to (?:know|hear|understand)?\s*)+", re.IGNORECASE)
# Nouns that ask for several points, not one fact: "what topics did ...", "what were the main reasons ...".
_POINTS = (r"(?:topics|issues|subjects|points|themes|reasons|causes|consequences|effects|impacts|outcomes|takeaways|"
           r"highlights|details|arguments|concerns|criticisms|complaints|demands|measures|steps|changes|terms|findings|"
           r"lessons|implications|risks|problems|challenges|goals|aims|priorities|commitments|pledges|promises|"
           r"proposals|plans|events|developments|reactions|responses|views|positions|differences|similarities)")
_OPEN_STARTS = re.compile(
    r"^(?:summari[sz]e|sum up|recap|describe|explain|compare|contrast|outline|list|discuss|analy[sz]e|characteri[sz]e|"
    r"elaborate|walk me through|tell me (?:about|what|why|how|more)|(?:say|tell us|know) more\b|give (?:me )?(?:an? |the )?(?:short |brief |quick )?"
    r"(?:overview|summary|rundown|account|description|explanation|list)|"
    r"why\b|"
    r"how (?:did|does|do|was|were|is|are|has|have|had|will|would|could|can|should|come)\b|"
    r"what (?:happened|went wrong|is going on|was going on|is known|do we know|is the background|was the background|"
    r"is the context|was the context|is the story|was the story)\b|"
    rf"what (?:are|were|was|is) (?:the |some of the |some )?(?:main |key |major |most important |other |different )?{_POINTS}\b|"
    rf"(?:what|which) (?:main |key |major |other )?{_POINTS} (?:did|does|do|were|are|was|is|will|would|has|have|had)\b|"
    r"what (?:do|does|did) (?:the |these |this |both |all the |each of the )?(?:articles?|reports?|stories|story|sources?|"
    r"coverage|outlets?|papers?|texts?|documents?|pieces?)\b[^?]*\b(?:say|report|tell|write|cover|describe)\b|"
    r"what (?:did|does|do|has|have) [^?]{2,80}? (?:say|said|argue|claim|announce|promise|propose|warn|think|want|plan|"
    r"do) (?:about|on|regarding|after|in response|when|to)\b|"
    # what a study or a person concluded, urged or offered, what something means or is doing: several points
    r"what (?:did|does|do|has|have) [^?]{2,80}? (?:conclude|find|found|show|reveal|recommend|offer|include|"
    r"involve|require|think|expect)\b|"
    r"what (?:is|are|was|were) (?:still )?(?:unknown|known|planned|expected|happening|going on)\b|"
    r"what (?:is|are) [^?]{2,60}? doing (?:to|about)\b|"
    r"what (?:could|might|would|will|does|do) [^?]{2,80}? mean\b|"
    # "What options do tenants have?", "What benefits will members get?": things described, a list. Not "which
    # banks ...?" (names: a short answer of parts), "what two instruments" (a count of parts), "what years" (a time)
    r"what (?:[\w'’-]+ ){0,3}?(?:kinds|types|sorts) of \w+|"
    r"what (?!(?:did|does|do|was|were|is|are|has|have|had|will|would|can|could)\b)"
    r"(?!(?:[\w'’-]+ ){0,3}?(?:years|months|weeks|days|hours|dates|decades|centuries)\b)"
    r"(?:(?!many\b|much\b|two\b|three\b|four\b|five\b|\d)[\w'’-]+ ){0,3}?[a-z]{2,}s(?<!ss)(?<![iu]s) "
    r"(?:do|does|did|will|would|can|could|are|were|is|has|have|had|should|must)\b)",
    re.IGNORECASE,
)
# "What are these articles about?", "What is this article about?", "Summarize the articles", "give an overview".
_ABOUT_ARTICLES = re.compile(
    r"\b(?:articles?|stories|story|reports?|documents?|texts?|pieces?|coverage|sources?|library|collection|these|this|"
    r"them|it)\b[^?]{0,30}\babout\b\W*$|"
    r"^what(?:'s|’s| is)? in (?:the|my|this) (?:library|collection|index)\W*$|"
    # "What is “Lakeside town opens floating library” about?": one article, named by its title
    r"^what(?:'s|’s| is| are)\s+(?:the (?:article|story|report|piece) )?[“\"][^”\"]{3,200}[”\"]\s+about\W*$|"
    r"^(?:summari[sz]e|sum up|recap|describe|give (?:me )?(?:an? |the )?(?:short |brief |quick )?(?:overview|summary|rundown)"
    r"(?: of)?)\s+(?:the |these |this |each |all |both |all the |every |my )?(?:[\w'’-]+\s+){0,4}(?:articles?|stories|story|"
    r"reports?|documents?|texts?|pieces?|coverage|library|collection)\W*$|"
    r"\b(?:overview|gist|main points?|key points?|headlines?)\b[^?]*\b(?:articles?|stories|reports?|documents?|coverage|news)\b",
    re.IGNORECASE,
)


# "How did X describe / rate / call Y?" asks for the words or the grade used: a short answer.
_HOW_WORDED = re.compile(r"^how (?:did|does|do|was|were|is|are|has|have|had|will|would)\b[^?]*\b(?:describe[ds]?|rated?|rates|"
                         r"call(?:ed|s)?|characteri[sz]ed?|characteri[sz]es|term(?:ed|s)?|label(?:l?ed|s)?|refer(?:red|s)? to|"
                         r"classif(?:y|ied|ies)|score[ds]?|grade[ds]?|rank(?:ed|s)?|sum(?:med)? up|nickname[ds]?)\b", re.IGNORECASE)


def shape_of(question: str) -> str:
    """``fact``, ``open`` or ``overview`` for this question."""
    q = _POLITE.sub("", " ".join(question.split())).strip(" \"“”'")
    if _ABOUT_ARTICLES.search(q):
        return OVERVIEW
    if _OPEN_STARTS.search(q) and not _HOW_WORDED.search(q):
        return OPEN
    return FACT


def is_open(shape: str) -> bool:
    return shape in (OPEN, OVERVIEW)
