#!/usr/bin/env python3
"""Validate the article question-answering evaluation set (JSON Lines).

Usage:
    python evals/check_evalset.py evals/seeds_qa.jsonl [--seeds seeds/]
    python evals/check_evalset.py evals/corpus/questions.jsonl --seeds evals/corpus/articles --strict

Default seeds directory: the ``seeds/`` folder next to ``evals/`` (i.e. the
repository's ``seeds/``); if that does not exist, ``../shared/seeds`` relative
to the repository root is tried.

Each line is one question with the keys (in this order)::

    id, question, answer, keywords, sources, answerable, split, category

``keywords`` is a list of groups; a correct answer must contain at least one
alternative of every group, matched case-insensitively at a word start
(``r"(?<!\\w)" + re.escape(alt)``).

Articles may be ``.txt``, ``.md``, ``.html`` or ``.pdf``: they are read as the chatbot reads them
(``rag.parse.load_article``), whitespace collapsed, so a keyword is looked for in the text the
chatbot sees. With ``--strict`` (the rules of ``evals/corpus``), ``paraphrase`` questions must share
no content word with their sources (see :func:`paraphrase_overlap`), and no article may be cited by
questions of both splits: dev and test are split by event, not by question.

Open questions (the categories in :data:`OPEN_CATEGORIES`: summaries, why, describe, list, compare,
overview) are asked the way users ask; their keyword groups are the reference *points*, the distinct
facts a good answer states. An answerable open question has 2 to 5 groups, each occurring in at least
one of its sources. An open question may also be unanswerable (``answerable`` false, ``keywords`` and
``sources`` empty): an open near miss, whose premise is false or that no article answers; it keeps
its open category rather than ``unanswerable``.

Errors make the script exit with status 1; warnings are only printed.
The function :func:`check` returns the list of error messages and is what the
tests use.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

KEY_ORDER = ["id", "conversation", "turn", "question", "standalone", "answer", "keywords", "sources", "answerable", "split",
             "category", "followup", "wrong_side"]
REQUIRED_KEYS = ["id", "question", "answer", "keywords", "sources", "answerable", "category"]
CATEGORIES = {
    "single_fact",
    "multi_source",
    "repeated_fact",
    "cross_article",
    "two_step",
    "multi_part",
    "paraphrase",
    "number_date",
    "attribution",
    "unanswerable",
    "source",  # a conversation turn "Which article says that?": its keywords name the articles (file or title)
}
# The forms of a conversation turn (``followup``): how it leans on the turns before it.
FOLLOWUP_FORMS = {"first", "pronoun", "ellipsis", "why", "more", "source", "topic_change"}
# Open questions: summaries, "why", descriptions, lists, comparisons and overviews. Their keyword groups
# are the reference points of a good answer (OPEN_POINTS groups); an open question may be a near miss
# (answerable false) and keep its category.
OPEN_CATEGORIES = frozenset({"summary", "why", "describe", "list", "compare", "overview"})
OPEN_POINTS = (2, 5)
CATEGORIES |= OPEN_CATEGORIES
MULTI_SOURCE = ("multi_source", "repeated_fact", "cross_article")
ARTICLE_SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf")
# Words a paraphrased question may share with its article: question words, function words and
# words about the articles themselves.
PARAPHRASE_STOP = set("""
what which when where whom whose does did have having been were that this these those with from into about
there their they them than then would could should will also just only some many much more most other
after before over under during being according article articles report reports reported coverage said says
tell told name named kind sort type make made give given take took happen happened person people thing
things place time year years day days first last what's your each both very even while because
""".split())
SPLITS = {"dev", "test"}
UNANSWERABLE_ANSWER = "The articles don't say."

REPO_ROOT = Path(__file__).resolve().parents[1]


def default_seeds_dir() -> Path:
    """The repo's ``seeds/`` folder, falling back to ``../shared/seeds``."""
    primary = REPO_ROOT / "seeds"
    if primary.is_dir():
        return primary
    shared = REPO_ROOT.parent / "shared" / "seeds"
    if shared.is_dir():
        return shared
    return primary


def keyword_pattern(alt: str) -> "re.Pattern[str]":
    """Case-insensitive match of ``alt`` at a word start."""
    return re.compile(r"(?<!\w)" + re.escape(alt), re.IGNORECASE)


def matches(alt: str, text: str) -> bool:
    return keyword_pattern(alt).search(text) is not None


def group_matches(group: list, text: str) -> bool:
    return any(matches(alt, text) for alt in group)


