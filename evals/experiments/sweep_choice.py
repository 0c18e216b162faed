"""Dev sweep of the "which one?" check (verify.choose_check): the same replies verified, then each part
that stands put to the check at several margins; wrong answers against false refusals.

The reader's replies are taken from an earlier run (``--reuse``: a ``sweep_judge.py --dump`` file or a
``rag eval`` results.jsonl; a results line's ``searched`` is the question as it was answered), so only
the checks run. The check model's scores are cached, so each margin costs only what it adds. Tune on dev only.

Usage:
    python evals/experiments/sweep_choice.py --dataset evals/corpus/questions.jsonl --corpus evals/corpus/articles \\
        --split dev --reuse evals/experiments/results/calibration/dev-6-of-12-all-164-bridge.jsonl --out evals/experiments/results/choice-sweep/dev.json
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
from rag.judge import Judge  # noqa: E402
from rag.metrics import is_direct_correct, is_open_item, is_wrong_answer  # noqa: E402
from rag.verify import choose_check, verify  # noqa: E402


class Remembering(Judge):
    """The check model with its scores and choices remembered, and the time each first took."""

    def __init__(self, judge: Judge):
        self.judge, self.seen, self.spent = judge, {}, 0.0

    def _once(self, key, call):
        if key not in self.seen:
            t = time.perf_counter()
            self.seen[key] = call()
            self.spent += time.perf_counter() - t
        return self.seen[key]

    def p_yes(self, question, sentence, answer=""):
        return self._once(("p", question, sentence, answer), lambda: self.judge.p_yes(question, sentence, answer))

    def choose(self, question, sources, options):
        return self._once(("c", question, sources, tuple(options)), lambda: self.judge.choose(question, sources, options))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", type=Path, required=True)
    p.add_argument("--corpus", type=Path)
    p.add_argument("--split", default="dev")
    p.add_argument("--reuse", type=Path, required=True, help="replies from an earlier run (id, raw[, searched])")
    p.add_argument("--margins", default="off,0,0.15,0.3,0.5,0.7")
    p.add_argument("--out", type=Path, help="write the table and each changed verdict here (JSON)")
    args = p.parse_args(argv)
    cfg = Config.from_env()
    embedder = make_embedder(cfg)
    store = eval_store(cfg, embedder, args.corpus, progress=False)
    generator = make_generator(cfg).load()
    judge = Remembering(make_judge(cfg, generator).load())
    pipeline = Pipeline(store, embedder, generator, top_k=cfg.top_k, evidence_k=cfg.evidence_k, max_tokens=cfg.max_tokens)
    runs = {r["id"]: r for r in map(json.loads, args.reuse.read_text(encoding="utf-8").splitlines()) if r.get("raw") is not None}
    items = [i for i in load_dataset(args.dataset, split=args.split) if i["id"] in runs and not is_open_item(i)
             and runs[i["id"]].get("shape", "fact") == "fact" and runs[i["id"]].get("followup") != "source"]
    margins = args.margins.split(",")
    table = {m: {"direct": 0, "wrong": 0, "declined_answerable": 0, "declined_unanswerable": 0, "check_s": 0.0} for m in margins}
    changed = []
    for k, item in enumerate(items, 1):
        run = runs[item["id"]]
        q = run.get("searched") or item["question"]
        evidence = pipeline.select(q, pipeline.retriever.search(q, pipeline.top_k))
        verdicts = {}
        v = verify(q, run["raw"], evidence, judge=judge, article=pipeline._article, refusal=prompts.REFUSAL)
        kept = [c for c in v.checks if c.ok]
        for m in margins:
            before = judge.spent
            fell = {}
            for c in kept if m != "off" else []:
                others = [o.answer for o in kept if o is not c]
                rival, _ = choose_check(q, c.answer, [evidence[c.sentence - 1].text], judge, float(m), others)
                if rival:
                    fell[c.answer] = rival
            stand = [c.answer for c in kept if c.answer not in fell]
            refused = v.refused or not stand
            result = {"answer": prompts.REFUSAL if refused else "; ".join(stand), "refused": refused, "citations": []}
            row = table[m]
            row["direct"] += item["answerable"] and is_direct_correct(item, result)
            row["wrong"] += is_wrong_answer(item, result)
            row["declined_answerable" if item["answerable"] else "declined_unanswerable"] += refused
            row["check_s"] += judge.spent - before
            verdicts[m] = (result["answer"], list(fell.values()))
        if len({t for t, _ in verdicts.values()}) > 1:
            changed.append({"id": item["id"], "question": q, "reference": item["answer"], "verdicts": verdicts})
        print(f"\r{k}/{len(items)}", end="", file=sys.stderr, flush=True)
    n_ans = sum(i["answerable"] for i in items)
    n = len(items)
    print(f"\n{len(items)} fact questions ({n_ans} answerable) from {args.reuse.name}")
    print(f"{'margin':>7} {'direct&correct':>15} {'wrong answers':>14} {'false refusals':>15} {'declined unans.':>16}")
    out = {"items": n, "answerable": n_ans, "reuse": str(args.reuse), "table": {}, "changed": changed}
    for m in margins:
        r = table[m]
        row = {"direct_correctness": r["direct"] / n_ans, "wrong_answer_rate": r["wrong"] / n,
               "false_refusal_rate": r["declined_answerable"] / n_ans,
               "refusal_rate_unanswerable": r["declined_unanswerable"] / max(1, n - n_ans)}
        out["table"][m] = row
        print(f"{m:>7} {row['direct_correctness']:>15.3f} {row['wrong_answer_rate']:>14.3f} "
              f"{row['false_refusal_rate']:>15.3f} {row['refusal_rate_unanswerable']:>16.3f}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
