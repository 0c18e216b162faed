"""Beyond one machine, against real servers started here on loopback: `chroma run` and
`python -m llama_cpp.server` with the packaged model. No mocks of either server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import SEEDS
from ui_server import NEW_ARTICLE, free_port

pytestmark = pytest.mark.slow
QUESTION = "Which country became the tenth member of the SCO?"
ARTICLES = {p.name: p.read_text(encoding="utf-8") for p in SEEDS.glob("*.txt")}


def _spawn(cmd: list[str], log: Path) -> subprocess.Popen:
    """Server output goes to a file: a pipe nobody reads fills up and blocks the server (Chroma logs every request)."""
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, text=True)
    proc.log = log
    return proc


# How long a server may take to answer its first request: generous, for a slow or busy machine. These bound a
# hang; they are not speed tests.
CHROMA_START_S = 180
LLM_START_S = 300  # loads the model first


def _wait(url: str, proc: subprocess.Popen, what: str, limit: float) -> None:
    """Poll until ``url`` answers (the server is up), the server exits, or ``limit`` seconds pass."""
    deadline = time.monotonic() + limit
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before answering {url}: "
                               f"{proc.log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=10)
            return
        except OSError as exc:
            last = exc
            time.sleep(0.2)
    _stop(proc)
    raise RuntimeError(f"{what} did not answer {url} within {limit:.0f} s (last error: {last}); "
                       f"its log ends: {proc.log.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def start_chroma(path: Path, port: int) -> subprocess.Popen:
    chroma = Path(sys.executable).parent / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    proc = _spawn([str(chroma), "run", "--path", str(path), "--port", str(port)], path.parent / f"chroma-{port}.log")
    _wait(f"http://127.0.0.1:{port}/api/v2/heartbeat", proc, "chroma run", CHROMA_START_S)
    return proc


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory):
    port = free_port()
    proc = start_chroma(tmp_path_factory.mktemp("chroma-server"), port)
    yield f"http://127.0.0.1:{port}"
    _stop(proc)


@pytest.fixture(scope="module")
def llm_url(model_cache, tmp_path_factory):
    port = free_port()
    proc = start_llm(model_cache, port, tmp_path_factory.mktemp("llm-server"))
    yield f"http://127.0.0.1:{port}/v1"
    _stop(proc)


def start_llm(model_cache: Path, port: int, log_dir: Path) -> subprocess.Popen:
    from rag.models import resolve_model

    model = resolve_model("qwen2.5-coder-1.5b", model_cache)
    proc = _spawn(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", "qwen2.5-coder-1.5b",
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", str(os.cpu_count() or 2),
         "--verbose", "False"],
        log_dir / f"llm-{port}.log")
    _wait(f"http://127.0.0.1:{port}/v1/models", proc, "llama_cpp.server", LLM_START_S)
    return proc


def rag(*args, env=None, timeout=600):  # a bound on a hang (real models, slow machine), not a speed test
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def _assert_cited_belarus(out: dict) -> None:
    assert out["refused"] is False and "belarus" in out["answer"].lower()
    assert out["citations"]
    for c in out["citations"]:
        assert c["quote"] in ARTICLES[c["source"]]


# -- Chroma server -------------------------------------------------------------------------

def test_chroma_server_ingest_ask_remove(chroma_url, model_cache, tmp_path):
    env = {"RAG_CHROMA_URL": chroma_url, "RAG_CACHE_DIR": str(model_cache), "RAG_COLLECTION": "cli-flow",
           "RAG_INDEX_DIR": str(tmp_path / "not-used")}
    proc = rag("ingest", "--quiet", str(SEEDS), env=env)
    assert proc.returncode == 0, proc.stderr
    assert "5 added" in proc.stdout

    proc = rag("ask", "--json", QUESTION, env=env)
    assert proc.returncode == 0, proc.stderr
    _assert_cited_belarus(json.loads(proc.stdout))

    target = "000_be872feae246cb84.txt"
    proc = rag("remove", target, env=env)
    assert proc.returncode == 0 and f"removed {target}" in proc.stdout
    listed = json.loads(rag("list", "--json", env=env).stdout)
    assert sorted(d["source"] for d in listed) == sorted(set(ARTICLES) - {target})
    # Nothing went to the embedded index: everything lives on the server.
    assert not (tmp_path / "not-used").exists()

    proc = rag("ask", "--json", QUESTION, env=env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert all(c["source"] != target for c in out["citations"])
    assert target not in [r["source"] for r in out["retrieved"]]


def test_two_processes_share_a_chroma_server(chroma_url, tmp_path):
    """A long-lived process (this one, like a UI worker) sees an article another process ingests."""
    from rag.build import make_embedder, run_ingest
    from rag.config import Config
    from rag.retrieve import HybridRetriever
    from rag.store import ChromaStore

    cfg = Config.from_env(chroma_url=chroma_url, collection="shared")
    store = ChromaStore(url=chroma_url, collection="shared")
    embedder = make_embedder(cfg)
    run_ingest(cfg, [SEEDS], store, embedder, progress=False)
    retriever = HybridRetriever(store, embedder)
    assert "floating library" not in " ".join(h.chunk.text for h in retriever.search("Vellmar floating library"))

    article = tmp_path / "vellmar.txt"
    article.write_text(NEW_ARTICLE, encoding="utf-8")
    proc = rag("ingest", "--quiet", str(article), env={"RAG_CHROMA_URL": chroma_url, "RAG_COLLECTION": "shared"})
    assert proc.returncode == 0, proc.stderr

    hits = retriever.search("Vellmar floating library")  # no explicit refresh: the store's version moved
    assert hits[0].chunk.source == "vellmar.txt"

    # And the other way round: what this process removes, a new process no longer lists.
    assert store.remove("vellmar.txt")
    listed = json.loads(rag("list", "--json", env={"RAG_CHROMA_URL": chroma_url, "RAG_COLLECTION": "shared"}).stdout)
    assert "vellmar.txt" not in [d["source"] for d in listed] and len(listed) == 5


def test_collections_on_a_server_are_separate(chroma_url, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    (one / "vellmar.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    for name in ("000_be872feae246cb84.txt", "001_27e2c4d3b7fe8b50.txt"):
        if (SEEDS / name).exists():
            (two / name).write_text((SEEDS / name).read_text(encoding="utf-8"), encoding="utf-8")
    env = {"RAG_CHROMA_URL": chroma_url}
    assert rag("--collection", "town-news", "ingest", "--quiet", str(one), env=env).returncode == 0
    assert rag("ingest", "--collection", "world-news", "--quiet", str(two), env=env).returncode == 0
    town = json.loads(rag("list", "--json", "--collection", "town-news", env=env).stdout)
    assert [d["source"] for d in town] == ["vellmar.txt"]
    world = json.loads(rag("list", "--json", "--collection", "world-news", env=env).stdout)
    assert "vellmar.txt" not in [d["source"] for d in world] and world
    sets = dict((d["collection"], d["articles"]) for d in json.loads(rag("list", "--collections", "--json", env=env).stdout))
    assert sets["town-news"] == 1 and sets["world-news"] == len(world)


def test_chroma_server_down_is_a_clear_error(tmp_path, tally):
    url = f"http://127.0.0.1:{free_port()}"
    for args in (["list"], ["ingest", str(SEEDS)], ["ask", QUESTION]):
        tally["faults_injected"] += 1
        proc = rag(*args, env={"RAG_CHROMA_URL": url})
        assert proc.returncode == 1, (args, proc.stderr)
        assert f"cannot reach the Chroma server at {url}" in proc.stderr
        assert "Traceback" not in proc.stderr
        tally["faults_survived"] += 1


def test_chroma_server_dies_and_returns(tmp_path, tally):
    """A long-lived client gets a clear error while the server is down, and works again after."""
    from fakes import HashEmbedder
    from rag.errors import StoreError
    from rag.ingest import ingest
    from rag.chunk import Chunker
    from rag.store import ChromaStore

    port = free_port()
    proc = start_chroma(tmp_path / "data", port)
    store = ChromaStore(url=f"http://127.0.0.1:{port}", collection="flaky")
    ingest([SEEDS], store, HashEmbedder(), Chunker(), progress=False)
    assert store.count() == 5
    _stop(proc)
    tally["faults_injected"] += 1
    with pytest.raises(StoreError, match="lost the Chroma server"):
        store.articles()
    proc = start_chroma(tmp_path / "data", port)
    try:
        assert store.count() == 5 and len(store.articles()) == 5
        tally["faults_survived"] += 1
    finally:
        _stop(proc)


# -- OpenAI-compatible LLM server --------------------------------------------------------------

def test_ask_through_llama_cpp_server_streams_a_cited_answer(llm_url, model_cache, tmp_path):
    from rag.generate import OpenAIChatGenerator

    gen = OpenAIChatGenerator(llm_url, model="qwen2.5-coder-1.5b", timeout=120)
    pieces = list(gen.stream([{"role": "user", "content": "Count from one to five in words."}], max_tokens=24))
    assert len(pieces) > 3  # it streamed, piece by piece
    assert "three" in "".join(pieces).lower()

    proc = rag("--llm-url", llm_url, "ask", "--json", QUESTION,
               env={"RAG_INDEX_DIR": str(tmp_path / "idx"), "RAG_CACHE_DIR": str(model_cache)})  # the check model's file
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    _assert_cited_belarus(out)
    assert out["model"] == "qwen2.5-coder-1.5b"

    # an open question through the same server: sentences, each checked against the quotes it cites
    proc = rag("--llm-url", llm_url, "ask", "--json", "What happened at the SCO summit in Astana?",
               env={"RAG_INDEX_DIR": str(tmp_path / "idx"), "RAG_CACHE_DIR": str(model_cache)})
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["shape"] == "open" and out["raw"].strip()
    if not out["refused"]:  # what the server wrote is checked, not shown as it came
        from rag.metrics import answer_sentences

        assert all(re.search(r"\[\d+\]", s) for s in answer_sentences(out["answer"]))
        assert all(c["quote"] in ARTICLES[c["source"]] for c in out["citations"])


def test_both_servers_run_the_eval(llm_url, chroma_url, model_cache, tmp_path):
    """The plumbing of `rag eval` on both servers, not its quality (the CI gates measure that in-process): two
    questions, so that one answered is there to check whatever the other does."""
    env = {"RAG_CHROMA_URL": chroma_url, "RAG_LLM_URL": llm_url, "RAG_COLLECTION": "eval-set",
           "RAG_CACHE_DIR": str(model_cache)}
    proc = rag("eval", "--quiet", "--dataset", "evals/seeds_qa.jsonl", "--split", "test", "--limit", "2",
               "--out", str(tmp_path / "out"), env=env)
    assert proc.returncode == 0, proc.stderr
    results = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert len(results) == 2
    for r in results:
        for c in r["citations"]:
            assert c["quote"] in ARTICLES[c["source"]]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["answers_with_citation"] == 1.0 and summary["direct_answer_rate"] == 1.0
    assert any(not r["refused"] for r in results)  # the server's replies are read and checked, not all declined


def test_llm_server_errors_are_clear(llm_url, tmp_path):
    from rag.errors import GenerationError
    from rag.generate import OpenAIChatGenerator

    env = {"RAG_INDEX_DIR": str(tmp_path / "idx")}
    proc = rag("--llm-url", llm_url, "--llm-model", "gpt-17", "ask", QUESTION, env=env)
    assert proc.returncode == 1
    assert "has no model 'gpt-17'; it serves: qwen2.5-coder-1.5b" in proc.stderr

    down = f"http://127.0.0.1:{free_port()}/v1"
    proc = rag("--llm-url", down, "ask", QUESTION, env=env)
    assert proc.returncode == 1 and f"cannot reach the LLM server at {down}" in proc.stderr
    assert "Traceback" not in proc.stderr

    # Slow: a real prompt of about 1,200 new tokens takes the server seconds to read before its first token,
    # on any CPU; a 0.2 s limit must cut it off. The model list is read first with a generous limit, so a busy
    # machine's slow reply to that small request cannot be mistaken for the limit under test. The error
    # itself shows the client's limit fired (without it the stream would simply finish); no wall-clock check.
    gen = OpenAIChatGenerator(llm_url, model="qwen2.5-coder-1.5b", timeout=120).load()
    gen.timeout = 0.2
    words = " ".join(ARTICLES[name] for name in sorted(ARTICLES)).split()
    long_prompt = " ".join(words[:900])
    with pytest.raises(GenerationError, match=r"did not answer within 0.2 s"):
        list(gen.stream([{"role": "user", "content": long_prompt + "\nSummarise this in one line."}], max_tokens=32))


def test_ui_through_both_servers(model_cache, tmp_path, tally):
    """The chat page on a Chroma server and an LLM server: ask, upload, remove; then the LLM server
    goes away and comes back, and the page shows an error, then answers again."""
    from gradio_client import handle_file

    from rag.config import Config
    from ui.app import Runtime, serve
    from ui_server import client as ui_client, free_port

    from ui.app import message_text

    llm_port, chroma_port = free_port(), free_port()
    llm = start_llm(model_cache, llm_port, tmp_path)
    chroma = start_chroma(tmp_path / "chroma", chroma_port)
    chroma_url = f"http://127.0.0.1:{chroma_port}"
    cfg = Config.from_env(chroma_url=chroma_url, llm_url=f"http://127.0.0.1:{llm_port}/v1", collection="ui-desk",
                          seeds_dir=SEEDS, cache_dir=model_cache)  # the in-process check model's file
    runtime = Runtime(cfg)
    port = free_port()
    demo = serve(cfg, host="127.0.0.1", port=port, runtime=runtime, block=False)
    try:
        client = ui_client(f"http://127.0.0.1:{port}/")

        def ask(question):
            chat, _ = client.predict(question, [], "qwen2.5-coder-1.5b", 5, False, [], api_name="/ask")
            return message_text(chat[-1]["content"])

        reply = ask(QUESTION)
        assert "Belarus" in reply and "class='cite" in reply

        _stop(llm)  # the model server goes away: the page says so and stays up
        tally["faults_injected"] += 1
        reply = ask(QUESTION)
        assert "cannot reach the LLM server" in reply
        llm = start_llm(model_cache, llm_port, tmp_path)  # ... and comes back
        reply = ask(QUESTION)
        assert "Belarus" in reply and "class='cite" in reply
        tally["faults_survived"] += 1

        _stop(chroma)  # the same for the Chroma server
        tally["faults_injected"] += 1
        assert "Chroma server" in ask(QUESTION)
        chroma = start_chroma(tmp_path / "chroma", chroma_port)
        assert "Belarus" in ask(QUESTION)
        tally["faults_survived"] += 1

        article = tmp_path / "vellmar.txt"
        article.write_text(NEW_ARTICLE, encoding="utf-8")
        status, *_ = client.predict([handle_file(str(article))], api_name="/upload")
        assert "1 added" in status
        listed = json.loads(rag("list", "--json", env={"RAG_CHROMA_URL": chroma_url, "RAG_COLLECTION": "ui-desk"}).stdout)
        assert "vellmar.txt" in [d["source"] for d in listed]  # another process sees the upload on the server
        status, *_ = client.predict("vellmar.txt", api_name="/remove")
        assert "Removed vellmar.txt" in status
    finally:
        demo.close()
        _stop(llm)
        _stop(chroma)


def test_llm_server_dying_mid_answer_is_a_clear_error(model_cache, tmp_path, tally):
    from rag.errors import GenerationError
    from rag.generate import OpenAIChatGenerator

    port = free_port()
    proc = start_llm(model_cache, port, tmp_path)
    tally["faults_injected"] += 1
    gen = OpenAIChatGenerator(f"http://127.0.0.1:{port}/v1", timeout=120)
    pieces = []
    with pytest.raises(GenerationError, match="LLM server at .* while answering|cannot reach the LLM server"):
        for piece in gen.stream([{"role": "user", "content": "Write a long story about a lighthouse."}], max_tokens=400):
            pieces.append(piece)
            if len(pieces) == 5:
                proc.kill()  # SIGKILL, mid-stream
    assert len(pieces) >= 5
    proc.wait()
    tally["faults_survived"] += 1


# -- an embedding server -------------------------------------------------------------------

def test_an_embedding_server_builds_the_index_and_its_loss_is_a_clear_error(model_cache, tmp_path, tally):
    """`python -m llama_cpp.server --embedding True` (a real OpenAI-compatible /v1/embeddings) with the small
    packaged model: it embeds what `rag ingest --embed-url` indexes and what a search asks; the index then
    refuses the in-process embedder; a server that went away is a clear error and loses nothing."""
    from rag.models import resolve_model

    port = free_port()
    model = resolve_model("qwen2.5-coder-0.5b", model_cache)
    proc = _spawn([sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", "qwen-embed",
                   "--embedding", "True", "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
                   "--n_threads", str(os.cpu_count() or 2), "--verbose", "False"], tmp_path / "embed-server.log")
    url = f"http://127.0.0.1:{port}/v1"
    articles = tmp_path / "articles"
    articles.mkdir()
    for name in sorted(ARTICLES)[:2]:
        (articles / name).write_text(ARTICLES[name], encoding="utf-8")
    env = {"RAG_INDEX_DIR": str(tmp_path / "index"), "RAG_CACHE_DIR": str(model_cache), "RAG_EMBED_URL": url}
    try:
        _wait(f"{url}/models", proc, "llama_cpp.server --embedding", LLM_START_S)
        done = rag("ingest", "--quiet", "--json", str(articles), env=env)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["added"] == 2 and report["embedder"] == "qwen-embed (openai-server, 896-d)"

        from rag.embed import OpenAIEmbedder
        from rag.retrieve import HybridRetriever
        from rag.store import ChromaStore

        store = ChromaStore(tmp_path / "index")
        hits = HybridRetriever(store, OpenAIEmbedder(url)).search("Where was the SCO summit held?")
        assert hits and hits[0].chunk.source in ARTICLES

        other = rag("ingest", "--quiet", str(articles), env={**env, "RAG_EMBED_URL": ""})
        assert other.returncode == 1 and "was built with qwen-embed (openai-server, 896-d)" in other.stderr
        assert "rag ingest --rebuild" in other.stderr and "Traceback" not in other.stderr
    finally:
        _stop(proc)
    tally["faults_injected"] += 1
    extra = tmp_path / "more"
    extra.mkdir()
    (extra / "vellmar.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    down = rag("ingest", "--quiet", str(extra), env={**env, "RAG_EMBED_RETRY_S": "2"})
    assert down.returncode == 1 and f"the embedding server at {url}" in down.stderr, down.stderr
    assert "Traceback" not in down.stderr
    assert [a.source for a in ChromaStore(tmp_path / "index").articles()] == sorted(ARTICLES)[:2]
    tally["faults_survived"] += 1
