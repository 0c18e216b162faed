"""Which layers of the int8 embedder to quantize: the cosine to PyTorch's vectors and the speed of
variants of the ONNX build (rag/embed_onnx.py), measured on the eval corpus and seed chunks.

    python -m benchmarks.onnx_variants                # the built recipe, all-int8, and each attention alone
    python -m benchmarks.onnx_variants --attention 1245 --attention 012345

Every variant starts from the same fused export; ``--attention`` lists the blocks whose fused attention
is quantized as well (the built recipe quantizes none). The feed-forward output layers stay float32
unless ``all`` is asked for. The cosine minimum is printed for the dev events' and the seeds' chunks
and for the test events' apart: choose on dev. Speed is chunks/s of one embed call over all of them,
after a warm-up, on this machine; compare variants within one run.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.onnx_variants", description=__doc__.split("\n")[0])
    p.add_argument("--attention", action="append", default=None, metavar="BLOCKS",
                   help="blocks (digits 0-5) whose attention is quantized too; repeatable; 'all' quantizes every layer")
    args = p.parse_args(argv)
    variants = args.attention or ["", "all", *"012345"]

    import numpy as np
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    from rag import embed_onnx
    from rag.build import make_chunker
    from rag.config import Config
    from rag.embed import SentenceTransformerEmbedder
    from rag.parse import iter_articles

    logging.getLogger().setLevel(logging.ERROR)
    warnings.simplefilter("ignore")
    cfg = Config()
    chunks = [c for a in iter_articles([ROOT / "evals" / "corpus" / "articles", cfg.seeds_dir])
              for c in make_chunker(cfg).chunk(a)]
    test_events = {json.loads(line)["id"].rsplit("-", 1)[0]
                   for line in (ROOT / "evals" / "corpus" / "questions.jsonl").read_text().splitlines()
                   if line and json.loads(line).get("split") == "test"}
    is_test = np.array([c.source.split("_")[0] in test_events for c in chunks])
    texts = [c.text for c in chunks]
    old = SentenceTransformerEmbedder(threads=cfg.threads).embed(texts)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        embed_onnx._export(tmp / "model.onnx")
        optimize_model(str(tmp / "model.onnx"), model_type="bert", num_heads=12,
                       hidden_size=384).save_model_to_file(str(tmp / "fused.onnx"))
        graph = onnx.load(str(tmp / "fused.onnx")).graph
        ffn_out = [n.name for n in graph.node if n.op_type == "MatMul" and "/output/dense/" in n.name
                   and "/attention/" not in n.name]
        print(f"{len(texts)} chunks ({int(is_test.sum())} from test events); {cfg.threads} threads")
        for blocks in variants:
            keep = [] if blocks == "all" else ffn_out + [f"Attention_{k}" for k in range(6) if str(k) not in blocks]
            path = tmp / f"variant-{blocks or 'none'}.onnx"
            quantize_dynamic(str(tmp / "fused.onnx"), str(path), weight_type=QuantType.QInt8, per_channel=True,
                             op_types_to_quantize=["MatMul", "Attention"], nodes_to_exclude=keep,
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
            embed_onnx.onnx_path = lambda cache_dir, p=path: p
            embedder = embed_onnx.OnnxEmbedder(tmp, threads=cfg.threads)
            embedder.embed(texts[:16])
            t = time.perf_counter()
            new = embedder.embed(texts)
            seconds = time.perf_counter() - t
            cosine = (new * old).sum(axis=1)
            print(json.dumps({"attention_int8": blocks or "none (the built recipe)",
                              "cosine_min_dev": round(float(cosine[~is_test].min()), 4),
                              "cosine_min_test": round(float(cosine[is_test].min()), 4),
                              "cosine_median": round(float(np.median(cosine)), 4),
                              "chunks_per_s": round(len(texts) / seconds, 1)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
