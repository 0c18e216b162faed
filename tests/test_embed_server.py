"""The embedding-server client against a small real HTTP server on loopback that fails on purpose."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from rag.chunk import Chunker
from rag.embed import OpenAIEmbedder
from rag.errors import ModelError
from rag.ingest import ingest

from fakes import HashEmbedder
from ui_server import free_port


class _Server:
    """An OpenAI-style /v1/embeddings endpoint made from HashEmbedder; ``fail`` lists the status codes
    of the next answers (then 200)."""

    def __init__(self):
        self.fail: list[int] = []
        self.fail_after: int | None = None  # every request after this many answers 500
        self.per_token = False  # answer as llama-cpp-python's server does for a model without pooling
        self.requests = 0
        inner = HashEmbedder(dim=64)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests += 1
                if server.fail or (server.fail_after is not None and server.requests > server.fail_after):
                    code = server.fail.pop(0) if server.fail else 500
                    self.send_response(code)
                    self.end_headers()
                    self.wfile.write(b"busy")
                    return
                vectors = inner.embed(body["input"]) * 3.0  # not unit length: the client normalises
                out = {"object": "list", "model": "hash-64",
                       "data": [{"object": "embedding", "index": i,
                                 "embedding": [v.tolist(), (v * 0.5).tolist()] if server.per_token else v.tolist()}
                                for i, v in reversed(list(enumerate(vectors)))]}  # out of order on purpose
                data = json.dumps(out).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.httpd.shutdown()


def test_vectors_come_back_in_order_and_unit_length(server):
    e = OpenAIEmbedder(server.url, batch_size=2)
    texts = ["Belarus joined the SCO.", "Xi met Putin.", "Floods in the valley."]
    got = e.embed(texts)
    want = HashEmbedder(dim=64).embed(texts)
    assert np.allclose(got, want / np.linalg.norm(want, axis=1, keepdims=True), atol=1e-5)
    assert server.requests == 2  # batches of 2
    assert str(e.describe()) == "hash-64 (openai-server, 64-d)"  # named as the server names its model


def test_a_busy_server_is_retried(server):
    server.fail = [503, 429, 502]
    e = OpenAIEmbedder(server.url, retry_s=30)
    assert e.embed(["one text"]).shape == (1, 64)
    assert server.requests == 4


def test_a_server_that_stays_down_is_a_clear_error_within_the_retry_time():
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens
    e = OpenAIEmbedder(url, retry_s=1.0)
    with pytest.raises(ModelError) as err:
        e.embed(["text"])
    assert f"the embedding server at {url} did not answer after 1 s of retries" in str(err.value)


def test_a_client_error_is_not_retried(server):
    server.fail = [400]
    with pytest.raises(ModelError, match="answered HTTP 400"):
        OpenAIEmbedder(server.url).embed(["text"])
    assert server.requests == 1


def test_a_server_failing_mid_ingest_leaves_no_half_article_and_a_rerun_finishes(server, store, seeds):
    e = OpenAIEmbedder(server.url, batch_size=64, retry_s=0.5)
    e.describe()
    server.fail_after = server.requests + 1  # the first batch is embedded, every later request fails
    with pytest.raises(ModelError):
        ingest([seeds], store, e, Chunker(), progress=False, batch_chunks=8)
    stored = store.articles()
    assert 1 <= len(stored) < 5
    assert store.chunks.count() == sum(a.n_chunks for a in stored)  # whole articles only

    server.fail_after = None
    again = ingest([seeds], store, e, Chunker(), progress=False, batch_chunks=8)
    assert sorted(again.unchanged) == [a.source for a in stored]  # not embedded again
    assert len(again.added) == 5 - len(stored) and store.count() == 5


def test_one_vector_per_token_is_mean_pooled(server):
    server.per_token = True
    got = OpenAIEmbedder(server.url).embed(["Belarus joined the SCO."])
    want = HashEmbedder(dim=64).embed(["Belarus joined the SCO."])
    assert np.allclose(got, want / np.linalg.norm(want), atol=1e-5)
