"""Answers as chat HTML: [n] markers that open their source, each quote highlighted in its paragraph
with the words that carry the answer in bold.

Pure functions of an ``Answer`` and the stored articles; no Gradio import, so they test fast.
"""

from __future__ import annotations

import html
import re
from typing import Callable, Iterable

from rag.answer import Answer, Citation
from rag.conversation import Turn
from rag.store import StoredArticle

_MARKER = re.compile(r"\[(\d+)\]")
CONTEXT_CHARS = 400  # at most this much paragraph on each side of a quote


def paragraph_around(text: str, start: int, end: int) -> tuple[str, str, str]:
    """(before, quote, after): the quote and the rest of its paragraph, trimmed to CONTEXT_CHARS."""
    a = text.rfind("\n", 0, start) + 1
    b = text.find("\n", end)
    b = len(text) if b < 0 else b
    before, after = text[max(a, start - CONTEXT_CHARS):start], text[end:min(b, end + CONTEXT_CHARS)]
    if start - a > CONTEXT_CHARS:
        before = "…" + before
    if b - end > CONTEXT_CHARS:
        after += "…"
    return before, text[start:end], after


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


def _byline(article: StoredArticle | None, citation: Citation) -> str:
    if article is None:
        return html.escape(citation.source)
    title = html.escape(article.title or citation.title or citation.source)
    extra = " · ".join(html.escape(x) for x in (article.outlet, article.date) if x)
    return f"<strong>{title}</strong>" + (f" <span class='meta'>{extra}</span>" if extra else "") + \
        f" <span class='file'>{html.escape(citation.source)}</span>"


