"""Retrieval with the ONNX int8 embedder against PyTorch on one eval split: hit@1, hit@5 and MRR of the
articles that state each answer (``sources``), over every answerable question of the split.

    python evals/experiments/compare_embedders.py --split dev [--out evals/reports/embedder-dev/retrieval.json]

Each embedder searches its own index of the corpus (``rag.build.corpus_store``, cached per embedder).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", type=Path, default=ROOT / "evals" / "corpus" / "questions.jsonl")
    p.add_argument("--corpus", type=Path, default=ROOT / "evals" / "corpus" / "articles")
    p.add_argument("--split", default="dev")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)

    from rag.build import corpus_store, make_embedder
    from rag.config import Config
    from rag.retrieve import HybridRetriever

    items = [json.loads(line) for line in args.dataset.read_text().splitlines() if line.strip()]
    items = [i for i in items if i.get("answerable", True) and i.get("sources")
             and (not args.split or i.get("split") == args.split)]
    out = {"questions": len(items), "split": args.split}
    for backend in ("torch", "onnx"):
        cfg = Config.from_env(embed_backend=backend)
        embedder = make_embedder(cfg)
        store = corpus_store(cfg, args.corpus, embedder, progress=False)
        retriever = HybridRetriever(store, embedder, top_k=cfg.top_k)
        ranks = []
        for item in items:
            ranked = list(dict.fromkeys(h.chunk.source for h in retriever.search(item["question"], top_k=cfg.top_k)))
            rank = next((r for r, s in enumerate(ranked, 1) if s in item["sources"]), None)
            ranks.append(rank)
        n = len(ranks)
        out[backend] = {"embedder": str(embedder.describe()),
                        "hit@1": round(sum(r == 1 for r in ranks if r) / n, 4),
                        "hit@5": round(sum(r <= 5 for r in ranks if r) / n, 4),
                        "mrr": round(sum(1 / r for r in ranks if r) / n, 4),
                        "ranks": ranks}
        print(f"{backend:6} {out[backend]['embedder']}: hit@1 {out[backend]['hit@1']:.3f} "
              f"hit@5 {out[backend]['hit@5']:.3f} MRR {out[backend]['mrr']:.3f} over {n} questions")
    differ = sum(a != b for a, b in zip(out["torch"]["ranks"], out["onnx"]["ranks"]))
    print(f"questions whose first right article moved: {differ} of {len(items)}")
    out["rank_changed"] = differ
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
