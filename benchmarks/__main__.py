"""Benchmarks for every stage: `python -m benchmarks` (see --help). Prints a table, saves JSON.

Stages: start-up (`rag --help`, cold `rag ask`, cold `rag ui`, peak RSS), ingestion (seeds, unchanged
re-ingest, a synthetic corpus), retrieval latency (seeds and the synthetic corpus), asking (end to
end, time to first token, decode speed, against raw llama-cpp-python on the same prompts and against
the plain llama-index recipe). Speed is measured here and printed, never asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.metrics import percentile  # noqa: E402

QUESTION = "Which country became the tenth member of the SCO?"


STAGES = ("startup", "seeds", "ask", "plain", "synthetic", "vectors")
ASKING = {"seeds", "ask", "plain"}  # stages that time questions: they need --questions of 1 or more


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = next((int(line.split()[1]) // 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), 0)
    from importlib.metadata import version

    return {"cpu": cpu, "cores": os.cpu_count(), "memory_mib": mem, "python": platform.python_version(),
            "platform": platform.platform(),
            "packages": {p: version(p) for p in ("llama_cpp_python", "chromadb", "torch", "sentence-transformers",
                                                  "gradio", "llama-index-core")}}


def stats(values: list[float]) -> dict:
    return {"p50": round(percentile(values, 50), 4), "p95": round(percentile(values, 95), 4), "n": len(values)}


def run_child(cmd: list[str], env: dict, cwd: Path | None = None) -> tuple[float, int, str]:
    """(wall seconds, peak RSS in MiB, stdout) of one child process, measured by benchmarks/rss.py."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        t = time.perf_counter()
        env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [env.get("PYTHONPATH"), str(ROOT)]))}
        proc = subprocess.run([sys.executable, "-m", "benchmarks.rss", rss.name, *cmd], env=env, cwd=cwd or ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        wall = time.perf_counter() - t
        if proc.returncode:
            raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}")
        return wall, int(rss.read() or 0) // 1024, proc.stdout


