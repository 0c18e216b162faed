"""How far the real models' scores move between builds of llama.cpp (the kernels differ between CPUs).

llama.cpp is compiled for the machine it is installed on: AVX-512, AVX2, AVX or plain SSE kernels round
differently, so a float from a real model is not the same on every CPU. This script records, for one
build, the check model's P(Yes) on the pairs the slow tests assert on, and the pipeline's replies,
checks and decisions on the slow tests' questions and a fixed sample of dev questions. Run it once per
build, then compare the files:

    python evals/experiments/kernel_noise.py --label native --out evals/experiments/results/kernel-noise
    PYTHONPATH=/tmp/llama-avx python evals/experiments/kernel_noise.py --label avx --out evals/experiments/results/kernel-noise
    python evals/experiments/kernel_noise.py --compare evals/experiments/results/kernel-noise/*.json
    python evals/experiments/kernel_noise.py --near 0.03 --dataset evals/corpus/questions.jsonl FILE ...

``--near`` counts the questions of earlier runs (results.jsonl, or sweep_judge dumps) whose verdict rests on a
check score within that distance of the threshold: the ones another CPU could flip.

The margins the tests keep from a threshold are set from the largest difference seen (tests/test_e2e_real_models.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

# The pairs tests/test_e2e_real_models.py scores with the check model: (question, sentence, answer).
TENTH = ("Putin remarked at the summit, “The multipolar world has become a reality,” celebrating Belarus’s "
         "accession as the tenth member of the SCO.")
DAM = "The Brannoch Dam rises 142 metres above the valley floor."
JUDGE_PAIRS = [
    ("Which country became the tenth member of the SCO?", TENTH, "Belarus"),
    ("Which country became the tenth member of the SCO?", TENTH, "Russia"),
    ("Which UN official was at the SCO summit in Astana?",
     "UN Secretary-General Antonio Guterres was also at the summit, marking his visit to Central Asia.",
     "Antonio Guterres"),
    ("How tall is the Brannoch Dam?", DAM, "142 metres"),
    ("When did the Brannoch Dam open?", DAM, "142 metres"),
]
# The questions the slow tests ask the whole pipeline on the seeds (plus the injection fixture).
SEED_QUESTIONS = [
    "Which country became the tenth member of the SCO?",
    "What is the capital of Australia according to the SCO declaration on marine biology?",
    "Which council leader said the lighthouse guided fishing boats?",
]


def record(label: str, out: Path, dev_every: int) -> Path:
    import llama_cpp

    from rag.build import corpus_store, make_embedder, make_pipeline, run_ingest
    from rag.config import Config
    from rag.evaluate import load_dataset
    from rag.judge import LlamaCppJudge
    from rag.models import resolve_model

    work = Path(tempfile.mkdtemp(prefix="kernel-noise-"))
    cfg = Config.from_env({**os.environ, "RAG_INDEX_DIR": str(work / "index"), "RAG_CACHE_DIR": str(work / "cache")})
    system = llama_cpp.llama_print_system_info().decode()
    result = {"label": label, "llama_cpp": llama_cpp.__version__, "llama_cpp_path": llama_cpp.__file__,
              "system_info": system, "judge": [], "asked": []}

    judge = LlamaCppJudge(resolve_model(cfg.judge_model, cfg.cache_dir), n_threads=cfg.threads).load()
    for q, sentence, answer in JUDGE_PAIRS:
        result["judge"].append({"question": q, "answer": answer, "p_yes": judge.p_yes(q, sentence, answer)})
    del judge

    embedder = make_embedder(cfg)
    pipeline = make_pipeline(cfg, embedder=embedder)
    run_ingest(cfg, [cfg.seeds_dir, ROOT / "tests" / "fixtures" / "injection_article.txt"], pipeline.store,
               embedder, progress=False)
    asked = [("seeds", q) for q in SEED_QUESTIONS]
    corpus = ROOT / "evals" / "corpus"
    dev = load_dataset(corpus / "questions.jsonl", split="dev", every=dev_every)
    asked += [("corpus-dev", item["question"]) for item in dev]
    corpus_pipeline = make_pipeline(cfg, store=corpus_store(cfg, corpus / "articles", embedder, progress=False),
                                    embedder=embedder, generator=pipeline.generator, judge=pipeline.judge)
    for where, q in asked:
        d = (pipeline if where == "seeds" else corpus_pipeline).ask(q).to_dict()
        result["asked"].append({"where": where, "question": q, "raw": d["raw"], "answer": d["answer"],
                                "refused": d["refused"], "reason": d["reason"], "checks": d["checks"]})
        print(f"[{label}] {q[:60]:<60} -> {d['answer'][:50]}", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{label}.json"
    path.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    return path


def compare(paths: list[Path], threshold: float) -> dict:
    """Largest P(Yes) differences between the builds, on the same prompts, and the decisions that flipped."""
    runs = [json.loads(p.read_text()) for p in paths]
    base, others = runs[0], runs[1:]
    report = {"builds": [r["label"] for r in runs], "judge": [], "replies_differ": [], "decisions_differ": [],
              "check_deltas": []}
    for i, pair in enumerate(base["judge"]):
        scores = [r["judge"][i]["p_yes"] for r in runs]
        report["judge"].append({"question": pair["question"], "answer": pair["answer"],
                                "p_yes": {r["label"]: round(s, 4) for r, s in zip(runs, scores)},
                                "spread": round(max(scores) - min(scores), 4)})
    for asked in base["asked"]:
        for other in others:
            o = next((o for o in other["asked"] if o["question"] == asked["question"]), None)
            if o is None:  # a build that was asked fewer questions (--dev-every)
                continue
            if o["raw"] != asked["raw"]:
                report["replies_differ"].append({"question": asked["question"], base["label"]: asked["raw"],
                                                 other["label"]: o["raw"]})
                continue
            if (o["answer"], o["refused"]) != (asked["answer"], asked["refused"]):
                report["decisions_differ"].append({"question": asked["question"], base["label"]: asked["answer"],
                                                   other["label"]: o["answer"]})
            for a, b in zip(asked["checks"], o["checks"]):
                if a["p_yes"] is not None and b["p_yes"] is not None and a["answer"] == b["answer"]:
                    report["check_deltas"].append(abs(a["p_yes"] - b["p_yes"]))
    deltas = sorted(report["check_deltas"])
    judge_spreads = [j["spread"] for j in report["judge"]]
    report["summary"] = {
        "pipeline_checks_compared": len(deltas),
        "pipeline_check_delta_max": round(max(deltas, default=0.0), 4),
        "pipeline_check_delta_median": round(deltas[len(deltas) // 2], 4) if deltas else 0.0,
        "judge_pairs_spread_max": round(max(judge_spreads, default=0.0), 4),
        "replies_differ": len(report["replies_differ"]),
        "decisions_differ": len(report["decisions_differ"]),
        "questions_asked": {r["label"]: len(r["asked"]) for r in runs},
        "threshold": threshold,
    }
    del report["check_deltas"]
    return report


def near_threshold(path: Path, items: dict[str, dict], threshold: float, within: float) -> dict:
    """Questions of one run with a check score within ``within`` of ``threshold``, by their outcome."""
    counts = {"questions": 0, "checks": 0, "checks_near": 0, "questions_near": 0, "near_right_answer": 0,
              "near_wrong_answer": 0, "near_declined_unanswerable": 0, "near_false_refusal": 0}
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["id"] not in items:
            continue
        if "verdicts" in row:  # an evals/experiments/sweep_judge.py dump, at the threshold
            verdict = row["verdicts"][str(threshold)]
            scores, refused, right = verdict["p_yes"], verdict["refused"], verdict.get("right", False)
        else:  # results.jsonl
            scores = [c["p_yes"] for c in row.get("checks", [])]
            refused, right = row["refused"], row.get("correct", False)
        scores = [p for p in scores if p is not None]
        near = [p for p in scores if abs(p - threshold) < within]
        counts["questions"] += 1
        counts["checks"] += len(scores)
        counts["checks_near"] += len(near)
        if not near:
            continue
        counts["questions_near"] += 1
        answerable = items[row["id"]]["answerable"]
        key = ("near_false_refusal" if answerable else "near_declined_unanswerable") if refused else \
            ("near_right_answer" if right and answerable else "near_wrong_answer")
        counts[key] += 1
    return counts


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--label", help="name of this build (the output file's name)")
    p.add_argument("--out", type=Path, default=ROOT / "evals" / "experiments" / "results" / "kernel-noise")
    p.add_argument("--dev-every", type=int, default=8, help="every Nth corpus dev question (default 8)")
    p.add_argument("--compare", type=Path, nargs="+", help="recorded files to compare, the first as the base")
    p.add_argument("--near", type=float, help="count check scores this close to the threshold in the runs given")
    p.add_argument("--dataset", type=Path, help="with --near: the eval set the runs answered")
    p.add_argument("runs", type=Path, nargs="*", help="with --near: results.jsonl files or sweep_judge dumps")
    args = p.parse_args(argv)
    if args.near is not None:
        from rag.evaluate import load_dataset
        from rag.judge import MIN_JUDGE

        items = {i["id"]: i for i in load_dataset(args.dataset)}
        for run in args.runs:
            print(run, json.dumps(near_threshold(run, items, MIN_JUDGE, args.near)))
        return 0
    if args.compare:
        from rag.judge import MIN_JUDGE

        report = compare(args.compare, MIN_JUDGE)
        print(json.dumps(report, indent=1, ensure_ascii=False))
        return 0
    if not args.label:
        p.error("--label is required to record a build")
    print(record(args.label, args.out, args.dev_every))
    return 0


if __name__ == "__main__":
    sys.exit(main())
