"""Experiment, not the default: the check as a continuation of the reader's own prompt.

Today's check reads a new prompt of about 90 tokens per answer (the sentence, the question, the
answer): 2.2 s on 2 cores, the difference between 1.18x and 1.49x raw llama-cpp-python. Asked as one
more chat turn after the reader's reply ("Does source [n] state that the answer is X?"), the model
already holds the sources, the question and the reply in its KV cache, and reads about 30 new tokens.
But it then sees all the sources and judges its own answer. This script measures both checks on the
same answer parts: how well each separates right parts from wrong ones (AUC; wrong = any part of an
unanswerable question, or a part that matches no keyword group), and what each costs.

Usage (dev only):
    python evals/experiments/self_check.py --dataset evals/corpus/questions.jsonl --corpus evals/corpus/articles \
        --split dev --shuffle 1 --limit 72 --out /tmp/self-check.jsonl
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from rag import prompts  # noqa: E402
from rag.answer import Pipeline  # noqa: E402
from rag.build import eval_store, make_embedder, make_generator, make_judge  # noqa: E402
from rag.config import Config  # noqa: E402
from rag.evaluate import load_dataset  # noqa: E402
from rag.metrics import keyword_match  # noqa: E402
from rag.verify import parse_reply  # noqa: E402

SELF_CHECK = 'Does source [{n}] state that the answer is "{answer}"? Reply Yes or No.'


def continuation_p_yes(generator, judge, messages: list[dict]) -> tuple[float, int]:
    """P(Yes) for the next token after ``messages``, reusing what the KV cache already holds of them
    (no prefix snapshot: the whole reader prompt is not a fixed start). Returns it and the tokens read."""
    with generator.lock:
        generator._load()
        return judge.p_yes_after(generator._tokenize(messages))


def part_is_right(item: dict, text: str) -> bool:
    """The part matches at least one keyword group of an answerable question."""
    return item["answerable"] and any(keyword_match(text, [group]) for group in item["keywords"])


def auc(pos: list[float], neg: list[float]) -> float:
    if not pos or not neg:
        return float("nan")
    return sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", type=Path, required=True)
    p.add_argument("--corpus", type=Path)
    p.add_argument("--split", default="dev")
    p.add_argument("--shuffle", type=int)
    p.add_argument("--limit", type=int)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    cfg = Config.from_env()
    embedder = make_embedder(cfg)
    store = eval_store(cfg, embedder, args.corpus, progress=False)
    generator = make_generator(cfg).load()
    judge = make_judge(cfg, generator).load()
    pipeline = Pipeline(store, embedder, generator, top_k=cfg.top_k, evidence_k=cfg.evidence_k, max_tokens=cfg.max_tokens)
    items = load_dataset(args.dataset, split=args.split)
    if args.shuffle is not None:
        import random

        random.Random(args.shuffle).shuffle(items)
    items = items[:args.limit] if args.limit else items
    rows = []
    with open(args.out, "w", encoding="utf-8") as out:
        for i, item in enumerate(items, 1):
            q = item["question"]
            evidence = pipeline.select(q, pipeline.retriever.search(q, pipeline.top_k))
            if not evidence:
                continue
            raw = "".join(pipeline.read(q, evidence))  # the KV cache now holds the reader's prompt and reply
            messages = prompts.read_messages(q, [e.text for e in evidence]) + [{"role": "assistant", "content": raw}]
            parts = [part for part in parse_reply(raw) if 1 <= part.cites <= len(evidence)]
            selfs = []  # every part's self-check first, while the cache still holds the reader's prompt
            for part in parts:
                ask = messages + [{"role": "user", "content": SELF_CHECK.format(n=part.cites, answer=part.text)}]
                t = time.perf_counter()
                p_self, read = continuation_p_yes(generator, judge, ask)
                selfs.append((p_self, read, time.perf_counter() - t))
            for part, (p_self, read, self_s) in zip(parts, selfs):
                t = time.perf_counter()
                p_check = judge.p_yes(q, evidence[part.cites - 1].text, part.text)
                check_s = time.perf_counter() - t
                row = {"id": item["id"], "question": q, "part": part.text, "right": part_is_right(item, part.text),
                       "p_self": p_self, "self_s": self_s, "self_tokens": read, "p_check": p_check, "check_s": check_s}
                rows.append(row)
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
                out.flush()
            print(f"\r{i}/{len(items)}", end="", file=sys.stderr, flush=True)
    pos = [r for r in rows if r["right"]]
    neg = [r for r in rows if not r["right"]]
    med = lambda xs: sorted(xs)[len(xs) // 2] if xs else float("nan")  # noqa: E731
    print(f"\n{len(rows)} parts, {len(pos)} right, {len(neg)} wrong")
    for name in ("self", "check"):
        print(f"{name:>6}: AUC {auc([r['p_' + name] for r in pos], [r['p_' + name] for r in neg]):.3f}, "
              f"median {med([r[name + '_s'] for r in rows]):.2f} s")
    print(f"self-check tokens read, median {med([r['self_tokens'] for r in rows])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
