"""The packaged all-MiniLM-L6-v2 as an int8 ONNX model, run with onnxruntime.

Built once, locally, from the packaged safetensors weights (nothing is downloaded): exported with
torch's ONNX exporter, its attention and layer norms fused by onnxruntime's BERT optimizer, then the
weights of its dense layers quantized to int8 per channel, all but each block's last (feed-forward
output) layer, whose inputs have the outliers that int8 loses. Quantizing those too, or the fused
attention, was faster but put some chunks' vectors at a cosine of 0.98 to PyTorch's; as built, the
minimum on the eval corpus chunks is 0.991 (measured by the ingest benchmark, checked by
``tests/test_embed_onnx.py``). The file is checked like the GGUF models: a manifest written after it holds its
sha256, and a partial or damaged file is reported and rebuilt.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from .embed import MINILM_SHA256, Embedder, EmbedderInfo, packaged_minilm_path, verify_packaged_minilm
from .errors import ModelError

ONNX_FILE = "all-minilm-l6-v2-int8.onnx"
# Bumped whenever the recipe below changes: an older file is rebuilt rather than trusted.
RECIPE = "torchscript-export eager-attention opset17 + bert-fusion + int8 per-channel MatMul except FFN output v2"


def onnx_path(cache_dir: Path) -> Path:
    """The int8 model in the cache, built (or rebuilt, when partial or damaged) on first use."""
    from .models import sha256_file

    target = Path(cache_dir) / "models" / ONNX_FILE
    manifest = target.with_suffix(".json")
    if target.exists():
        try:
            meta = json.loads(manifest.read_text())
            ok = meta.get("recipe") == RECIPE and meta.get("source_sha256") == MINILM_SHA256 \
                and meta.get("size") == target.stat().st_size and meta.get("sha256") == sha256_file(target)
        except (OSError, ValueError):
            ok = False
        if ok:
            return target
        print(f"{target} is partial, damaged or from another recipe: building it again …", file=sys.stderr)
        target.unlink(missing_ok=True)
    build(target)
    manifest.write_text(json.dumps({"sha256": sha256_file(target), "size": target.stat().st_size,
                                    "recipe": RECIPE, "source_sha256": MINILM_SHA256}))
    return target


def build(target: Path) -> Path:
    """Export, fuse and quantize the packaged model into ``target`` (about 20 s on 2 cores)."""
    import tempfile

    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from onnxruntime.transformers.optimizer import optimize_model
    except ImportError as exc:
        raise ModelError(f"the ONNX embedder needs onnx and onnxruntime ({exc}); pip install onnx onnxruntime, "
                         "or set embed_backend = \"torch\"") from exc
    import logging
    import warnings

    print("Building the int8 ONNX embedder from the packaged all-MiniLM-L6-v2 (once, about 20 s) …", file=sys.stderr)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer logs advice at WARNING on the root logger
    try:
        with warnings.catch_warnings(), tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            warnings.simplefilter("ignore")  # the exporter's tracer warnings are about shapes we fix as dynamic
            exported = Path(tmp) / "model.onnx"
            _export(exported)
            fused = optimize_model(str(exported), model_type="bert", num_heads=12, hidden_size=384)
            fused_path = Path(tmp) / "fused.onnx"
            fused.save_model_to_file(str(fused_path))
            quantized = Path(tmp) / "int8.onnx"
            graph = onnx.load(str(fused_path)).graph
            ffn_out = [n.name for n in graph.node if n.op_type == "MatMul" and "/output/dense/" in n.name
                       and "/attention/" not in n.name]
            if len(ffn_out) != 6:  # one per block: the exporter named the graph differently
                raise ModelError(f"the exported embedder has {len(ffn_out)} feed-forward output layers, not 6; "
                                 "set embed_backend = \"torch\" and report this")
            quantize_dynamic(str(fused_path), str(quantized), weight_type=QuantType.QInt8, per_channel=True,
                             op_types_to_quantize=["MatMul"], nodes_to_exclude=ffn_out,
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
            os.replace(quantized, target)  # atomic: the target is whole or absent
    finally:
        root.setLevel(level)
    return target


def _export(path: Path) -> None:
    import torch
    from transformers import AutoModel

    source = verify_packaged_minilm()
    # eager attention exports as plain MatMul/Softmax, which the optimizer fuses into one Attention op
    bert = AutoModel.from_pretrained(str(source), local_files_only=True, attn_implementation="eager").eval()

    class Encoder(torch.nn.Module):  # BERT called by keyword: positional calls hit its use_cache argument
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    ids = torch.ones(2, 16, dtype=torch.long)
    with torch.no_grad():
        torch.onnx.export(Encoder(bert), (ids, torch.ones_like(ids), torch.zeros_like(ids)), str(path),
                          input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["hidden"],
                          dynamic_axes={n: {0: "batch", 1: "tokens"} for n in
                                        ("input_ids", "attention_mask", "token_type_ids", "hidden")},
                          opset_version=17, dynamo=False)


class OnnxEmbedder(Embedder):
    """all-MiniLM-L6-v2, int8, on onnxruntime: the same tokenizer (256 tokens at most), mean pooling and
    L2 normalisation as sentence-transformers."""

    max_tokens = 256

    def __init__(self, cache_dir: Path, threads: int | None = None, batch_size: int = 8):
        self.cache_dir = Path(cache_dir)
        self.threads = threads
        self.batch_size = batch_size
        self.name = "all-MiniLM-L6-v2"
        self.info = EmbedderInfo("all-MiniLM-L6-v2", "onnx-int8", 384)
        self._session = None
        self._tokenizer = None

    def _load(self):
        if self._session is None:
            import onnxruntime as ort
            from tokenizers import Tokenizer

            path = onnx_path(self.cache_dir)
            options = ort.SessionOptions()
            if self.threads:
                options.intra_op_num_threads = self.threads
                options.inter_op_num_threads = 1
            try:
                self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            except Exception as exc:  # a file that passed its manifest but still fails: say where it is
                raise ModelError(f"cannot load the ONNX embedder {path} ({exc}); delete it to rebuild it") from exc
            tokenizer = Tokenizer.from_file(str(packaged_minilm_path() / "tokenizer.json"))
            tokenizer.enable_truncation(self.max_tokens)
            tokenizer.no_padding()
            self._tokenizer = tokenizer
        return self._session

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        session = self._load()
        encodings = self._tokenizer.encode_batch(list(texts))
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")  # like lengths together: less padding
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            width = max(len(encodings[i].ids) for i in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            types = np.zeros_like(ids)
            for row, i in enumerate(batch):
                e = encodings[i]
                ids[row, :len(e.ids)] = e.ids
                mask[row, :len(e.ids)] = 1
                types[row, :len(e.ids)] = e.type_ids
            hidden = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            out[batch] = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return out
