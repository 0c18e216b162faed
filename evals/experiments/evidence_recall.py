"""What the reader is shown: for each answerable question, do the evidence sentences hold the answer
(every keyword group), and is a source article among them? By category, so two-step, cross-article,
multi-part and paraphrased questions can be told apart.

Usage:
    python evals/experiments/evidence_recall.py --dataset evals/corpus/questions.jsonl --corpus evals/corpus/articles \
        --split dev [--evidence-k 4] [--top-k 8] [--misses]
Without --corpus it reads the current index (the seeds by default). Tune on dev only.
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from rag.answer import Pipeline  # noqa: E402
from rag.build import eval_store, make_embedder  # noqa: E402
from rag.config import Config  # noqa: E402
from rag.evaluate import load_dataset  # noqa: E402
from rag.generate import Generator  # noqa: E402
from rag.metrics import keyword_match  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", type=Path, required=True)
    p.add_argument("--corpus", type=Path)
    p.add_argument("--split", default="dev")
    p.add_argument("--evidence-k", type=int, default=None, help="sentences shown (default: the configured evidence_k)")
    p.add_argument("--top-k", type=int, default=None, help="chunks retrieved (default: the configured top_k)")
    p.add_argument("--misses", action="store_true", help="print the questions whose answer the reader is not shown")
    args = p.parse_args(argv)
    cfg = Config.from_env()
    embedder = make_embedder(cfg)
    store = eval_store(cfg, embedder, args.corpus, progress=False)
    pipeline = Pipeline(store, embedder, Generator(), top_k=args.top_k or cfg.top_k,
                        evidence_k=args.evidence_k or cfg.evidence_k)
    shown: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for item in load_dataset(args.dataset, split=args.split):
        if not item["answerable"]:
            continue
        evidence = pipeline.select(item["question"], pipeline.retriever.search(item["question"], pipeline.top_k))
        has_answer = keyword_match(" ".join(e.text for e in evidence), item["keywords"])
        has_source = any(e.source in item["sources"] for e in evidence)
        for key in (item.get("category", "uncategorised"), "all"):
            shown[key][0] += has_answer
            shown[key][1] += has_source
            shown[key][2] += 1
        if args.misses and not has_answer:
            print(f"{item['id']}: {item['question']}  keywords {item['keywords']}")
            for e in evidence:
                print(f"    {e.score:.2f} {e.source[:24]} {e.text[:110]}")
    print(f"\n{'category':<16} {'answer shown':>13} {'source shown':>13} {'questions':>10}")
    for key in sorted(shown, key=lambda k: (k == "all", k)):
        a, s, n = shown[key]
        print(f"{key:<16} {a / n:>13.2f} {s / n:>13.2f} {n:>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
