"""Experiment: is the reader's own confidence a better check than the check model's P(Yes)?

For each question of a sweep dump (``evals/experiments/sweep_judge.py --dump``), the reader's prompt is rebuilt
(same retrieval, evidence and worked examples) and its stored reply is scored token by token,
teacher-forced, in one batch: the log-probability of every reply token, and P("NONE") as the first
token (how much the reader leaned towards declining). Then, over the one-part replies that reached
the check, it compares three ways of ranking them for acceptance, at equal numbers accepted: the
check's P(Yes) (what verify uses), P(NONE), and the two combined.

Tune on dev only. Usage (about 12 s a question on 2 cores):
    RAG_INDEX_DIR=/tmp/x python evals/experiments/reader_confidence.py --dataset evals/corpus/questions.jsonl \
        --corpus evals/corpus/articles --dump evals/experiments/results/calibration/dev-6-of-12-all-164-kinds.jsonl \
        --out evals/experiments/results/calibration/dev-reader-confidence.jsonl
A finished ``--out`` is only analysed again (questions already in it are not scored twice).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from rag import prompts  # noqa: E402
from rag.answer import Pipeline  # noqa: E402
from rag.build import eval_store, make_embedder, make_generator  # noqa: E402
from rag.config import Config  # noqa: E402
from rag.evaluate import load_dataset  # noqa: E402
from rag.metrics import keyword_match  # noqa: E402
from self_check import auc  # noqa: E402  (evals/experiments/, beside this script)


def score_reply(generator, messages, reply: str) -> tuple[list[list], float]:
    """[token, log-probability, was it the most likely token] for each token of ``reply`` after the
    prompt, and P("NONE") as the first token. Uses the generator's llama.cpp instance directly."""
    import numpy as np

    llm = generator._llm
    n_vocab = llm.n_vocab()
    none = llm.tokenize(b"NONE", add_bos=False, special=False)[0]
    with generator.lock:
        tokens, fixed = generator.tokens(messages)
        generator.prime(tokens, fixed)
        have = min(llm.longest_token_prefix(llm._input_ids[:llm.n_tokens].tolist(), tokens), len(tokens) - 1)
        llm.n_tokens = have
        llm.eval(tokens[have:-1])
        reply_tokens = llm.tokenize(reply.encode("utf-8"), add_bos=False, special=False)
        batch = [tokens[-1]] + reply_tokens  # the logits after each are the next token's distribution
        llm._ctx.kv_cache_seq_rm(-1, llm.n_tokens, -1)
        llm._batch.set_batch(batch=batch, n_past=llm.n_tokens, logits_all=True)
        llm._ctx.decode(llm._batch)
        logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(len(batch) * n_vocab,))
        logits = logits.reshape(len(batch), n_vocab).astype(np.float64)
        llm.input_ids[llm.n_tokens:llm.n_tokens + len(batch)] = batch
        llm.n_tokens += len(batch)
    top = logits.max(axis=1, keepdims=True)
    lse = (np.log(np.exp(logits - top).sum(axis=1, keepdims=True)) + top)[:, 0]
    rows = [[llm.detokenize([t]).decode("utf-8", "ignore"), round(float(logits[i, t] - lse[i]), 4),
             int(logits[i].argmax()) == t] for i, t in enumerate(reply_tokens)]
    return rows, float(math.exp(logits[0, none] - lse[0]))


def analyse(items: dict, dump: dict, scored: dict) -> None:
    def logit(p):
        p = min(max(p, 1e-4), 1 - 1e-4)
        return math.log(p / (1 - p))

    rows = []
    for qid, d in dump.items():
        item, s, verdict = items.get(qid), scored.get(qid), d["verdicts"].get("0.5") or next(iter(d["verdicts"].values()))
        if not item or not s or not s["tokens"] or not verdict["p_yes"] or ";" in d["raw"]:
            continue  # one-part replies that reached the check only
        rows.append({"right": bool(item["answerable"] and keyword_match(d["raw"], item["keywords"])),
                     "unanswerable": not item["answerable"], "p_yes": verdict["p_yes"][0], "p_none": s["p_none"]})
    ranks = {"check P(Yes)": lambda r: r["p_yes"], "reader P(NONE)": lambda r: -r["p_none"],
             "combined": lambda r: logit(r["p_yes"]) - 0.5 * math.log(r["p_none"])}
    print(f"{len(rows)} one-part replies checked, {sum(r['right'] for r in rows)} right")
    for name, key in ranks.items():
        print(f"  AUC {name}: {auc([key(r) for r in rows if r['right']], [key(r) for r in rows if not r['right']]):.3f}")
    print("accepted | right, unanswerable accepted: " + " | ".join(ranks))
    for n in range(70, len(rows) + 1, 4):
        cells = []
        for key in ranks.values():
            top = sorted(rows, key=key, reverse=True)[:n]
            cells.append(f"{sum(r['right'] for r in top)}, {sum(r['unanswerable'] for r in top)}")
        print(f"{n:>8} | " + " | ".join(cells))
    now = sum(r["p_yes"] >= 0.5 for r in rows)
    print(f"verify's threshold (P(Yes) >= 0.5) accepts {now}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", type=Path, required=True)
    p.add_argument("--corpus", type=Path)
    p.add_argument("--split", default="dev")
    p.add_argument("--dump", type=Path, required=True, help="a sweep_judge.py dump: the replies to score")
    p.add_argument("--out", type=Path, required=True, help="the scores, as JSON lines (appended to)")
    args = p.parse_args(argv)
    items = {i["id"]: i for i in load_dataset(args.dataset, split=args.split)}
    dump = {r["id"]: r for r in map(json.loads, args.dump.read_text(encoding="utf-8").splitlines()) if r["id"] in items}
    scored = {}
    if args.out.exists():
        scored = {r["id"]: r for r in map(json.loads, args.out.read_text(encoding="utf-8").splitlines())}
    todo = [qid for qid in dump if qid not in scored]
    if todo:
        cfg = Config.from_env()
        embedder = make_embedder(cfg)
        store = eval_store(cfg, embedder, args.corpus, progress=False)
        generator = make_generator(cfg).load()
        pipeline = Pipeline(store, embedder, generator, top_k=cfg.top_k, evidence_k=cfg.evidence_k)
        with open(args.out, "a", encoding="utf-8") as out:
            for k, qid in enumerate(todo, 1):
                q, raw = items[qid]["question"], dump[qid]["raw"]
                evidence = pipeline.select(q, pipeline.retriever.search(q, pipeline.top_k))
                row = {"id": qid, "tokens": [], "p_none": None}
                if evidence and raw:
                    row["tokens"], row["p_none"] = score_reply(generator, prompts.read_messages(q, [e.text for e in evidence]), raw)
                scored[qid] = row
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
                out.flush()
                print(f"\r{k}/{len(todo)}", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
    analyse(items, dump, scored)
    return 0


if __name__ == "__main__":
    sys.exit(main())
