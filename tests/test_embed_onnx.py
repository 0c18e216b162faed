"""The int8 ONNX embedder against sentence-transformers on PyTorch, both from the packaged weights."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rag.chunk import Chunker
from rag.parse import iter_articles

from conftest import SEEDS


@pytest.fixture(scope="module")
def onnx_cache(model_cache):
    from rag.embed_onnx import onnx_path

    onnx_path(model_cache)  # built once for the session (about 20 s on 2 cores)
    return model_cache


@pytest.fixture(scope="module")
def chunks():
    return [c.text for a in iter_articles([SEEDS]) for c in Chunker(160, 30).chunk(a)]


def test_onnx_vectors_match_torch(onnx_cache, chunks):
    from rag.embed import SentenceTransformerEmbedder
    from rag.embed_onnx import OnnxEmbedder

    onnx = OnnxEmbedder(onnx_cache, threads=2)
    torch = SentenceTransformerEmbedder(threads=2)
    texts = chunks + ["Belarus", "Which country became the tenth member of the SCO?"]
    a, b = onnx.embed(texts), torch.embed(texts)
    assert a.shape == b.shape == (len(texts), 384) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    cosine = (a * b).sum(axis=1)
    assert cosine.min() >= 0.99, (cosine.min(), np.median(cosine))  # the bound; 0.994 measured here
    # batching and order do not change a text's vector
    again = onnx.embed(list(reversed(texts)))[::-1]
    assert np.allclose(a, again, atol=1e-5)
    assert onnx.describe() != torch.describe() and onnx.describe().dim == torch.describe().dim == 384


def test_a_damaged_onnx_file_is_reported_and_rebuilt(onnx_cache, tmp_path, capsys):
    import shutil

    from rag.embed_onnx import ONNX_FILE, OnnxEmbedder, onnx_path

    cache = tmp_path / "cache"
    (cache / "models").mkdir(parents=True)
    for name in (ONNX_FILE, ONNX_FILE.replace(".onnx", ".json")):
        shutil.copy(onnx_cache / "models" / name, cache / "models" / name)
    target = onnx_path(cache)  # a good copy is used as it is
    assert "building" not in capsys.readouterr().err
    good = target.read_bytes()
    target.write_bytes(good[: len(good) // 2])  # as a killed build or a full disk would leave it
    rebuilt = onnx_path(cache)
    assert "partial, damaged or from another recipe" in capsys.readouterr().err
    assert json.loads(rebuilt.with_suffix(".json").read_text())["size"] == rebuilt.stat().st_size
    assert OnnxEmbedder(cache, threads=2).embed(["Belarus joined."]).shape == (1, 384)