def answer_spans(highlights: Iterable[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    """The highlights that fall in ``start:end``, clipped to it, sorted and merged, relative to ``start``."""
    merged: list[tuple[int, int]] = []
    for a, b in sorted((max(a, start), min(b, end)) for a, b in highlights):
        if a >= b:
            continue  # outside the quote, or empty
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return [(a - start, b - start) for a, b in merged]


def mark_quote(quote: str, spans: list[tuple[int, int]]) -> str:
    """The quote in <mark>, each answer span (sorted, disjoint, relative to the quote) in <strong class='ans'>."""
    parts, pos = [], 0
    for a, b in spans:
        parts.append(f"{_esc(quote[pos:a])}<strong class='ans'>{_esc(quote[a:b])}</strong>")
        pos = b
    return f"<mark>{''.join(parts)}{_esc(quote[pos:])}</mark>"


def render_source(uid: str, c: Citation, article: StoredArticle | None, open_: bool = False) -> str:
    if article is not None and article.text[c.start:c.end] == c.quote:
        before, quote, after = paragraph_around(article.text, c.start, c.end)
        body = f"{_esc(before)}{mark_quote(quote, answer_spans(c.highlights, c.start, c.end))}{_esc(after)}"
    else:  # the article changed or is gone: the quote alone, highlights still counted from c.start
        spans = answer_spans(c.highlights, c.start, c.start + len(c.quote))
        body = mark_quote(c.quote, spans)
    # Keyed by class: Gradio's HTML sanitiser keeps classes but drops data-* attributes.
    return (f"<details class='source src-{uid}-{c.n}'{' open' if open_ else ''}>"
            f"<summary><span class='num'>[{c.n}]</span> {_byline(article, c)}</summary>"
            f"<blockquote>{body}</blockquote></details>")


def render_answer(
    answer: Answer, article: Callable[[str], StoredArticle | None], uid: str,
    show_scores: bool = False, searched_for: str | None = None,
) -> str:
    """The chat message for a checked answer: text with clickable markers, then its sources."""
    text = html.escape(answer.text, quote=False)
    text = _MARKER.sub(lambda m: f"<a class='cite to-{uid}-{m.group(1)}' href='#'>[{m.group(1)}]</a>", text)
    # The shape and the kind of turn ride in classes (Gradio's sanitiser keeps those): the chat history the
    # page sends back is enough to read the next follow-up (``turn_from_message``).
    kinds = f" shape-{answer.shape or 'fact'} turn-{answer.followup}"
    parts = [f"<div class='answer{' declined' if answer.refused else ''}{kinds}'>{text}</div>"]
    if answer.note:
        parts.append(f"<div class='note'>{_esc(answer.note)}</div>")
    if searched_for:
        parts.append(f"<div class='rewritten'>Searched for: “{_esc(searched_for)}”</div>")
    if answer.citations:
        arts = {c.source: article(c.source) for c in answer.citations}
        sources = "".join(render_source(uid, c, arts[c.source], open_=(i == 0))
                          for i, c in enumerate(answer.citations))
        parts.append(f"<div class='sources'>{sources}</div>")
    if answer.closest:
        parts.append(render_closest(answer.closest, article))
    if answer.refused or show_scores:
        rows = answer.retrieved[:5]
        titles = []
        for source, score in rows:
            a = article(source)
            name = html.escape(a.title if a and a.title else source)
            titles.append(f"{name} ({score:.3f})" if show_scores else name)
        label = "Searched" if answer.refused else "Retrieved"
        parts.append(f"<div class='searched'>{label}: {'; '.join(titles) or 'nothing relevant in the index'}</div>")
    return "".join(parts)


def render_closest(closest, article: Callable[[str], StoredArticle | None]) -> str:
    """A decline's nearest sentences, labelled as not an answer. Their file names sit in a class of their own,
    not ``file``: a follow-up ("Which article says that?") must never read them as the answer's sources."""
    items = []
    for c in closest:
        a = article(c.source)
        title = _esc((a.title if a and a.title else c.title) or c.source)
        items.append(f"<div class='near'><span class='near-title'>{title}</span> <span class='near-file'>"
                     f"{_esc(c.source)}</span><blockquote>{_esc(c.quote)}</blockquote></div>")
    return f"<div class='closest'><div class='closest-label'>Closest passages found, not an answer:</div>{''.join(items)}</div>"


def render_error(message: str) -> str:
    return f"<div class='error'>⚠️ {_esc(message)}</div>"


def render_checked(sentences, uid: str) -> str:
    """An open answer while it is checked: the sentences that stood so far, with their markers."""
    text = html.escape(" ".join(s.text for s in sentences), quote=False)
    text = _MARKER.sub(lambda m: f"<a class='cite to-{uid}-{m.group(1)}' href='#'>[{m.group(1)}]</a>", text)
    return f"<div class='answer checking'>{text} <span class='draft'>checking…▌</span></div>"


def render_partial(text: str) -> str:
    """The reply while the model is still writing: shown as drafted, checked only at the end."""
    return f"<div class='draft'>{_esc(text)}▌</div>"


_ANSWER_DIV = re.compile(r"<div class=['\"]answer([^'\"]*)['\"]>(.*?)</div>", re.S)
_SEARCHED = re.compile(r"<div class=['\"]rewritten['\"]>Searched for: “(.*?)”</div>", re.S)
_FILE = re.compile(r"<span class=['\"]file['\"]>(.*?)</span>", re.S)
_TAG = re.compile(r"<[^>]+>")


def turn_from_message(question: str, content: str) -> Turn | None:
    """An earlier turn of the chat, read back from the assistant's message as ``render_answer`` wrote it
    (or as plain text, from a client of the API); None for an error or a reply still being written."""
    if "class='error'" in content or "class=\"error\"" in content or "class='draft'" in content:
        return None
    m = _ANSWER_DIV.search(content)
    if not m:  # plain text: the answer itself
        text = content.strip()
        return Turn(question, text, refused=text.lower().startswith("the articles don't say")) if text else None
    classes = m.group(1).split()
    text = html.unescape(_TAG.sub("", m.group(2))).strip()
    searched = _SEARCHED.search(content)
    sources = tuple(dict.fromkeys(html.unescape(f) for f in _FILE.findall(content)))
    shape = next((c[6:] for c in classes if c.startswith("shape-")), "fact")
    kind = next((c[5:] for c in classes if c.startswith("turn-")), "new")
    return Turn(question, text, html.unescape(searched.group(1)) if searched else "", "declined" in classes,
                sources, shape, kind)


def turns_from_chat(messages: list[dict], text_of: Callable[[object], str]) -> list[Turn]:
    """The conversation so far, from the chat's messages (user, assistant, user, ...)."""
    turns, question = [], None
    for m in messages or []:
        role, content = m.get("role"), text_of(m.get("content"))
        if role == "user":
            question = content
        elif role == "assistant" and question is not None:
            turn = turn_from_message(question, content)
            if turn is not None:
                turns.append(turn)
            question = None
    return turns
