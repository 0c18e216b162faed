"""The plain llama-index recipe, for comparison: VectorStoreIndex over Chroma, ``as_query_engine()``.

Same Chroma, same embedder, same LLM as our pipeline, llama-index's default chunking, prompt and
top-k, and its source nodes as the citations. Nothing in llama-index's global ``Settings`` is used:
the embedder and the LLM are passed in explicitly.
"""

from __future__ import annotations

import time
from typing import Any

from .answer import Answer, Citation, check_question
from .embed import Embedder
from .generate import Generator
from .store import ChromaStore
from .verify import is_refusal


def _llm_adapter(generator: Generator, max_tokens: int):
    from llama_index.core.llms import CompletionResponse, CustomLLM, LLMMetadata
    from llama_index.core.llms.callbacks import llm_completion_callback

    class GeneratorLLM(CustomLLM):
        """Our generator as a llama-index LLM; each prompt goes in as one user message."""

        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata(context_window=2048, num_output=max_tokens, model_name=generator.name)

        @llm_completion_callback()
        def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
            text = "".join(generator.stream([{"role": "user", "content": prompt}], max_tokens=max_tokens))
            return CompletionResponse(text=text)

        @llm_completion_callback()
        def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any):
            text = ""
            for piece in generator.stream([{"role": "user", "content": prompt}], max_tokens=max_tokens):
                text += piece
                yield CompletionResponse(text=text, delta=piece)

    return GeneratorLLM()


def _embed_adapter(embedder: Embedder):
    from llama_index.core.embeddings import BaseEmbedding

    class EmbedderAdapter(BaseEmbedding):
        """Our embedder as a llama-index embedding model."""

        def _get_query_embedding(self, query: str) -> list[float]:
            return embedder.embed([query])[0].tolist()

        def _get_text_embedding(self, text: str) -> list[float]:
            return embedder.embed([text])[0].tolist()

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return embedder.embed(texts).tolist()

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

    return EmbedderAdapter(model_name=getattr(embedder, "name", "embedder"), embed_batch_size=64)


class PlainLlamaIndex:
    """The textbook recipe, built over the articles already in our store."""

    def __init__(self, store: ChromaStore, embedder: Embedder, generator: Generator, top_k: int | None = None,
                 max_tokens: int = 96):
        from llama_index.core import Document, StorageContext, VectorStoreIndex
        from llama_index.vector_stores.chroma import ChromaVectorStore

        self.generator = generator
        name = f"{store.collection_name}-plain-llamaindex"
        try:
            store.client.delete_collection(name)
        except Exception:  # not there yet
            pass
        collection = store.client.get_or_create_collection(name, embedding_function=None)
        docs = [Document(text=a.text, metadata={"file_name": a.source}) for a in store.articles(with_text=True)]
        self.index = VectorStoreIndex.from_documents(
            docs, storage_context=StorageContext.from_defaults(vector_store=ChromaVectorStore(chroma_collection=collection)),
            embed_model=_embed_adapter(embedder), show_progress=False,
        )
        kwargs = {"similarity_top_k": top_k} if top_k else {}
        self.engine = self.index.as_query_engine(llm=_llm_adapter(generator, max_tokens), streaming=True, **kwargs)

    def ask(self, question: str) -> Answer:
        question = check_question(question)
        t0 = time.perf_counter()
        response = self.engine.query(question)
        pieces, ttft = [], None
        for piece in response.response_gen:
            if ttft is None:
                ttft = time.perf_counter() - t0
            pieces.append(piece)
        total = time.perf_counter() - t0
        text = "".join(pieces).strip()
        nodes = response.source_nodes
        citations = tuple(
            Citation(i, n.node.metadata.get("file_name", ""), n.node.get_content(), n.node.start_char_idx or 0,
                     n.node.end_char_idx or 0)
            for i, n in enumerate(nodes, 1)
        )
        refused = is_refusal(text)
        return Answer(
            question=question, text=text, refused=refused, citations=() if refused else citations,
            retrieved=tuple((n.node.metadata.get("file_name", ""), float(n.score or 0.0)) for n in nodes),
            raw=text, model=self.generator.name, shape="",
            timings={"total_s": total, "ttft_s": ttft or 0.0, "generate_s": total, "tokens": len(pieces)},
        )
