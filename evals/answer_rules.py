"""Two checks of a fact answer measured on dev answers before adoption (issue 38): of the kind asked
(``verify.answer_kind_gap``) and about the subject asked (``verify.subject_gap``). For each rule: the right
answers it would lose and the wrong ones it would stop, from eval results already run.

    python evals/answer_rules.py RESULTS.jsonl:DATASET.jsonl:ARTICLES_DIR [...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.metrics import is_correct, is_open_item  # noqa: E402
from rag.parse import find_files, load_article  # noqa: E402
from rag.verify import answer_kind_gap, subject_gap  # noqa: E402


def load(spec: str):
    results, dataset, folder = spec.split(":")
    items = {}
    for line in Path(dataset).read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        items[d["id"]] = d
    articles = {p.name: load_article(p) for p in find_files([Path(folder)])}
    rows = [json.loads(line) for line in Path(results).read_text(encoding="utf-8").splitlines()]
    return items, articles, rows


def rule_gaps(result: dict, articles: dict) -> dict[str, str]:
    question = result.get("searched") or result["question"]
    answer = result["answer"]
    c = result["citations"][0]
    art = articles.get(c["source"])
    text = art.text if art else ""
    start = c.get("start", text.find(c["quote"]))
    title = f"{art.title} {art.outlet}" if art else ""
    typed = result["question"] if result.get("searched") and result["searched"] != result["question"] else None
    return {"kind": answer_kind_gap(question, answer, text),
            "subject (every question)": subject_gap(question, answer, start, text, title),
            "subject (wide window)": subject_gap(question, answer, start, text, title, before=6, after=2),
            "subject (names a rewrite put in)": subject_gap(question, answer, start, text, title, typed=typed)
            if typed else ""}


def main(specs: list[str]) -> int:
    tally = {r: {"right_lost": [], "wrong_stopped": [], "right": 0, "wrong": 0}
             for r in ("kind", "subject (every question)", "subject (wide window)", "subject (names a rewrite put in)")}
    for spec in specs:
        items, articles, rows = load(spec)
        for r in rows:
            item = items.get(r["id"])
            if item is None or r.get("refused") or not r.get("citations") or is_open_item(item) \
                    or r.get("shape", "fact") != "fact" or r.get("followup") == "source":
                continue
            right = item.get("answerable", True) and is_correct(item, r)
            gaps = rule_gaps(r, articles)
            for rule, why in gaps.items():
                t = tally[rule]
                t["right" if right else "wrong"] += 1
                if why:
                    (t["right_lost"] if right else t["wrong_stopped"]).append(
                        f"{r['id']}: {r.get('searched') or r['question']} -> {r['answer']} ({why})")
    for rule, t in tally.items():
        print(f"{rule}: right answers lost {len(t['right_lost'])} of {t['right']}; "
              f"wrong answers stopped {len(t['wrong_stopped'])} of {t['wrong']}")
        for x in t["right_lost"]:
            print("   LOST ", x)
        for x in t["wrong_stopped"]:
            print("   STOP ", x)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
