#!/usr/bin/env python3
"""Dev sweeps of the open-answer policy: read once, verify many ways.

    python evals/experiments/open_sweep.py --dataset evals/corpus/questions.jsonl --corpus evals/corpus/articles \
        --split dev --out evals/experiments/results/open-sweep/corpus-dev [--every 2] [--judge 0.3,0.5] [--share 0.4,0.5]

The expensive step (shape, evidence and the reader's reply, as ``Pipeline`` does them) runs once per
question and is kept in ``OUT/reads.jsonl`` (rerun with the same --out and it is reused); then every
(grounding share, check threshold) pair re-verifies the same replies with ``verify.OpenVerifier``, the
check model's scores memoised, and ``OUT/sweep.json`` gets point recall, sentence support, near misses
declined and false refusals for each, beside the unverified replies' own point recall (what the reader
wrote before anything was dropped). Tune on dev only.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def read_all(items, out: Path, corpus: Path | None) -> list[dict]:
    from rag.build import eval_store, make_embedder, make_generator, make_judge, make_pipeline
    from rag.config import Config
    from rag.shape import shape_of

    path = out / "reads.jsonl"
    done = {}
    if path.is_file():
        done = {r["id"]: r for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())}
    todo = [i for i in items if i["id"] not in done]
    if todo:
        cfg = Config()
        generator = make_generator(cfg).load()
        embedder = make_embedder(cfg)
        store = eval_store(cfg, embedder, corpus, progress=False)
        pipe = make_pipeline(cfg, store=store, embedder=embedder, generator=generator, judge=make_judge(cfg, generator))
        with open(path, "a", encoding="utf-8") as f:
            for k, item in enumerate(todo, 1):
                q = item["question"]
                t0 = time.perf_counter()
                shape = shape_of(q)
                evidence = pipe.select(q, pipe.retriever.search(q, pipe.top_k), shape)
                raw = "".join(pipe.read(q, evidence, shape)).strip() if evidence else ""
                row = {"id": item["id"], "shape": shape, "evidence": [asdict(e) for e in evidence], "raw": raw,
                       "read_s": round(time.perf_counter() - t0, 3)}
                done[item["id"]] = row
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
                f.flush()
                print(f"[{k}/{len(todo)}] {item['id']} {row['read_s']:.1f}s", file=sys.stderr)
    return [done[i["id"]] for i in items]


class MemoJudge:
    def __init__(self, judge):
        self.judge, self.memo = judge, {}

    def supports(self, sources, claim):
        if (sources, claim) not in self.memo:
            self.memo[sources, claim] = self.judge.supports(sources, claim)
        return self.memo[sources, claim]

    def p_yes(self, question, sentence, answer=""):
        key = ("p_yes", question, sentence, answer)
        if key not in self.memo:
            self.memo[key] = self.judge.p_yes(question, sentence, answer)
        return self.memo[key]


def sweep(items, reads, judge, shares, thresholds, article, relevances=(0.0,)) -> list[dict]:
    from rag.evidence import Evidence
    from rag.metrics import point_recall, sentence_supported, answer_sentences
    from rag.verify import OpenVerifier, split_sentences

    rows = []
    raw_recall = [point_recall(i, {"answer": r["raw"], "refused": not r["raw"]}) for i, r in zip(items, reads)
                  if i["answerable"]]
    for share, threshold, relevance in [(a, b, c) for a in shares for b in thresholds for c in relevances]:
        recall, supported, misses, refused = [], [], [], []
        for item, read in zip(items, reads):
            evidence = [Evidence(**{**e, "also_in": tuple(e["also_in"])}) for e in read["evidence"]]
            checker = OpenVerifier(item["question"], evidence, judge, threshold, article, min_share=share,
                                   min_relevance=relevance)
            for sentence in split_sentences(read["raw"]):
                checker.check(sentence)
            v = checker.verdict()
            result = {"answer": v.text, "refused": v.refused,
                      "citations": [{"n": c.n, "quote": c.quote} for c in v.citations]}
            if item["answerable"]:
                recall.append(point_recall(item, result))
                refused.append(v.refused)
            else:
                misses.append(v.refused)
            if not v.refused:
                supported += [sentence_supported(s, result["citations"]) for s in answer_sentences(v.text)]
        mean = lambda xs: round(sum(xs) / len(xs), 3) if xs else None  # noqa: E731
        rows.append({"min_share": share, "min_judge": threshold, "min_relevance": relevance,
                     "point_recall": mean(recall),
                     "sentence_support": mean(supported), "near_miss_declined": mean(misses),
                     "false_refusal_rate": mean(refused), "raw_point_recall": mean(raw_recall)})
        print(json.dumps(rows[-1]))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", type=Path, required=True)
    ap.add_argument("--corpus", type=Path)
    ap.add_argument("--split", default="dev")
    ap.add_argument("--every", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--share", default="0.5", help="grounding shares to try, comma-separated")
    ap.add_argument("--judge", default="0.5", help="check thresholds to try, comma-separated")
    ap.add_argument("--relevance", default="0.45", help="answer-level relevance thresholds to try, comma-separated")
    ap.add_argument("--cached", action="store_true", help="only the questions already read into OUT/reads.jsonl")
    args = ap.parse_args()

    from rag.build import make_generator, make_judge
    from rag.config import Config
    from rag.evaluate import load_dataset

    items = load_dataset(args.dataset, split=args.split, every=args.every, categories="open")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.cached:
        have = {json.loads(line)["id"] for line in (args.out / "reads.jsonl").read_text(encoding="utf-8").splitlines()}
        items = [i for i in items if i["id"] in have]
    reads = read_all(items, args.out, args.corpus)
    cfg = Config()
    judge = MemoJudge(make_judge(cfg, make_generator(cfg).load()).load())
    from rag.parse import load_article

    folder = args.corpus or ROOT / "seeds"
    texts = {p.name: load_article(p).text for p in folder.iterdir() if p.suffix in (".txt", ".md", ".html", ".pdf")}
    rows = sweep(items, reads, judge, [float(x) for x in args.share.split(",")],
                 [float(x) for x in args.judge.split(",")], lambda s: texts.get(s, ""),
                 [float(x) for x in args.relevance.split(",")])
    (args.out / "sweep.json").write_text(json.dumps({"dataset": str(args.dataset), "split": args.split,
                                                     "questions": len(items), "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
