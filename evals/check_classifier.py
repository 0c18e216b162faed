#!/usr/bin/env python3
"""The checks measured as a classifier: of the reader's own open-answer sentences that the articles state,
how many does the verifier keep; of those they do not state, how many does it drop.

Usage:
    python evals/check_classifier.py --labels evals/labels/sentences.jsonl RUN_DIR [RUN_DIR ...] [--out FILE.json]

``RUN_DIR`` is a `rag eval` output folder (its ``results.jsonl``): each open answer there carries ``checks``,
one per sentence of the reader's reply, with whether it stood (``ok``) and why not (``why``). The labels
(JSON Lines, one sentence each) say what a person found in the articles:

    {"id": question id, "question": ..., "sentence": the reply's sentence as the checks list it,
     "supported": true if the articles state all of it, "premise": true if it restates the question's
     premise (a near miss's false premise included), "set": "realpages" | "corpus" | ..., "note": ...}

A sentence is *kept* when it stood and the answer was shown (not declined): what the reader of the chatbot
sees. A kept sentence that the labels call unsupported is a false one let through; a dropped supported one
is a true one thrown away. Each is reported with the rule that decided it, so a change to the checks is
judged by both figures, and by which rule moved them.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path


def rule_of(check: dict, result: dict) -> str:
    """The rule that decided a sentence: the check's own reason when it fell, else the answer's (a decline of
    the whole answer drops the sentences that stood), else "kept"."""
    why = check.get("why") or ""
    if not check.get("ok"):
        if why.startswith("not stated in the sources: the number"):
            return "a number not in the cited sentences"
        if why.startswith("not stated in the sources: only"):
            return "too few of its words in the cited sentences"
        if why.startswith("not stated in the sources:") and "is not in the cited sentences" in why:
            return "a name or word not in the cited sentences"
        if why.startswith("the check model doubts"):
            return "the check model: not stated"
        if "no longer in its article" in why:
            return "quote not verbatim"
        return re.sub(r"\(P\(Yes\) [\d.]+\)|“[^”]*”", "", why).strip() or "dropped"
    if result.get("refused"):
        reason = result.get("reason") or ""
        if reason.startswith("the sentences that stand do not answer"):
            return "answer-level relevance veto"
        return "answer declined: " + reason.split(":")[0][:60]
    return "kept"


def sentences(results: list[dict]) -> dict[tuple[str, str], tuple[dict, dict]]:
    """(question id, sentence) -> (its check, its result), for every open answer's sentence."""
    out = {}
    for r in results:
        if r.get("shape", "open") == "fact":
            continue
        for c in r.get("checks", []):
            key = r["id"], c["answer"].strip()
            if key not in out or (c.get("ok") and not out[key][0].get("ok")):  # a sentence written twice is
                out[key] = (c, r)  # shown once: kept when either stood
    return out


def measure(labels: list[dict], results: list[dict]) -> dict:
    """The two figures (supported kept, unsupported dropped), the rules behind each miss, and what was
    not matched (a label whose sentence the run does not hold: a reply that changed)."""
    found = sentences(results)
    rows, unmatched = [], []
    for lab in labels:
        hit = found.get((lab["id"], lab["sentence"].strip()))
        if hit is None:
            unmatched.append(lab["id"])
            continue
        check, result = hit
        rule = rule_of(check, result)
        rows.append({**lab, "kept": rule == "kept", "rule": rule, "p_yes": check.get("p_yes"),
                     "bridge": check.get("bridge", 0)})
    true = [r for r in rows if r["supported"]]
    false = [r for r in rows if not r["supported"]]
    kept_true = sum(r["kept"] for r in true)
    dropped_false = sum(not r["kept"] for r in false)
    return {
        "sentences": len(rows),
        "supported": len(true),
        "unsupported": len(false),
        "supported_kept": kept_true / len(true) if true else 0.0,
        "unsupported_dropped": dropped_false / len(false) if false else 0.0,
        "premise_sentences": sum(bool(r.get("premise")) for r in rows),
        "premise_kept": sum(bool(r.get("premise")) and r["kept"] for r in rows),
        "true_dropped_by": dict(Counter(r["rule"] for r in true if not r["kept"]).most_common()),
        "false_kept": [{"id": r["id"], "sentence": r["sentence"], "p_yes": r["p_yes"], "bridge": r["bridge"],
                        "note": r.get("note", "")} for r in false if r["kept"]],
        "false_dropped_by": dict(Counter(r["rule"] for r in false if not r["kept"]).most_common()),
        "by_set": {s: {"sentences": sum(r.get("set") == s for r in rows),
                       "supported_kept": _share([r["kept"] for r in true if r.get("set") == s]),
                       "unsupported_dropped": _share([not r["kept"] for r in false if r.get("set") == s])}
                   for s in sorted({r.get("set", "") for r in rows})},
        "unmatched_labels": len(unmatched),
    }


def _share(flags: list[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def report(m: dict) -> str:
    """The figures as the text a person reads."""
    lines = [f"{m['sentences']} labelled sentences ({m['supported']} supported, {m['unsupported']} not); "
             f"{m['unmatched_labels']} labels not in the runs",
             f"supported kept:      {m['supported_kept']:.3f}",
             f"unsupported dropped: {m['unsupported_dropped']:.3f}",
             f"premise restated: {m['premise_sentences']} sentences, {m['premise_kept']} kept"]
    for name, s in m["by_set"].items():
        kept = "-" if s["supported_kept"] is None else f"{s['supported_kept']:.3f}"
        dropped = "-" if s["unsupported_dropped"] is None else f"{s['unsupported_dropped']:.3f}"
        lines.append(f"  {name or '(no set)'}: {s['sentences']} sentences, supported kept {kept}, "
                     f"unsupported dropped {dropped}")
    lines.append("true sentences dropped, by rule:")
    lines += [f"  {n:>4}  {rule}" for rule, n in m["true_dropped_by"].items()]
    lines.append("false sentences dropped, by rule:")
    lines += [f"  {n:>4}  {rule}" for rule, n in m["false_dropped_by"].items()]
    lines.append("false sentences kept (every rule passed them):")
    lines += [f"  {f['id']}: P(Yes) {f['p_yes']}, bridge {f['bridge']}: {f['sentence'][:140]}" for f in m["false_kept"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="rag eval output folders")
    p.add_argument("--labels", type=Path, default=Path(__file__).parent / "labels" / "sentences.jsonl")
    p.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = p.parse_args(argv)
    labels = [json.loads(line) for line in args.labels.read_text(encoding="utf-8").splitlines() if line.strip()]
    results = []
    for run in args.runs:
        path = run / "results.jsonl"
        if not path.is_file():
            print(f"check_classifier: no results.jsonl in {run}", file=sys.stderr)
            return 2
        results += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    m = measure(labels, results)
    print(report(m))
    if args.out:
        args.out.write_text(json.dumps(m, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