def read_article(path: Path) -> str:
    """The article's text as the chatbot reads it, whitespace collapsed (PDF lines break mid-sentence)."""
    if path.suffix.lower() == ".txt":
        text = path.read_text(encoding="utf-8")
    else:
        sys.path.insert(0, str(REPO_ROOT))
        from rag.parse import load_article

        text = load_article(path).text
    return " ".join(text.split())


def paraphrase_overlap(question: str, texts) -> list[str]:
    """Content words of the question (4+ letters, not in PARAPHRASE_STOP) that occur in the texts,
    also with a plural "s"/"es" added or taken away."""
    words = {w for t in texts for w in re.findall(r"[a-z]+", t.lower())}
    shared = []
    for w in re.findall(r"[a-z']+", question.lower()):
        w = w.strip("'")
        if len(w) < 4 or w in PARAPHRASE_STOP:
            continue
        forms = {w, w + "s", w + "es", w[:-1] if w.endswith("s") else w, w[:-2] if w.endswith("es") else w}
        if forms & words:
            shared.append(w)
    return shared


def _is_str_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def load_items(path: Path) -> tuple[list[tuple[int, object]], list[str]]:
    """Parse the JSONL file; returns ``[(line_no, obj), ...]`` and parse errors."""
    items: list[tuple[int, object]] = []
    errors: list[str] = []
    try:
        raw = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        return [], [f"cannot read {path}: {exc}"]
    for line_no, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            items.append((line_no, json.loads(line)))
        except json.JSONDecodeError as exc:
            errors.append(f"line {line_no}: invalid JSON ({exc.msg})")
    if not items and not errors:
        errors.append(f"{path}: no questions found")
    return items, errors


