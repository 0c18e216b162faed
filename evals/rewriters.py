"""The follow-up rewriters compared on the conversation sets' turns, by turn form, with the hand-written
standalone forms as the reference and the reference answers as the conversation so far (so each rewriter
is measured on its own, not on the answers before it).

    python evals/rewriters.py --split dev [--rewriters rules,model,followups,hybrid] [--out FILE.json]

For each rewriter and turn form (pronoun, ellipsis, why, more, source, topic change, first):
- ``resolved``: the rewrite holds every name and number of the standalone form that the question as typed
  lacks (``rag.metrics.rewrite_resolves``); for a topic change, the question is left as a new one;
  for why / more / source, the turn is read as that kind;
- ``keeps``: the rewrite holds every content word of the standalone form (stricter);
- the seconds a rewrite takes (p50 and mean), beside the seconds the pipeline's answer took in the last
  conversation eval run when ``--answers RESULTS.jsonl`` is given.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.conversation import MORE, NEW, SOURCE, WHY, ModelRewriter, RuleRewriter, Turn  # noqa: E402
from rag.metrics import is_open_item, rewrite_keeps, rewrite_resolves  # noqa: E402

SETS = [ROOT / "evals/corpus/conversations.jsonl", ROOT / "evals/seeds_conversations.jsonl",
        ROOT / "evals/realpages/conversations.jsonl"]
KINDS = {"why": WHY, "more": MORE, "source": SOURCE}


def conversations(split: str, sets=SETS) -> list[list[dict]]:
    out: dict[str, list[dict]] = {}
    for path in sets:
        if not path.exists():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            if item.get("split", "dev") == split:
                out.setdefault(f"{path.parent.name}/{item['conversation']}", []).append(item)
    return [sorted(turns, key=lambda t: t["turn"]) for turns in out.values()]


def history_turn(item: dict) -> Turn:
    """An earlier turn as a perfect conversation would hold it: its standalone form and reference answer."""
    shape = "open" if is_open_item(item) else "fact"
    answer = item["answer"] if item.get("answerable", True) else "The articles don't say."
    return Turn(item["question"], answer + (" [1]" if item.get("answerable", True) else ""), item["standalone"],
                not item.get("answerable", True), tuple(item.get("sources", [])), shape)


def judge_turn(item: dict, resolved) -> tuple[bool, bool]:
    form = item.get("followup")
    if form in ("topic_change", "first"):
        ok = resolved.kind == NEW
        return ok, ok
    if form in KINDS:
        ok = resolved.kind == KINDS[form]
        return ok, ok
    return (rewrite_resolves(item["question"], resolved.question, item["standalone"]),
            rewrite_keeps(resolved.question, item["standalone"]))


def measure(rewriter, convs) -> tuple[dict, list[dict]]:
    rows = []
    for turns in convs:
        for k, item in enumerate(turns):
            if k == 0:
                continue
            history = [history_turn(t) for t in turns[:k]]
            t = time.perf_counter()
            resolved = rewriter.resolve(item["question"], history)
            seconds = time.perf_counter() - t
            resolved_ok, keeps = judge_turn(item, resolved)
            rows.append({"id": item["id"], "form": item.get("followup"), "question": item["question"],
                         "standalone": item["standalone"], "rewrite": resolved.question, "kind": resolved.kind,
                         "resolved": resolved_ok, "keeps": keeps, "seconds": round(seconds, 3)})
    by_form: dict[str, dict] = {}
    for form in sorted({r["form"] for r in rows}):
        rs = [r for r in rows if r["form"] == form]
        by_form[form] = {"turns": len(rs), "resolved": round(sum(r["resolved"] for r in rs) / len(rs), 3),
                         "keeps": round(sum(r["keeps"] for r in rs) / len(rs), 3)}
    follow = [r for r in rows if r["form"] not in ("topic_change", "first")]
    secs = [r["seconds"] for r in rows]
    summary = {"turns": len(rows), "follow_ups_resolved": round(sum(r["resolved"] for r in follow) / max(1, len(follow)), 3),
               "topic_changes_kept": by_form.get("topic_change", {}).get("resolved"),
               "seconds_p50": round(statistics.median(secs), 3) if secs else 0.0,
               "seconds_mean": round(statistics.fmean(secs), 3) if secs else 0.0, "by_form": by_form}
    return summary, rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--split", default="dev")
    p.add_argument("--rewriters", default="rules,model,followups,hybrid")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    convs = conversations(args.split)
    generator = None
    results = {}
    for name in args.rewriters.split(","):
        if name == "rules":
            rewriter = RuleRewriter()
        else:
            if generator is None:
                from rag.build import make_generator
                from rag.config import Config

                generator = make_generator(Config.from_env()).load()
            rewriter = ModelRewriter(generator, mode=name)
        summary, rows = measure(rewriter, convs)
        results[name] = {"summary": summary, "turns": rows}
        print(f"{name:<10} follow-ups resolved {summary['follow_ups_resolved']:.3f}  topic changes kept "
              f"{summary['topic_changes_kept']}  rewrite p50 {summary['seconds_p50']:.2f} s  "
              + "  ".join(f"{f} {v['resolved']:.2f}/{v['turns']}" for f, v in summary["by_form"].items()), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"split": args.split, "conversations": len(convs), **results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
