"""A real `rag ui` server on a free loopback port, with the test fakes for models (shared by UI tests)."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

from conftest import SEEDS
from fakes import HashEmbedder, ScriptedGenerator, extractive_reply


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(tmp: Path, reply=extractive_reply, generator_factory=None, api_key=None):
    """Serve the page and the API from a private copy of the seeds; returns (url, server, runtime)
    (``server.close()`` stops it)."""
    from rag.config import Config
    from rag.store import ChromaStore
    from ui.app import Runtime, serve

    seeds = tmp / "seeds"
    if not seeds.exists():
        shutil.copytree(SEEDS, seeds)
    cfg = Config(index_dir=tmp / "index", seeds_dir=seeds, cache_dir=tmp / "cache", max_file_mb=1.0,
                 judge_model="none")  # fake replies: word-overlap checks only
    factory = generator_factory or (lambda model: ScriptedGenerator(reply))
    runtime = Runtime(cfg, store=ChromaStore(cfg.index_dir), embedder=HashEmbedder(), generator_factory=factory)
    for attempt in range(3):
        port = free_port()
        try:
            demo = serve(cfg, host="127.0.0.1", port=port, runtime=runtime, block=False, api_key=api_key)
            break
        except OSError:  # the port was taken meanwhile: try again on another port
            if attempt == 2:
                raise
    return f"http://127.0.0.1:{port}/", demo, runtime


CLIENT_TIMEOUT_S = 300


def client(url: str):
    """A gradio_client for ``url``. Its HTTP calls wait up to CLIENT_TIMEOUT_S, not httpx's default 5 s: on a
    slow or busy machine (twenty sessions at once, one core) a reply can take longer than that."""
    from gradio_client import Client

    return Client(url, verbose=False, httpx_kwargs={"timeout": CLIENT_TIMEOUT_S})


NEW_ARTICLE = """Lakeside town opens floating library

By Ana Costa, The Harbour Times, 12 May 2024

The town of Vellmar opened a floating library on its lake on Saturday. The library holds 4,000 books and
is moored beside the old ferry pier. Mayor Ilse Brandt said the boat was bought from a river cruise company.
"""
