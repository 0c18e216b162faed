#!/usr/bin/env python3
"""The checks replayed on frozen replies: the labelled sentences measured against the verifier as it is now.

The labels of ``evals/labels/sentences.jsonl`` are sentences of particular replies. A change to the reader
(its prompt, its evidence) changes the replies, and the labels no longer match them; a change to the checks
should be measured on the same replies. So the replies are frozen once, with the evidence the reader was shown:

    python evals/check_replay.py freeze RUN_DIR --dataset QUESTIONS.jsonl --corpus ARTICLES_DIR --set NAME \
        [--out evals/labels/replies.jsonl]

re-selects each open answer's evidence as the pipeline does (no reader: retrieval and evidence are
deterministic) and keeps it with the run's raw reply (a question read again with other evidence is kept beside its earlier
reply). Then, after any change to ``rag/verify.py``:

    python evals/check_replay.py replay [--replies evals/labels/replies.jsonl] --out DIR [--memo FILE]

verifies every frozen reply with the current checks and the real check model (its scores memoised in
``--memo``, so a change to a rule costs only the calls it adds) and writes ``DIR/results.jsonl`` in the
eval's format (``checks``, ``refused``, ``reason``, ``answer``), which ``check_classifier.py`` measures:

    python evals/check_classifier.py DIR
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPLIES = Path(__file__).parent / "labels" / "replies.jsonl"


def _pipeline(corpus: Path, with_judge: bool):
    from rag.build import eval_store, make_embedder, make_generator, make_judge, make_pipeline
    from rag.config import Config

    cfg = Config()
    embedder = make_embedder(cfg)
    store = eval_store(cfg, embedder, corpus, progress=False)
    generator = make_generator(cfg)
    judge = make_judge(cfg, generator) if with_judge else None
    return make_pipeline(cfg, store=store, embedder=embedder, generator=generator, judge=judge), cfg


def freeze(args) -> int:
    items = {q["id"]: q for q in map(json.loads, args.dataset.read_text(encoding="utf-8").splitlines()) if q}
    results = [json.loads(line) for line in (args.run / "results.jsonl").read_text(encoding="utf-8").splitlines() if line]
    pipe, _ = _pipeline(args.corpus, with_judge=False)
    kept = {}
    if args.out.is_file():
        kept = {(r["set"], r["id"], r["raw"]): r for r in map(json.loads, args.out.read_text(encoding="utf-8").splitlines()) if r}
    n = 0
    for r in results:
        if r.get("shape", "open") == "fact" or not r.get("raw"):
            continue
        question = r.get("searched") or r["question"]
        hits = pipe.retriever.search(question, pipe.top_k)
        evidence = pipe.select(question, hits, r["shape"])
        kept[args.set, r["id"], r["raw"]] = {"set": args.set, "id": r["id"], "question": question, "shape": r["shape"],
                                   "corpus": os.path.relpath(args.corpus.resolve(), ROOT),
                                   "answerable": items.get(r["id"], {}).get("answerable", True),
                                   "evidence": [asdict(e) for e in evidence], "raw": r["raw"]}
        n += 1
    args.out.write_text("".join(json.dumps(v, ensure_ascii=False) + "\n" for v in kept.values()), encoding="utf-8")
    print(f"froze {n} open replies of {args.run} into {args.out} ({len(kept)} in all)")
    return 0


class MemoJudge:
    """The check model's scores, kept in a file between replays (keyed by what it was asked)."""

    def __init__(self, judge, path: Path | None):
        self.judge, self.path = judge, path
        self.memo = json.loads(path.read_text(encoding="utf-8")) if path and path.is_file() else {}
        self.calls = 0

    def _get(self, key: list, call):
        k = json.dumps(key, ensure_ascii=False)
        if k not in self.memo:
            self.memo[k] = call()
            self.calls += 1
        return self.memo[k]

    def p_yes(self, question, sentence, answer=""):
        return self._get(["p_yes", question, sentence, answer], lambda: self.judge.p_yes(question, sentence, answer))

    def supports(self, sources, claim):
        return self._get(["supports", sources, claim], lambda: self.judge.supports(sources, claim))

    def save(self):
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(self.memo, ensure_ascii=False), encoding="utf-8")


def replay(args) -> int:
    from rag import prompts
    from rag.evidence import Evidence
    from rag.verify import Accepted, verify_steps

    rows = [json.loads(line) for line in args.replies.read_text(encoding="utf-8").splitlines() if line.strip()]
    judge, articles = None, {}
    out = []
    for corpus in sorted({r["corpus"] for r in rows}):
        pipe, cfg = _pipeline(ROOT / corpus, with_judge=True)
        judge = judge or MemoJudge(pipe.judge, args.memo)
        for r in (r for r in rows if r["corpus"] == corpus):
            evidence = [Evidence(**e) for e in r["evidence"]]
            verdict, shown = None, []
            for step in verify_steps(r["question"], r["raw"], evidence, judge=judge, min_judge=cfg.min_judge,
                                     article=pipe._article, refusal=prompts.REFUSAL, shape=r["shape"]):
                if isinstance(step, Accepted):
                    shown.append(step.text)
                else:
                    verdict = step
            out.append({"id": r["id"], "set": r["set"], "question": r["question"], "shape": r["shape"],
                        "answerable": r["answerable"], "answer": verdict.text, "refused": verdict.refused, "answers_question": verdict.answers,
                        "reason": verdict.reason, "raw": r["raw"],
                        "citations": [{"source": c.source, "quote": c.quote} for c in verdict.citations],
                        "checks": [{"answer": c.answer, "ok": c.ok, "why": c.why, "p_yes": c.p_yes, "bridge": c.bridge,
                                    "sentence": c.sentence, "also": c.also} for c in verdict.checks]})
        judge.save()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.jsonl").write_text("".join(json.dumps(o, ensure_ascii=False) + "\n" for o in out), encoding="utf-8")
    declined = [o for o in out if o["refused"]]
    print(f"replayed {len(out)} replies ({judge.calls if judge else 0} new check-model calls): "
          f"{sum(o['answerable'] for o in declined)} answerable declined of {sum(o['answerable'] for o in out)}, "
          f"{sum(not o['answerable'] for o in declined)} near misses declined of {sum(not o['answerable'] for o in out)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    f = sub.add_parser("freeze", help="keep a run's open replies with the evidence they were read from")
    f.add_argument("run", type=Path)
    f.add_argument("--dataset", type=Path, required=True)
    f.add_argument("--corpus", type=Path, required=True)
    f.add_argument("--set", required=True)
    f.add_argument("--out", type=Path, default=REPLIES)
    r = sub.add_parser("replay", help="verify the frozen replies with the current checks")
    r.add_argument("--replies", type=Path, default=REPLIES)
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--memo", type=Path, help="a file keeping the check model's scores between replays")
    args = p.parse_args(argv)
    return freeze(args) if args.command == "freeze" else replay(args)


if __name__ == "__main__":
    sys.exit(main())
