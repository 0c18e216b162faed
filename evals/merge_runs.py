"""Join `rag eval` runs made over disjoint parts of one dataset into one run folder, and report it
beside another run, as `--pipeline both` would have.

A slow pipeline (the plain llama-index recipe reads about 2,000 prompt tokens a question) can be run in
parts (`rag eval --dataset PART.jsonl ...`, one file per part); this puts the parts back in the dataset's
order, recomputes the summary over all of them with `rag/metrics.py`, and writes the side-by-side report.

Usage:
    python evals/merge_runs.py --dataset evals/corpus/questions.jsonl --corpus evals/corpus/articles --split test \
        --main evals/reports/corpus-test --name plain-llamaindex --parts RUN1 RUN2
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rag.evaluate import load_dataset, read_results  # noqa: E402
from rag.metrics import summarize  # noqa: E402
from rag.parse import iter_articles  # noqa: E402
from rag.report import write_reports  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", type=Path, required=True)
    p.add_argument("--corpus", type=Path, required=True, help="the articles the questions cite")
    p.add_argument("--split")
    p.add_argument("--main", type=Path, required=True, help="the run folder to report against; the joined run goes to MAIN/NAME")
    p.add_argument("--name", required=True)
    p.add_argument("--parts", type=Path, nargs="+", required=True)
    args = p.parse_args(argv)
    items = load_dataset(args.dataset, split=args.split)
    results = {r["id"]: r for part in args.parts for r in read_results(part)}
    missing = [i["id"] for i in items if i["id"] not in results]
    if missing:
        print(f"merge_runs: no result for {len(missing)} questions, e.g. {', '.join(missing[:5])}", file=sys.stderr)
        return 1
    joined = [results[i["id"]] for i in items]
    articles = {a.source: a.text for a in iter_articles([args.corpus])}  # as indexed: parsed text
    run = json.loads((args.parts[0] / "summary.json").read_text(encoding="utf-8")).get("run", {})
    summary = {**summarize(items, joined, articles), "run": {**run, "dataset": str(args.dataset), "split": args.split,
                                                              "parts": [str(p) for p in args.parts]}}
    out = args.main / args.name
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.jsonl", "w", encoding="utf-8") as f:
        for line in joined:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    main_summary = json.loads((args.main / "summary.json").read_text(encoding="utf-8"))
    write_reports(args.main, {main_summary.get("run", {}).get("pipeline", "ours"): (items, read_results(args.main), main_summary),
                              args.name: (items, joined, summary)})
    print(f"Wrote {out}/results.jsonl and summary.json; {args.main}/report.md and report.html side by side")
    return 0


if __name__ == "__main__":
    sys.exit(main())