def check_full(path, seeds_dir=None, strict: bool = False) -> tuple[list[str], list[str], list[dict]]:
    """Validate the file. Returns ``(errors, warnings, valid_items)``."""
    path = Path(path)
    seeds = Path(seeds_dir) if seeds_dir is not None else default_seeds_dir()
    errors: list[str] = []
    warnings: list[str] = []
    good: list[dict] = []

    if not seeds.is_dir():
        return [f"seeds directory not found: {seeds}"], warnings, good

    items, parse_errors = load_items(path)
    errors.extend(parse_errors)

    text_cache: dict[str, str] = {}

    def source_text(name: str):
        if name not in text_cache:
            fp = seeds / name
            if "/" in name or "\\" in name or not fp.is_file():
                text_cache[name] = None  # type: ignore[assignment]
            else:
                text_cache[name] = read_article(fp)
        return text_cache[name]

    seen_ids: dict[str, int] = {}
    seen_questions: dict[str, str] = {}

    for line_no, obj in items:
        where = f"line {line_no}"
        if not isinstance(obj, dict):
            errors.append(f"{where}: expected a JSON object, got {type(obj).__name__}")
            continue
        qid = obj.get("id")
        if isinstance(qid, str) and qid:
            where = f"line {line_no} ({qid})"
        item_errors: list[str] = []

        # --- keys ---------------------------------------------------------
        missing = [k for k in REQUIRED_KEYS if k not in obj]
        if missing:
            item_errors.append(f"{where}: missing key(s) {missing}")
        unknown = [k for k in obj if k not in KEY_ORDER]
        if unknown:
            warnings.append(f"{where}: unknown key(s) {unknown}")
        present = [k for k in obj if k in KEY_ORDER]
        expected = [k for k in KEY_ORDER if k in obj]
        if present != expected:
            warnings.append(f"{where}: keys not in the standard order {expected}")

        # --- types --------------------------------------------------------
        if "id" in obj:
            if not isinstance(qid, str) or not qid.strip():
                item_errors.append(f"{where}: 'id' must be a non-empty string")
            elif qid in seen_ids:
                item_errors.append(f"{where}: duplicate id {qid!r} (first on line {seen_ids[qid]})")
            else:
                seen_ids[qid] = line_no
        for key in ("question", "answer"):
            if key in obj and (not isinstance(obj[key], str) or not obj[key].strip()):
                item_errors.append(f"{where}: '{key}' must be a non-empty string")
        question = obj.get("question")
        if isinstance(question, str) and question.strip():
            norm = " ".join(question.lower().split())
            if norm in seen_questions:
                warnings.append(f"{where}: same question text as {seen_questions[norm]}")
            else:
                seen_questions[norm] = where

        keywords = obj.get("keywords")
        keywords_ok = isinstance(keywords, list) and all(
            isinstance(g, list) and g and all(isinstance(a, str) and a.strip() for a in g)
            for g in keywords
        )
        if "keywords" in obj and not keywords_ok:
            item_errors.append(
                f"{where}: 'keywords' must be a list of non-empty lists of non-empty strings"
            )
        sources = obj.get("sources")
        sources_ok = _is_str_list(sources)
        if "sources" in obj and not sources_ok:
            item_errors.append(f"{where}: 'sources' must be a list of strings")
        answerable = obj.get("answerable")
        if "answerable" in obj and not isinstance(answerable, bool):
            item_errors.append(f"{where}: 'answerable' must be true or false")
        category = obj.get("category")
        if "category" in obj and category not in CATEGORIES:
            item_errors.append(f"{where}: unknown category {category!r} (allowed: {sorted(CATEGORIES)})")
        if "split" in obj and obj["split"] not in SPLITS:
            item_errors.append(f"{where}: split must be one of {sorted(SPLITS)}, got {obj['split']!r}")

        if isinstance(answerable, bool) and category in CATEGORIES:
            if answerable and category == "unanswerable":
                item_errors.append(f"{where}: category 'unanswerable' but answerable is true")
            if not answerable and category != "unanswerable" and category not in OPEN_CATEGORIES:
                item_errors.append(f"{where}: answerable is false but category is {category!r} "
                                   "(only 'unanswerable' and the open categories may be unanswerable)")

        # --- content ------------------------------------------------------
        if answerable is False:
            if keywords_ok and keywords:
                item_errors.append(f"{where}: unanswerable question must have empty 'keywords'")
            if sources_ok and sources:
                item_errors.append(f"{where}: unanswerable question must have empty 'sources'")
            if (category not in OPEN_CATEGORIES and isinstance(obj.get("answer"), str)
                    and obj["answer"].strip() != UNANSWERABLE_ANSWER):
                warnings.append(f"{where}: unanswerable answer is not {UNANSWERABLE_ANSWER!r}")
        elif answerable is True:
            if keywords_ok and not keywords:
                item_errors.append(f"{where}: answerable question needs at least one keyword group")
            if sources_ok and not sources:
                item_errors.append(f"{where}: answerable question needs at least one source")
            lo, hi = OPEN_POINTS
            if category in OPEN_CATEGORIES and keywords_ok and keywords and not lo <= len(keywords) <= hi:
                item_errors.append(f"{where}: open question ({category}) needs {lo} to {hi} keyword groups "
                                   f"(its points), has {len(keywords)}")
            if sources_ok:
                dupes = sorted(n for n, c in Counter(sources).items() if c > 1)
                if dupes:
                    item_errors.append(f"{where}: duplicate source(s) {dupes}")
                if category in MULTI_SOURCE and len(set(sources)) < 2:
                    item_errors.append(f"{where}: category {category!r} needs at least two sources")
            texts: dict[str, str] = {}
            if sources_ok:
                for name in sources:
                    text = source_text(name)
                    if text is None:
                        item_errors.append(f"{where}: source file not found: {seeds / name}")
                    else:
                        texts[name] = text
            if category == "source":  # its keywords are the articles' file names or titles, not their words
                if keywords_ok and not any(alt in sources or any(alt.lower() in t.lower()[:300] for t in texts.values())
                                           for g in keywords for alt in g):
                    item_errors.append(f"{where}: a source turn's keywords must name its sources (file or title)")
            elif keywords_ok and keywords and texts and len(texts) == len(set(sources)):
                for group in keywords:
                    if not any(group_matches(group, t) for t in texts.values()):
                        item_errors.append(
                            f"{where}: keyword group {group} occurs in none of its sources {sorted(texts)}"
                        )
                for name, text in texts.items():
                    if not any(group_matches(group, text) for group in keywords):
                        warnings.append(f"{where}: no keyword group matches listed source {name}")
            if strict and category == "paraphrase" and texts and isinstance(question, str):
                shared = paraphrase_overlap(question, texts.values())
                if shared:
                    item_errors.append(f"{where}: paraphrase question shares words with its sources: {shared}")

        errors.extend(item_errors)
        if not item_errors:
            good.append(obj)

    if strict:
        splits_of: dict[str, set] = {}
        for obj in good:
            for name in obj.get("sources") or []:
                splits_of.setdefault(name, set()).add(obj.get("split"))
        for name, splits in sorted(splits_of.items()):
            if len(splits) > 1:
                errors.append(f"article {name} is cited by questions of several splits {sorted(map(str, splits))}: "
                              "split by event, not by question")
    errors += conversation_errors([obj for _, obj in items if isinstance(obj, dict)])
    return errors, warnings, good