def bench_startup(env: dict, port: int) -> dict:
    rag = [sys.executable, "-m", "rag.cli"]
    helps = []
    for _ in range(5):  # timed directly: the RSS launcher would add its own start-up
        t = time.perf_counter()
        subprocess.run(rag + ["--help"], env=env, stdout=subprocess.DEVNULL, check=True)
        helps.append(time.perf_counter() - t)
    help_rss = run_child(rag + ["--help"], env)[1]
    ask_s, ask_rss, out = run_child(rag + ["ask", "--json", QUESTION], env)
    t = time.perf_counter()
    ui = subprocess.Popen(rag + ["ui", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except OSError as exc:  # not up yet: poll until the page answers, the server exits, or 300 s pass
                if ui.poll() is not None:
                    raise RuntimeError(f"rag ui exited with {ui.returncode} before answering on port {port}")
                if time.perf_counter() - t > 300:
                    raise RuntimeError(f"rag ui did not answer http://127.0.0.1:{port}/ within 300 s ({exc})")
                time.sleep(0.2)
        ui_s = time.perf_counter() - t
        ui_rss = next(int(line.split()[1]) // 1024 for line in Path(f"/proc/{ui.pid}/status").read_text().splitlines()
                      if line.startswith("VmHWM"))
    finally:
        ui.terminate()
        try:
            ui.wait(timeout=60)
        except subprocess.TimeoutExpired:
            ui.kill()
            ui.wait()
    return {"help_s": stats(helps), "help_rss_mib": help_rss,
            "cold_ask_s": round(ask_s, 3), "cold_ask_rss_mib": ask_rss,
            "cold_ask_answer": json.loads(out)["answer"][:80],
            "cold_ui_ready_s": round(ui_s, 3), "ui_rss_mib": ui_rss}


def bench_ingest(cfg, paths: list[Path], embedder, label: str) -> dict:
    from rag.build import make_store, run_ingest

    store = make_store(cfg)
    t = time.perf_counter()
    report = run_ingest(cfg, paths, store, embedder, progress=len(paths) > 50)
    first = time.perf_counter() - t
    t = time.perf_counter()
    again = run_ingest(cfg, paths, store, embedder, progress=False)
    second = time.perf_counter() - t
    n_files = len(report.added) + len(report.updated)
    return {"corpus": label, "articles": n_files, "chunks": report.chunks_embedded, "ingest_s": round(first, 3),
            "articles_per_s": round(n_files / first, 2), "chunks_per_s": round(report.chunks_embedded / first, 2),
            "unchanged_reingest_s": round(second, 3), "unchanged_embedded": again.chunks_embedded,
            "reused_index": n_files == 0}  # --work kept an index from an earlier run: only re-ingest is measured


def bench_ingest_cli(env: dict, corpus: Path, index: Path, backend: str, code: Path | None = None) -> dict:
    """`rag ingest` of ``corpus`` into a new index, in a child process, with one embedder backend, or
    with the code of another checkout (``code``: today's ingest, for the base of the ratio). Rates are
    over the whole process (start-up and model load included), the same for every run; where the time
    went comes from `--json`, which the other checkout may not have."""
    child_env = {**env, "RAG_INDEX_DIR": str(index), "RAG_EMBED_BACKEND": backend}
    cmd = [sys.executable, "-m", "rag.cli", "ingest", "--quiet", str(corpus)]
    if code is None:
        cmd.insert(4, "--json")
    else:
        child_env["PYTHONPATH"] = str(code)
    wall, rss, out = run_child(cmd, child_env, cwd=code)
    last = out.strip().splitlines()[-1]
    if code is None:
        r = json.loads(last)
        n, chunks, embedder, stages = r["added"] + r["updated"], r["chunks_embedded"], r["embedder"], r["seconds"]
    else:  # "5 added, 0 updated, 0 unchanged; 29 chunks embedded"
        import re

        n, chunks = int(re.search(r"(\d+) added", last)[1]), int(re.search(r"(\d+) chunks embedded", last)[1])
        embedder, stages = f"{backend}, code of {code}", {}
    return {"backend": backend, "code": str(code or "this checkout"), "embedder": embedder, "articles": n,
            "chunks": chunks, "process_s": round(wall, 2), "stage_s": stages,
            "articles_per_s": round(n / wall, 2), "chunks_per_s": round(chunks / wall, 2), "peak_rss_mib": rss}


def bench_vectors(cfg) -> dict:
    """The cosine between the default (ONNX int8) and the PyTorch embedder's vectors of every chunk of
    the eval corpus and the seeds: the new vectors must stand in for the old."""
    import numpy as np

    from rag.build import make_chunker
    from rag.embed import SentenceTransformerEmbedder
    from rag.embed_onnx import OnnxEmbedder
    from rag.parse import iter_articles

    chunker = make_chunker(cfg)
    texts = [c.text for a in iter_articles([ROOT / "evals" / "corpus" / "articles", cfg.seeds_dir])
             for c in chunker.chunk(a)]
    new = OnnxEmbedder(cfg.cache_dir, threads=cfg.threads).embed(texts)
    old = SentenceTransformerEmbedder(threads=cfg.threads).embed(texts)
    cosine = (new * old).sum(axis=1)
    return {"chunks": len(texts), "cosine_min": round(float(cosine.min()), 4),
            "cosine_median": round(float(np.median(cosine)), 4), "cosine_p01": round(float(np.percentile(cosine, 1)), 4)}


def bench_retrieval(store, embedder, questions: list[str], repeat: int = 3) -> dict:
    from rag.retrieve import HybridRetriever

    r = HybridRetriever(store, embedder)
    t = time.perf_counter()
    r.refresh()
    build = time.perf_counter() - t
    r.search(questions[0])
    times = []
    for _ in range(repeat):
        for q in questions:
            t = time.perf_counter()
            r.search(q)
            times.append(time.perf_counter() - t)
    return {"chunks": len(r.keyword.chunks), "keyword_index_build_s": round(build, 3), "search_s": stats(times)}


def bench_ask(pipeline, raw_llm, questions: list[str]) -> dict:
    """Our pipeline end to end, and raw llama-cpp-python on the same prompts (its own KV cache)."""
    from llama_cpp import LlamaGrammar

    from rag import prompts
    from rag.answer import Answer

    grammar = LlamaGrammar.from_string(prompts.READ_GRAMMAR, verbose=False)  # the same constrained reply
    warm = pipeline.ask(questions[0])  # warm: model loaded, prompt prefix cached
    # raw warm too: its KV cache holds the prompt's fixed start (instructions, worked examples) before timing
    raw_llm.create_chat_completion(messages=prompts.read_messages(questions[0], [e.text for e in warm.evidence]),
                                   max_tokens=pipeline.max_tokens, temperature=0.0, top_k=1, grammar=grammar)
    ours, raw = [], []
    for q in questions:
        answer = [e for e in pipeline.stream(q) if isinstance(e, Answer)][0]
        ours.append(answer.timings)
        if answer.timings.get("tokens", 0) == 0:
            continue  # declined before generation: nothing to compare
        messages = prompts.read_messages(q, [e.text for e in answer.evidence])
        t = time.perf_counter()
        first, n = None, 0
        for chunk in raw_llm.create_chat_completion(messages=messages, max_tokens=pipeline.max_tokens,
                                                    temperature=0.0, top_k=1, stream=True, grammar=grammar):
            if chunk["choices"][0]["delta"].get("content"):
                first = first or time.perf_counter() - t
                n += 1
        raw.append({"total_s": time.perf_counter() - t, "ttft_s": first or 0.0, "tokens": n})
    generated = [t for t in ours if t.get("tokens")]
    decode = [t["generate_s"] - t["ttft_s"] for t in generated]
    # Two models run per answer: the answer model (generate_s) and the check model (check_s). "Outside
    # the model" is neither; ours/raw compares the answer model's part with raw llama-cpp-python.
    non_model = [t["total_s"] - t["generate_s"] - t.get("check_s", 0.0) for t in generated]
    total = [t["total_s"] for t in generated]
    raw_total = [r["total_s"] for r in raw]
    return {
        "questions": len(questions), "generated": len(generated),
        "total_s": stats([t["total_s"] for t in ours]), "ttft_s": stats([t["ttft_s"] + t["retrieve_s"] + t["evidence_s"] for t in generated]),
        "decode_tokens_per_s": round(sum(t["tokens"] for t in generated) / max(sum(decode), 1e-9), 2),
        "retrieve_s": stats([t["retrieve_s"] for t in ours]), "evidence_s": stats([t["evidence_s"] for t in ours]),
        "verify_s": stats([t["verify_s"] for t in generated]),
        "check_s": stats([t.get("check_s", 0.0) for t in generated]),
        "checks_per_answer": round(sum(t.get("checks", 0) for t in generated) / max(len(generated), 1), 2),
        "check_share": round(sum(t.get("check_s", 0.0) for t in generated) / sum(total), 4),
        "outside_model_share": round(sum(non_model) / sum(total), 4),
        "non_decoding_share": round(sum(a - b for a, b in zip(total, decode)) / sum(total), 4),
        "raw_llama_cpp_total_s": stats(raw_total), "raw_llama_cpp_ttft_s": stats([r["ttft_s"] for r in raw]),
        "ours_over_raw": round(sum(a - t.get("check_s", 0.0) for a, t in zip(total, generated)) / sum(raw_total), 3),
        # the whole answer, the check included, against the raw reader alone
        "ours_with_check_over_raw": round(sum(total) / sum(raw_total), 3),
    }


def bench_plain(store, embedder, generator, questions: list[str]) -> dict:
    from rag.plain import PlainLlamaIndex

    plain = PlainLlamaIndex(store, embedder, generator)
    plain.ask(questions[0])
    times = [plain.ask(q).to_dict()["latency_s"] for q in questions]
    return {"total_s": stats(times)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    p.add_argument("--articles", type=int, default=10_000, help="synthetic corpus size (0 skips it; default 10000)")
    p.add_argument("--questions", type=int, default=20, help="eval questions to ask (default 20)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results", help="folder for the JSON")
    p.add_argument("--name", default=None, help="JSON file name (default local-<time>.json)")
    p.add_argument("--work", type=Path, default=None,
                   help="keep indexes here between runs (default: a temporary folder, deleted after)")
    p.add_argument("--base-embedder", default="torch", choices=["torch", "onnx", "none"],
                   help="also ingest the synthetic corpus with this embed_backend, for the speed ratio (default torch: "
                        "the embedder before the ONNX one; none: skip)")
    p.add_argument("--base-code", type=Path, default=None, metavar="DIR",
                   help="also ingest the synthetic corpus with the code of another checkout (e.g. `git worktree add "
                        "/tmp/before REV`): the ingest as it was, for the ratio")
    p.add_argument("--stages", default=",".join(STAGES),
                   help=f"comma-separated subset of {','.join(STAGES)} (default: all)")
    args = p.parse_args(argv)
    stages = set(args.stages.split(","))
    if stages - set(STAGES):
        p.error(f"unknown stage(s): {', '.join(sorted(stages - set(STAGES)))}")
    if args.articles < 0 or args.questions < 0:
        p.error("--articles and --questions take a count of 0 or more")
    if args.questions == 0 and stages & ASKING:
        p.error(f"--questions 0 leaves nothing to time in the stage(s) {', '.join(sorted(stages & ASKING))}: "
                "ask at least one, or run only --stages startup,synthetic")

    from rag.build import make_embedder, make_generator, make_pipeline, make_store
    from rag.config import Config

    work = args.work or Path(tempfile.mkdtemp(prefix="rag-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "RAG_INDEX_DIR": str(work / "index")}
    cfg = Config.from_env(env)
    items = [json.loads(line) for line in (ROOT / "evals" / "seeds_qa.jsonl").read_text().splitlines() if line]
    questions = [i["question"] for i in items if i.get("split") == "test"][: args.questions]
    result = {"machine": machine(), "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "threads": cfg.threads}
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / (args.name or f"local-{time.strftime('%Y%m%d-%H%M%S')}.json")

    def save():  # after every stage: a failure late in a long run keeps what was measured
        out.write_text(json.dumps(result, indent=2) + "\n")

    try:
        embedder = make_embedder(cfg)
        if stages & {"seeds", "startup", "ask", "plain"}:
            result["ingest_seeds"] = bench_ingest(cfg, [cfg.seeds_dir], embedder, "seeds")
            save()
        if "startup" in stages:
            result["startup"] = bench_startup(env, port=_free_port())
            save()
        store = make_store(cfg)
        if "seeds" in stages:
            result["retrieval_seeds"] = bench_retrieval(store, embedder, questions)
            save()
        if stages & {"ask", "plain"}:
            generator = make_generator(cfg)
        if "ask" in stages:
            pipeline = make_pipeline(cfg, store=store, embedder=embedder, generator=generator)
            from llama_cpp import Llama

            raw_llm = Llama(model_path=str(generator.model_path), n_ctx=cfg.n_ctx, n_threads=cfg.threads,
                            n_threads_batch=cfg.threads, verbose=False)
            result["ask"] = bench_ask(pipeline, raw_llm, questions)
            save()
            del raw_llm
        if "plain" in stages:
            result["plain_llamaindex"] = bench_plain(store, embedder, generator, questions)
            save()
        if "ask" in result and "plain_llamaindex" in result:
            result["speedup_vs_plain_p50"] = round(result["plain_llamaindex"]["total_s"]["p50"] / result["ask"]["total_s"]["p50"], 2)
        if args.articles and "synthetic" in stages:
            from benchmarks.synth import write_corpus

            big_cfg = Config.from_env({**env, "RAG_INDEX_DIR": str(work / f"index-{args.articles}")})
            corpus = work / f"synth-{args.articles}"
            if not corpus.exists():
                write_corpus(cfg.seeds_dir, corpus, args.articles)
            result["ingest_synthetic"] = {"corpus": f"synthetic-{args.articles}", "runs": []}
            plan = [(cfg.embed_backend, None)]  # the default first: its index is searched below
            if cfg.embed_backend == "onnx" and not cfg.embed_url:  # built once per cache, before any timing
                from rag.embed_onnx import onnx_path

                onnx_path(cfg.cache_dir)
            if args.base_embedder not in ("none", cfg.embed_backend):
                plan.append((args.base_embedder, None))
            if args.base_code:
                plan.append(("torch", args.base_code.resolve()))
            for i, (backend, code) in enumerate(plan):
                index = work / f"index-{args.articles}" if i == 0 else work / f"index-base-{i}"
                if index.exists():  # each run measures a fresh ingest
                    shutil.rmtree(index)
                result["ingest_synthetic"]["runs"].append(bench_ingest_cli(env, corpus, index, backend, code))
                save()
            runs = result["ingest_synthetic"]["runs"]
            result["ingest_synthetic"]["speedup_vs"] = {
                f"{r['backend']} ({r['code']})": round(runs[0]["chunks_per_s"] / r["chunks_per_s"], 2) for r in runs[1:]}
            save()
            if questions:
                result["retrieval_synthetic"] = bench_retrieval(make_store(big_cfg), embedder, questions)
                save()
            else:
                print("--questions 0: retrieval on the synthetic corpus not timed", file=sys.stderr)
        if "vectors" in stages:
            result["vectors"] = bench_vectors(cfg)
            save()
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print_table(result)
    print(f"\nSaved {out}")
    return 0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def print_table(r: dict) -> None:
    m = r["machine"]
    print(f"\nMachine: {m['cpu']}, {m['cores']} cores, {m['memory_mib']} MiB; {r['threads']} threads; {r['when']}")
    rows = []
    if "startup" in r:
        s = r["startup"]
        rows += [("rag --help (p50)", f"{s['help_s']['p50']:.3f} s", f"{s['help_rss_mib']} MiB peak"),
                 ("cold rag ask to answer", f"{s['cold_ask_s']:.2f} s", f"{s['cold_ask_rss_mib']} MiB peak"),
                 ("cold rag ui to models loaded", f"{s['cold_ui_ready_s']:.2f} s", f"{s['ui_rss_mib']} MiB peak")]
    for run in r.get("ingest_synthetic", {}).get("runs", []):
        stages = ", ".join(f"{k} {v:.0f} s" for k, v in sorted(run["stage_s"].items(), key=lambda kv: -kv[1]))
        rows.append((f"rag ingest {r['ingest_synthetic']['corpus']}, {run['backend']}, {run['code']}",
                     f"{run['process_s']:.1f} s",
                     f"{run['articles']} articles, {run['chunks']} chunks: {run['articles_per_s']} art/s, "
                     f"{run['chunks_per_s']} chunks/s; {stages or 'no stage times'}; peak {run['peak_rss_mib']} MiB"))
    for base, ratio in r.get("ingest_synthetic", {}).get("speedup_vs", {}).items():
        rows.append((f"ingest speed, default / {base}", f"{ratio}x", "chunks/s, same run"))
    if "vectors" in r:
        v = r["vectors"]
        rows.append(("cosine ONNX int8 vs PyTorch", f"min {v['cosine_min']}", f"median {v['cosine_median']}, "
                     f"1st percentile {v['cosine_p01']}, over {v['chunks']} corpus chunks"))
    for key in ("ingest_seeds",):
        if key in r and r[key].get("reused_index"):
            rows.append((f"ingest {r[key]['corpus']}", "(index reused)", "see an earlier run"))
        if key in r and not r[key].get("reused_index"):
            i = r[key]
            rows.append((f"ingest {i['corpus']}", f"{i['ingest_s']:.2f} s",
                         f"{i['articles']} articles, {i['chunks']} chunks: {i['articles_per_s']} art/s, {i['chunks_per_s']} chunks/s"))
            rows.append((f"re-ingest {i['corpus']} unchanged", f"{i['unchanged_reingest_s']:.3f} s",
                         f"{i['unchanged_embedded']} chunks embedded"))
    for key in ("retrieval_seeds", "retrieval_synthetic"):
        if key in r:
            x = r[key]
            rows.append((f"retrieval at {x['chunks']} chunks", f"p50 {x['search_s']['p50'] * 1000:.1f} ms",
                         f"p95 {x['search_s']['p95'] * 1000:.1f} ms; keyword index built in {x['keyword_index_build_s']:.2f} s"))
    if "ask" in r:
        a = r["ask"]
        rows += [("ask, end to end (warm)", f"p50 {a['total_s']['p50']:.2f} s", f"p95 {a['total_s']['p95']:.2f} s over {a['questions']} questions"),
                 ("ask, time to first token", f"p50 {a['ttft_s']['p50']:.2f} s", f"p95 {a['ttft_s']['p95']:.2f} s"),
                 ("ask, decode speed", f"{a['decode_tokens_per_s']} tok/s", ""),
                 ("check model (1.5B) per answer", f"p50 {a['check_s']['p50']:.2f} s",
                  f"{a['checks_per_answer']} calls per answer, {a['check_share']:.1%} of answer time"),
                 ("outside both models / not decoding", f"{a['outside_model_share']:.1%}", f"{a['non_decoding_share']:.1%} of answer time"),
                 ("raw llama-cpp-python, same prompts", f"p50 {a['raw_llama_cpp_total_s']['p50']:.2f} s", f"ours/raw = {a['ours_over_raw']} without the check, "
                  f"{a.get('ours_with_check_over_raw', '?')} with it")]
    if "plain_llamaindex" in r:
        note = f"ours is {r['speedup_vs_plain_p50']}x faster at p50" if "speedup_vs_plain_p50" in r else ""
        rows.append(("plain llama-index recipe", f"p50 {r['plain_llamaindex']['total_s']['p50']:.2f} s", note))
    w = max((len(x[0]) for x in rows), default=0)
    for name, value, note in rows:
        print(f"{name:<{w}}  {value:>14}  {note}")


if __name__ == "__main__":
    sys.exit(main())
