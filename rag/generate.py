"""Generators: chat messages in, a stream of text pieces out."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from .errors import GenerationError, ModelError


class Generator:
    """A language model that streams its reply to a list of chat messages."""

    name: str = "generator"

    def stream(self, messages: list[dict[str, str]], max_tokens: int = 128) -> Iterator[str]:
        raise NotImplementedError


class LlamaCppGenerator(Generator):
    """A GGUF model run in-process by llama-cpp-python, greedy decoding.

    The prompt's fixed prefix (system prompt and examples) stays in llama.cpp's KV
    cache between calls, so only the new evidence and question are processed.
    """

    def __init__(self, model_path: str | Path, n_ctx: int = 2048, n_threads: int = 2, seed: int = 0):
        self.model_path = Path(model_path)
        self.name = self.model_path.stem
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.seed = seed
        self._llm = None

    def load(self):
        if self._llm is None:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise ModelError("llama-cpp-python is not installed: pip install llama-cpp-python==0.3.36") from exc
            try:
                self._llm = Llama(
                    model_path=str(self.model_path), n_ctx=self.n_ctx, n_threads=self.n_threads,
                    n_threads_batch=self.n_threads, seed=self.seed, verbose=False,
                )
            except (ValueError, RuntimeError, OSError) as exc:
                raise ModelError(f"cannot load model {self.model_path}: {exc}") from exc
        return self._llm

    def stream(self, messages: list[dict[str, str]], max_tokens: int = 128) -> Iterator[str]:
        llm = self.load()
        try:
            chunks = llm.create_chat_completion(
                messages=messages, max_tokens=max_tokens, temperature=0.0, top_k=1, stream=True,
            )
            for chunk in chunks:
                piece = chunk["choices"][0]["delta"].get("content")
                if piece:
                    yield piece
        except (ValueError, RuntimeError) as exc:
            raise GenerationError(f"the model failed while answering: {exc}") from exc