def conversation_errors(objs: list[dict]) -> list[str]:
    """A conversation set's structure: turns 1..n in file order, the first a standalone "first", each
    with a ``standalone`` form (the question itself for "first" and "topic_change"), one split each."""
    turns = [o for o in objs if "conversation" in o or "turn" in o]
    if not turns:
        return []
    errors, by_conv = [], {}
    for o in turns:
        by_conv.setdefault(o.get("conversation"), []).append(o)
        where = o.get("id", "?")
        if o.get("followup") not in FOLLOWUP_FORMS:
            errors.append(f"{where}: followup must be one of {sorted(FOLLOWUP_FORMS)}")
        if not isinstance(o.get("standalone"), str) or not o["standalone"].strip():
            errors.append(f"{where}: a conversation turn needs its 'standalone' form")
        elif o.get("followup") in ("first", "topic_change") and o["standalone"] != o.get("question"):
            errors.append(f"{where}: a {o['followup']} turn stands alone: 'standalone' must be the question")
        if o.get("wrong_side") is not None and not _is_str_list(o["wrong_side"]):
            errors.append(f"{where}: 'wrong_side' must be a list of strings")
    for conv, ts in by_conv.items():
        if [t.get("turn") for t in ts] != list(range(1, len(ts) + 1)):
            errors.append(f"conversation {conv}: turns must be 1..n in file order")
        if ts[0].get("followup") != "first":
            errors.append(f"conversation {conv}: turn 1 must be 'first'")
        if len({t.get("split") for t in ts}) > 1:
            errors.append(f"conversation {conv}: all its turns must be of one split")
    return errors


def check(path, seeds_dir=None, strict: bool = False) -> list[str]:
    """Validate ``path`` against the articles in ``seeds_dir``; return the errors."""
    return check_full(path, seeds_dir, strict)[0]


def summary(items: list[dict], seeds_dir: Path) -> str:
    """Counts per category, per split and per source as a plain-text table."""
    lines: list[str] = []
    splits = sorted({str(it.get("split", "-")) for it in items} | SPLITS)

    def table(title: str, rows: dict[str, Counter]) -> None:
        width = max([len(title)] + [len(r) for r in rows]) + 2
        lines.append(f"{title:<{width}}" + "".join(f"{s:>7}" for s in splits) + f"{'total':>7}")
        for name in sorted(rows):
            counts = rows[name]
            lines.append(
                f"{name:<{width}}" + "".join(f"{counts.get(s, 0):>7}" for s in splits)
                + f"{sum(counts.values()):>7}"
            )
        lines.append("")

    by_cat: dict[str, Counter] = {}
    by_src: dict[str, Counter] = {}
    for it in items:
        split = str(it.get("split", "-"))
        by_cat.setdefault(str(it.get("category")), Counter())[split] += 1
        for src in it.get("sources") or []:
            by_src.setdefault(src, Counter())[split] += 1
    if seeds_dir.is_dir():
        for fp in sorted(p for p in seeds_dir.iterdir() if p.suffix.lower() in ARTICLE_SUFFIXES):
            by_src.setdefault(fp.name, Counter())
    table("category", by_cat)
    table("source", by_src)
    total = Counter(str(it.get("split", "-")) for it in items)
    lines.append(
        f"total questions: {len(items)}  ("
        + ", ".join(f"{s}: {total.get(s, 0)}" for s in splits)
        + f"); unanswerable: {sum(1 for it in items if it.get('answerable') is False)}"
        + f"; open: {sum(1 for it in items if it.get('category') in OPEN_CATEGORIES)}"
        + f" ({sum(1 for it in items if it.get('category') in OPEN_CATEGORIES and it.get('answerable') is False)}"
        + " near misses)"
    )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", help="evaluation set (JSON Lines)")
    parser.add_argument("--seeds", default=None, help="directory with the article files")
    parser.add_argument("--strict", action="store_true",
                        help="corpus rules: paraphrases share no content word with their sources, and no "
                             "article is cited by both splits (split by event)")
    args = parser.parse_args(argv)
    seeds = Path(args.seeds) if args.seeds else default_seeds_dir()

    errors, warnings, items = check_full(args.path, seeds, args.strict)
    print(f"evaluation set: {args.path}\nseeds:          {seeds}\n")
    if items:
        print(summary(items, seeds))
        print()
    for w in warnings:
        print(f"WARNING: {w}")
    for e in errors:
        print(f"ERROR: {e}")
    if errors:
        print(f"\nFAILED: {len(errors)} error(s), {len(warnings)} warning(s)")
        return 1
    print(f"OK: no errors, {len(warnings)} warning(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
