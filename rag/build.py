"""Wiring: build the real store, embedder, chunker, generator and pipeline from a Config."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from .chunk import Chunker
from .config import Config
from .embed import Embedder, SentenceTransformerEmbedder
from .errors import IndexEmptyError, InputError
from .generate import Generator, LlamaCppGenerator
from .ingest import IngestReport, ingest
from .judge import Judge, LlamaCppJudge
from .store import ChromaStore


def make_store(cfg: Config) -> ChromaStore:
    return ChromaStore(cfg.index_dir, collection=cfg.collection, url=cfg.chroma_url)


def make_embedder(cfg: Config) -> Embedder:
    """The embedding server if one is set, else the packaged MiniLM on the configured backend."""
    if cfg.embed_url:
        from .embed import OpenAIEmbedder

        model = "" if cfg.embed_model == "all-minilm-l6-v2" else cfg.embed_model
        return OpenAIEmbedder(cfg.embed_url, model=model, api_key=cfg.llm_api_key, retry_s=cfg.embed_retry_s)
    if cfg.embed_backend == "onnx":
        from .embed_onnx import OnnxEmbedder

        return OnnxEmbedder(cfg.cache_dir, threads=cfg.threads)
    return SentenceTransformerEmbedder(threads=cfg.threads)


def make_chunker(cfg: Config) -> Chunker:
    return Chunker(cfg.chunk_size, cfg.chunk_overlap)


def make_generator(cfg: Config) -> Generator:
    """The configured LLM server if there is one, else the packaged (or given .gguf) model in-process."""
    if cfg.llm_url:
        from .generate import OpenAIChatGenerator

        return OpenAIChatGenerator(cfg.llm_url, model=cfg.llm_model, api_key=cfg.llm_api_key, timeout=cfg.llm_timeout)
    from .models import resolve_model

    path = resolve_model(cfg.model, cfg.cache_dir)
    gen = LlamaCppGenerator(path, n_ctx=cfg.n_ctx, n_threads=cfg.threads, state_dir=cfg.cache_dir / "prompt-states")
    gen.name = cfg.model
    return gen


NO_JUDGE = ("", "none", "off")


def make_judge(cfg: Config, generator: Generator | None = None) -> Judge | None:
    """The check model, in-process (also when the answers come from an LLM server); None if switched off.
    When it is the in-process reader's own model, it shares that ``generator``'s weights and KV cache."""
    if cfg.judge_model.strip().lower() in NO_JUDGE:
        return None
    from .models import resolve_model

    path = resolve_model(cfg.judge_model, cfg.cache_dir)
    if isinstance(generator, LlamaCppGenerator) and generator.model_path == path:
        return LlamaCppJudge(path, n_threads=cfg.threads, shared=generator)
    return LlamaCppJudge(path, n_threads=cfg.threads)


def run_ingest(cfg: Config, paths, store: ChromaStore, embedder: Embedder, progress: bool = True,
               demo: bool = False) -> IngestReport:
    return ingest(paths, store, embedder, make_chunker(cfg), progress=progress,
                  max_bytes=int(cfg.max_file_mb * 1e6), batch_chunks=cfg.embed_batch, demo=demo)


def is_demo(cfg: Config, paths) -> bool:
    """Whether ``paths`` is the seeds folder: its articles are the demo."""
    try:
        return [Path(p).resolve() for p in paths] == [Path(cfg.seeds_dir).resolve()]
    except OSError:
        return False


def ensure_index(cfg: Config, store: ChromaStore, embedder: Embedder, progress: bool = True) -> IngestReport | None:
    """First run: build the index from the seeds folder (the demo articles) if it is empty. Once the
    user has removed the demo, an empty library stays empty: IndexEmptyError says how to add articles."""
    if store.count() > 0:
        return None
    if store.demo_removed():
        raise IndexEmptyError("the library is empty (the demo articles were removed): add articles with "
                              "`rag ingest PATH` or on the page")
    if not cfg.seeds_dir.is_dir():
        raise IndexEmptyError(f"the index is empty and there is no seeds folder at {cfg.seeds_dir}: run `rag ingest PATH`")
    if progress:
        print(f"Index is empty: building it from {cfg.seeds_dir} …", file=sys.stderr)
    report = run_ingest(cfg, [cfg.seeds_dir], store, embedder, progress=progress, demo=True)
    if store.count() == 0:
        raise IndexEmptyError(f"no article could be indexed from {cfg.seeds_dir}: run `rag ingest PATH`")
    return report


def corpus_store(cfg: Config, corpus: Path, embedder: Embedder, progress: bool = True) -> ChromaStore:
    """A store holding exactly the articles of the folder ``corpus``, apart from the user's index.

    It is an embedded index of its own under the cache folder, one per corpus path and embedder, so an eval never
    mixes its articles with the user's (nor with a Chroma server's); files unchanged since the last run
    are not embedded again, and articles no longer in the folder are taken out.
    """
    corpus = Path(corpus).resolve()
    if not corpus.is_dir():
        raise InputError(f"--corpus {corpus}: no such folder")
    # one index per corpus folder and embedder: two embedders' evals of one corpus never share vectors
    key = hashlib.sha256(f"{corpus}|{embedder.describe()}".encode()).hexdigest()[:12]
    store = ChromaStore(cfg.cache_dir / "eval-corpora" / f"{corpus.name}-{key}", collection="corpus")
    if progress:
        print(f"Indexing the corpus {corpus} into an index of its own, {store.where} …", file=sys.stderr)
    report = run_ingest(cfg, [corpus], store, embedder, progress=progress)
    if report.failed:
        raise InputError("corpus files that cannot be indexed: "
                         + "; ".join(f"{path}: {reason}" for path, reason in report.failed))
    present = set(report.added + report.updated + report.unchanged)
    for article in store.articles():
        if article.source not in present:
            store.remove(article.source)
    if not present:
        raise InputError(f"--corpus {corpus}: no .txt, .md, .html or .pdf articles in it")
    return store


def eval_store(cfg: Config, embedder: Embedder, corpus: Path | None = None, progress: bool = True) -> ChromaStore:
    """The articles an eval reads: the folder ``corpus`` in an index of its own, else the configured
    index (built from the seeds when empty)."""
    if corpus:
        return corpus_store(cfg, corpus, embedder, progress=progress)
    store = make_store(cfg)
    ensure_index(cfg, store, embedder, progress=progress)
    return store


_FROM_CONFIG = object()


def make_pipeline(cfg: Config, store: ChromaStore | None = None, embedder: Embedder | None = None,
                  generator: Generator | None = None, judge=_FROM_CONFIG):
    from .answer import Pipeline

    store = store or make_store(cfg)
    embedder = embedder or make_embedder(cfg)
    generator = generator or make_generator(cfg)
    from .conversation import ModelRewriter, RuleRewriter

    rewriter = RuleRewriter() if cfg.rewriter == "rules" else ModelRewriter(generator, mode=cfg.rewriter)
    return Pipeline(store=store, embedder=embedder, generator=generator, rewriter=rewriter,
                    judge=make_judge(cfg, generator) if judge is _FROM_CONFIG else judge, min_judge=cfg.min_judge,
                    top_k=cfg.top_k, evidence_k=cfg.evidence_k, max_tokens=cfg.max_tokens, open_k=cfg.open_k,
                    open_max_tokens=cfg.open_max_tokens)
