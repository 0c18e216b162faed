"""Calibration: read each question once, then verify the same reply at several check-model thresholds.

The reader's reply does not depend on the threshold, so it is generated once per question; the check
model's P(Yes) for a (question, sentence) pair is cached, so each threshold costs only what it adds.
Prints, per threshold: direct correctness, declined when unanswerable, false refusals, and the
balanced score used to choose (direct correctness + declined) / 2. Tune on dev only.

Usage:
    python evals/experiments/sweep_judge.py --dataset evals/corpus/questions.jsonl --corpus evals/corpus/articles --split dev
    python evals/experiments/sweep_judge.py --dataset evals/seeds_qa.jsonl --split dev --thresholds 0.2,0.3,0.4
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from rag import prompts  # noqa: E402
from rag.build import eval_store, make_embedder, make_generator, make_judge  # noqa: E402
from rag.answer import Pipeline  # noqa: E402
from rag.config import Config  # noqa: E402
from rag.evaluate import load_dataset  # noqa: E402
from rag.judge import Judge  # noqa: E402
from rag.metrics import is_correct, is_direct_correct  # noqa: E402
from rag.verify import verify  # noqa: E402


class CachedJudge(Judge):
    """The check model with its answers remembered: one forward pass per (question, sentence)."""

    def __init__(self, judge: Judge, path: Path | None = None):
        self.judge, self.seen, self.path = judge, {}, path
        if path and path.exists():  # scores from an earlier run with the same check model and prompt
            self.seen = {tuple(k): v for k, v in json.loads(path.read_text(encoding="utf-8"))}

    def save(self) -> None:
        if self.path:
            self.path.write_text(json.dumps([[list(k), v] for k, v in self.seen.items()]), encoding="utf-8")

    def p_yes(self, question: str, sentence: str, answer: str = "") -> float:
        key = (question, sentence, answer)
        if key not in self.seen:
            self.seen[key] = self.judge.p_yes(question, sentence, answer)
        return self.seen[key]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", type=Path, required=True)
    p.add_argument("--corpus", type=Path)
    p.add_argument("--split", default="dev")
    p.add_argument("--thresholds", default="0.1,0.2,0.3,0.37,0.45,0.55,0.65")
    p.add_argument("--dump", type=Path, help="write each question's reply and verdicts as JSON lines here")
    p.add_argument("--reuse", type=Path, help="a dump from an earlier run: its replies are taken, not generated again "
                                              "(only valid while the reader, its prompt and the evidence are unchanged)")
    p.add_argument("--judge-cache", type=Path, help="keep the check model's scores in this file across runs "
                                                    "(only valid while the check model and its prompt are unchanged)")
    p.add_argument("--shuffle", type=int, help="ask in a random order with this seed: a run stopped early is a fair sample")
    p.add_argument("--limit", type=int, help="only the first N questions (after --shuffle)")
    args = p.parse_args(argv)
    cfg = Config.from_env()
    embedder = make_embedder(cfg)
    store = eval_store(cfg, embedder, args.corpus, progress=False)
    generator = make_generator(cfg).load()
    judge = CachedJudge(make_judge(cfg, generator).load(), args.judge_cache)
    pipeline = Pipeline(store, embedder, generator, top_k=cfg.top_k, evidence_k=cfg.evidence_k,
                        max_tokens=cfg.max_tokens)
    thresholds = [float(t) for t in args.thresholds.split(",")]
    tally = {t: [0, 0, 0] for t in thresholds}  # direct-correct answerable, declined unanswerable, false refusals
    items = load_dataset(args.dataset, split=args.split)
    if args.shuffle is not None:
        import random

        random.Random(args.shuffle).shuffle(items)
    items = items[:args.limit] if args.limit else items
    replies = {}
    if args.reuse:
        replies = {r["id"]: r["raw"] for r in map(json.loads, args.reuse.read_text(encoding="utf-8").splitlines())}
    dump = open(args.dump, "w", encoding="utf-8") if args.dump else None
    for i, item in enumerate(items, 1):
        q = item["question"]
        evidence = pipeline.select(q, pipeline.retriever.search(q, pipeline.top_k))
        raw = replies[item["id"]] if item["id"] in replies else "".join(pipeline.read(q, evidence)) if evidence else ""
        row = {"id": item["id"], "question": q, "raw": raw, "verdicts": {}}
        for t in thresholds:
            v = verify(q, raw, evidence, judge=judge, min_judge=t, article=pipeline._article, refusal=prompts.REFUSAL)
            result = {"answer": v.text, "refused": v.refused,
                      "citations": [{"source": c.source, "quote": c.quote} for c in v.citations]}
            if item["answerable"]:
                tally[t][0] += is_direct_correct(item, result)
                tally[t][2] += v.refused
            else:
                tally[t][1] += is_correct(item, result)
            row["verdicts"][str(t)] = {"answer": v.text, "refused": v.refused, "reason": v.reason,
                                       "right": is_direct_correct(item, result),
                                       "quotes": [c.quote for c in v.citations],
                                       "p_yes": [c.p_yes for c in v.checks if c.p_yes is not None]}
        judge.save()
        if dump:
            dump.write(json.dumps(row, ensure_ascii=False) + "\n")
            dump.flush()
        print(f"\r{i}/{len(items)}", end="", file=sys.stderr, flush=True)
    n_ans = sum(item["answerable"] for item in items)
    n_un = len(items) - n_ans
    print(f"\n{'threshold':>9} {'direct&correct':>15} {'declined':>9} {'false refusals':>15} {'balanced':>9}")
    for t in thresholds:
        dc, dec, fr = tally[t][0] / n_ans, tally[t][1] / max(n_un, 1), tally[t][2] / n_ans
        print(f"{t:>9.2f} {dc:>15.3f} {dec:>9.3f} {fr:>15.3f} {(dc + dec) / 2:>9.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
