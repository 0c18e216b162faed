"""The library as a whole: choosing articles to chat with, example questions from the articles in it,
and an overview of all of it, its articles grouped by event.

No model reads here. Groups come from the articles' lead vectors (what the index already holds), and
each line of an overview quotes its group's lead sentence verbatim, so every line is cited.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .errors import InputError
from .store import StoredArticle
from .text import content_terms, sentence_spans

# Two articles' lead vectors (the mean of their first three chunk vectors, MiniLM, cosine) at least this
# close, on average over two groups, put them in one group. Chosen on the dev events of evals/corpus (four
# outlets each: 0.40 to 0.60 all give the four events) and the 24 dev pages of evals/realpages (unrelated:
# 0.50 merged two pairs, 0.55 none).
SAME_EVENT = 0.55
MAX_LINES = 10  # groups an overview lists; the rest are counted
MAX_EXAMPLES = 4
MIN_LEAD_WORDS = 8


# -- choosing articles ---------------------------------------------------------------------------------
def _fields(article: StoredArticle) -> tuple[str, ...]:
    return tuple(x.lower() for x in (article.source, article.title, article.outlet, article.date) if x)


def choose(articles: Sequence[StoredArticle], patterns: Sequence[str]) -> frozenset[str] | None:
    """The file names of the articles ``patterns`` choose; None (every article) when there are none.

    A pattern matches an article by its file name, title, outlet or date: exactly, or as a glob
    (``*.html``, ``BBC*``, ``2024-03*``), ignoring case. InputError names a pattern that matches nothing."""
    patterns = [p.strip() for p in patterns or () if p and p.strip()]
    if not patterns:
        return None
    chosen: set[str] = set()
    for pattern in patterns:
        p = pattern.lower()
        found = {a.source for a in articles if any(f == p or fnmatch.fnmatchcase(f, p) for f in _fields(a))}
        if not found:
            raise InputError(f"no article in the library matches {pattern!r} (by file name, title, outlet or "
                             "date; see `rag list`)")
        chosen |= found
    return frozenset(chosen)


# -- example questions ---------------------------------------------------------------------------------
MAX_TITLE_CHARS = 90


def title_of(article: StoredArticle) -> str:
    """The title a question can name: the stored title, cut at a word before MAX_TITLE_CHARS; "" when it
    is only the file name."""
    title = " ".join((article.title or "").split()).strip(" \"“”")
    if not title or title == article.source or len(title.split()) < 2:
        return ""
    if len(title) > MAX_TITLE_CHARS:
        title = title[:MAX_TITLE_CHARS].rsplit(" ", 1)[0].rstrip(",;:-–—") + "…"
    return title


def example_questions(articles: Sequence[StoredArticle], most: int = MAX_EXAMPLES) -> list[str]:
    """Questions the library can answer, from the articles in it: an overview of the library, then what
    single articles are about, by their titles. The user's own articles come before the demo's."""
    if not articles:
        return []
    own = [a for a in articles if not a.demo]
    pool = own or list(articles)
    out = ["What are these articles about?"] if len(articles) > 1 else []
    seen = set()
    for a in pool:
        title = title_of(a)
        if title and title.lower() not in seen:
            seen.add(title.lower())
            out.append(f"What is “{title}” about?")
        if len(out) >= most:
            break
    return out


# -- the overview --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Group:
    """Articles on one event, the most central first."""

    articles: tuple[StoredArticle, ...]

    @property
    def lead(self) -> StoredArticle:
        return self.articles[0]


def group_articles(articles: Sequence[StoredArticle], vectors: dict[str, np.ndarray],
                   threshold: float = SAME_EVENT) -> list[Group]:
    """Average-link grouping of ``articles`` by the cosine of their ``vectors``: two groups merge while
    their mean similarity is at least ``threshold``. Biggest groups first; an article without a vector is
    a group of its own."""
    arts = [a for a in articles if a.source in vectors]
    alone = [Group((a,)) for a in articles if a.source not in vectors]
    if not arts:
        return alone
    m = np.stack([vectors[a.source] for a in arts]).astype(np.float32)
    m /= np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-9)
    sim = m @ m.T
    members = [[i] for i in range(len(arts))]
    link = sim.copy()  # mean similarity between groups
    np.fill_diagonal(link, -np.inf)
    alive = np.ones(len(arts), dtype=bool)
    while alive.sum() > 1:
        i, j = np.unravel_index(np.argmax(link), link.shape)
        if link[i, j] < threshold:
            break
        ni, nj = len(members[i]), len(members[j])
        merged = (ni * link[i] + nj * link[j]) / (ni + nj)
        link[i], link[:, i] = merged, merged
        link[i, i] = -np.inf
        link[j], link[:, j] = -np.inf, -np.inf
        members[i] += members[j]
        members[j] = []
        alive[j] = False
    groups = []
    for idx in (g for g in members if g):
        central = sorted(idx, key=lambda k: (-float(sim[k, idx].mean()), arts[k].source))  # nearest the rest first
        groups.append(Group(tuple(arts[k] for k in central)))
    groups.sort(key=lambda g: (-len(g.articles), g.lead.source))
    return groups + alone


def lead_sentence(article: StoredArticle) -> tuple[int, int] | None:
    """The span of the article's first real sentence (its lede): at least MIN_LEAD_WORDS words, ended by
    a full stop, not the headline or a byline. None when it has none."""
    title = (article.title or "").strip().lower()
    first = None
    for a, b in sentence_spans(article.text):
        s = article.text[a:b].strip()
        words = s.split()
        if not words or s.lower() == title or re.match(r"(?i)^by\s", s):
            continue
        first = first or (a, b)
        if len(words) >= MIN_LEAD_WORDS and s[-1] in ".!?\"”’'" and "\n" not in s:
            return a, b
    return first


@dataclass(frozen=True)
class Line:
    """One line of an overview: a group, and the lead sentences (of its articles) that say what it is about."""

    group: Group
    leads: tuple[tuple[StoredArticle, int, int], ...]  # (article, start, end), the first from group.lead


@dataclass(frozen=True)
class Overview:
    """What the library is about: its biggest groups, each with its quoted lead; the rest counted."""

    lines: tuple[Line, ...]
    articles: int
    groups: int
    rest_articles: int = 0
    rest_groups: int = 0


def overview(articles: Sequence[StoredArticle], vectors: dict[str, np.ndarray], most: int = MAX_LINES,
             threshold: float = SAME_EVENT) -> Overview:
    """The overview of ``articles`` (with their text): up to ``most`` groups, biggest first. A small library
    says more of each group: the leads of up to three of its articles (two with four or five groups), each
    adding words the others do not have."""
    groups = group_articles(articles, vectors, threshold)
    per_group = 3 if len(groups) <= 3 else 2 if len(groups) <= 5 else 1
    lines = []
    for g in groups[:most]:
        leads: list[tuple[StoredArticle, int, int]] = []
        seen: list[set] = []
        for a in g.articles:
            span = lead_sentence(a)
            if span is None:
                continue
            terms = set(content_terms(a.text[span[0]:span[1]]))
            if any(len(terms & t) / max(1, len(terms | t)) >= 0.4 for t in seen):
                continue  # the same lead in other words: it adds nothing
            leads.append((a, *span))
            seen.append(terms)
            if len(leads) == per_group:
                break
        if leads:
            lines.append(Line(g, tuple(leads)))
    shown = {id(line.group) for line in lines}
    rest = [g for g in groups if id(g) not in shown]
    return Overview(tuple(lines), len(articles), len(groups), sum(len(g.articles) for g in rest), len(rest))


def group_label(group: Group) -> str:
    """What a group is called: the headline of its articles that reads most like one (3 to 16 words, the
    fewest; a page without a headline has its first sentence for a title), else the lead's file name."""
    titles = [t for t in (title_of(a) for a in group.articles) if t]
    headlines = [t for t in titles if 3 <= len(t.split()) <= 16 and not t.endswith("…")]
    return min(headlines, key=lambda t: len(t.split()), default=titles[0] if titles else group.lead.source)


def overview_text(ov: Overview) -> str:
    """The overview as the answer's text, one line a group, each of its sentences cited [n], numbered
    in order."""
    if not ov.lines:
        return ""
    head = (f"The library holds {ov.articles} article{'s' if ov.articles != 1 else ''}"
            + (f" on {ov.groups} subjects" if ov.groups > 1 else "") + ":")
    rows, n = [], 0
    for line in ov.lines:
        g = line.group
        label = group_label(g)
        count = len(g.articles)
        outlets = sorted({a.outlet for a in g.articles if a.outlet})
        about = f" ({count} articles" + (f": {', '.join(outlets[:4])}" if outlets else "") + ")" if count > 1 else ""
        said = []
        for article, a, b in line.leads:
            n += 1
            said.append(f"{' '.join(article.text[a:b].split())} [{n}]")
        rows.append(f"- {label}{about}: {' '.join(said)}")
    tail = []
    if ov.rest_articles:
        tail.append(f"… and {ov.rest_articles} more article{'s' if ov.rest_articles != 1 else ''}"
                    + (f" on {ov.rest_groups} other subjects." if ov.rest_groups > 1 else " on one other subject."))
    return "\n".join([head, *rows, *tail])
