"""Main-text precision, recall and F1 of the web-page reader, old against new, scored by snippets the way
trafilatura's own evaluation does: a "with" snippet (main text) found in the output is a true positive,
missing a false negative; a "without" snippet (boilerplate) found is a false positive, absent a true negative.

The pages in pages/ are HAND-WRITTEN for this project (fictional news in the shapes that failed on real saved
pages: comments and related stories inside <article>, a cookie banner, no <article>, a results table, legacy
encodings declared or not); they are not a sample of the real web, and their figures say only that these
shapes are read. Snippets are in snippets.json.

    python evals/webpages/score.py            # old reader as shipped, old reader on decoded text, new reader
    python evals/webpages/score.py --modes    # trafilatura's settings compared on the same pages
    python evals/webpages/score.py --corpus   # diff of old and new text of the eval corpus's .html articles
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from rag.errors import InputError  # noqa: E402
from rag.parse import _decode, _parse_html, soup_html  # noqa: E402


def _norm(text: str) -> str:
    return " ".join(text.split())


def score(pages: dict[str, dict], read) -> dict[str, float]:
    """Counts and figures for one reader: read(path) -> text ("" when the page is refused)."""
    tp = fn = fp = tn = 0
    for name, snippets in pages.items():
        text = _norm(read(HERE / "pages" / name))
        for s in snippets["with"]:
            tp, fn = (tp + 1, fn) if _norm(s) in text else (tp, fn + 1)
        for s in snippets["without"]:
            fp, tn = (fp + 1, tn) if _norm(s) in text else (fp, tn + 1)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"tp": tp, "fn": fn, "fp": fp, "tn": tn, "precision": precision, "recall": recall, "f1": f1,
            "accuracy": (tp + tn) / (tp + fn + fp + tn)}


def _old_as_shipped(path: Path) -> str:
    """The reader before trafilatura, with its UTF-8-only decoding: a legacy-encoded page was refused."""
    try:
        return soup_html(path.read_bytes().decode("utf-8-sig"))[0]
    except UnicodeDecodeError:
        return ""


def _old_decoded(path: Path) -> str:
    return soup_html(_decode(path.read_bytes(), path.name, html=True))[0]


def _new(path: Path) -> str:
    return _parse_html(_decode(path.read_bytes(), path.name, html=True))[0]


def _trafilatura(**options):
    import trafilatura

    def read(path: Path) -> str:
        raw = _decode(path.read_bytes(), path.name, html=True)
        return trafilatura.extract(raw, **options) or ""
    return read


def corpus_diff(folder: Path) -> int:
    """Print, for each .html article, the lines the new reader changed and the old text's sentences it lost."""
    lost_total = 0
    for path in sorted(folder.glob("*.htm*")):
        raw = _decode(path.read_bytes(), path.name, html=True)
        old, new = soup_html(raw)[0], _parse_html(raw)[0]
        sentences = [s for line in old.splitlines() for s in re.split(r"(?<=[.!?\"”])\s+", line) if s.strip()]
        lost = [s for s in sentences if _norm(s) not in _norm(new)]
        lost_total += len(lost)
        print(f"== {path.name}: old {len(old)} chars, {len(old.splitlines())} lines; "
              f"new {len(new)} chars, {len(new.splitlines())} lines; old sentences missing from new: {len(lost)}")
        for line in difflib.unified_diff(old.splitlines(), new.splitlines(), "old", "new", lineterm="", n=0):
            if not line.startswith(("---", "+++")):
                print("   ", line[:160] + ("…" if len(line) > 160 else ""))
    return lost_total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--modes", action="store_true", help="compare trafilatura's settings instead")
    ap.add_argument("--corpus", nargs="?", const=HERE.parent / "corpus" / "articles", type=Path,
                    help="print old/new diffs for a folder's .html articles (default: the eval corpus)")
    args = ap.parse_args(argv)
    if args.corpus:
        corpus_diff(args.corpus)
        return 0
    pages = json.loads((HERE / "snippets.json").read_text(encoding="utf-8"))
    if args.modes:
        readers = {}
        for mode in ("favor_precision", "default", "favor_recall"):
            for tables in (True, False):
                opts = {"include_comments": False, "include_tables": tables}
                if mode != "default":
                    opts[mode] = True
                readers[f"{mode}, tables {'on' if tables else 'off'}"] = _trafilatura(**opts)
    else:
        readers = {"old reader, UTF-8 only (as shipped)": _old_as_shipped,
                   "old reader, new decoding": _old_decoded,
                   "new reader (trafilatura, rag.parse.HTML_OPTIONS)": _new}
    n_with = sum(len(p["with"]) for p in pages.values())
    n_without = sum(len(p["without"]) for p in pages.values())
    print(f"{len(pages)} hand-written pages, {n_with} main-text and {n_without} boilerplate snippets\n")
    print(f"{'reader':<62} {'P':>6} {'R':>6} {'F1':>6} {'acc':>6}   tp fn fp tn")
    for label, read in readers.items():
        try:
            r = score(pages, read)
        except InputError as exc:
            print(f"{label:<62} failed: {exc}")
            continue
        print(f"{label:<62} {r['precision']:6.3f} {r['recall']:6.3f} {r['f1']:6.3f} {r['accuracy']:6.3f}"
              f"   {r['tp']:>2} {r['fn']:>2} {r['fp']:>2} {r['tn']:>2}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
