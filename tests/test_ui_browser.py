"""The chat page in a real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright).

Screenshots go to artifacts/ui/. The server is the real app with the test fakes for models, so
the page, Gradio, Chroma and the pipeline are real and the answers deterministic.
"""

import os
from pathlib import Path

import pytest

from ui_server import NEW_ARTICLE, start

CHROMIUM = os.environ.get("RAG_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "ui"
pytestmark = pytest.mark.browser

# How long to wait for what the page shows: generous bounds on a hang (a slow or busy machine), not speed tests.
PAGE_S = 120  # the page loads, a fake-model answer or an upload finishes, a click takes effect
REAL_ANSWER_S = 300  # the first answer from the real models (they load on first use)
SERVER_START_S = 300  # `rag ui` answers on its port

# Chromium as this machine needs it: no sandbox as root, and no background calls to the closed network.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    url, demo, _ = start(tmp_path_factory.mktemp("ui-browser"))
    yield url
    demo.close()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install chromium (see .ci/run)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


def new_page(browser, url, **context):
    """A page in a fresh context, loaded and ready for a question; every Playwright wait bounded by PAGE_S."""
    ctx = browser.new_context(**context)
    ctx.set_default_timeout(PAGE_S * 1000)
    pg = ctx.new_page()
    pg.goto(url)
    pg.wait_for_selector("#question textarea")
    return ctx, pg


@pytest.fixture
def page(browser, url):
    ctx, pg = new_page(browser, url, viewport={"width": 1280, "height": 900})
    yield pg
    ctx.close()


def shot(page, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def ask(page, question, n_answers, wait_s=PAGE_S):
    page.fill("#question textarea", question)
    page.press("#question textarea", "Enter")
    # the answer is done when the n-th answer has its final form (no draft cursor)
    page.wait_for_function(
        "n => document.querySelectorAll('#chat .answer').length >= n && !document.querySelector('#chat .draft')",
        arg=n_answers, timeout=wait_s * 1000)
    return page.locator("#chat .answer").nth(n_answers - 1)


def test_question_streams_a_cited_answer_and_a_marker_opens_its_passage(page):
    answer = ask(page, "Which country became the tenth member of the SCO?", 1)
    assert "Belarus" in answer.inner_text()
    marker = page.locator("#chat a.cite").first
    assert marker.inner_text() == "[1]"
    mark = page.locator("#chat details.source mark").first
    assert "tenth member of the SCO" in mark.inner_text()
    shot(page, "01-answer")
    # close the source, then click the marker: it opens again
    page.locator("#chat details.source summary").first.click()
    assert page.locator("#chat details.source").first.get_attribute("open") is None
    marker.click()
    page.wait_for_function("() => document.querySelector('#chat details.source').open === true")
    assert mark.is_visible()
    shot(page, "02-citation-clicked")


def test_a_question_sent_while_an_answer_is_pending_is_answered_after_it(page):
    """A reader who sends the next question before the answer on screen is done loses nothing: it is
    kept in the box and answered next (Gradio's default would drop a submission while one is pending)."""
    page.fill("#question textarea", "Which country became the tenth member of the SCO?")
    page.press("#question textarea", "Enter")
    # the box is cleared: the first question's event has begun; the second goes in before it ends
    page.wait_for_function("() => document.querySelector('#question textarea').value === ''")
    page.fill("#question textarea", "Where was the summit held?")
    page.press("#question textarea", "Enter")
    page.wait_for_function(
        "() => document.querySelectorAll('#chat .answer').length >= 2 && !document.querySelector('#chat .draft')")
    assert "Where was the summit held?" in page.locator("#chat").inner_text()
    assert page.input_value("#question textarea") == ""


def test_follow_up_question_is_rewritten_and_answered(page):
    ask(page, "What did Putin say about the multipolar world?", 1)
    ask(page, "What did he say about Belarus?", 2)
    rewritten = page.locator("#chat .rewritten").last
    assert rewritten.inner_text() == "Searched for: “What did Putin say about Belarus?”"
    assert page.locator("#chat .sources").count() == 2  # the first answer keeps its citations
    shot(page, "03-follow-up")
    # the rewrite is the user's to overrule: one click asks the question as typed, not read in the conversation
    page.click("#as-typed")
    page.wait_for_function(
        "() => document.querySelectorAll('#chat .answer').length >= 3 && !document.querySelector('#chat .draft')")
    assert page.locator("#chat .rewritten").count() == 1  # the third answer searched the question as it stands
    users = [t for t in page.locator("#chat").inner_text().splitlines() if t.strip() == "What did he say about Belarus?"]
    assert len(users) == 2
    page.wait_for_function("() => !document.querySelector('#as-typed') || document.querySelector('#as-typed').offsetParent === null")


def test_a_follow_up_after_a_reload_reads_the_answers_of_the_saved_conversation(page):
    ask(page, "Which trading partner did China overtake to become Russia's top trade partner?", 1)
    page.wait_for_function("() => (localStorage.getItem('rag-articles-chat') || '').length > 500")
    first = page.locator("#chat .sources .file").first.inner_text()
    page.reload()
    page.wait_for_selector("#chat details.source mark")
    answer = ask(page, "Which article says that?", 2)  # answered from the first answer's citations
    assert first in answer.inner_text() and "European Union" in page.locator("#chat .sources").last.inner_text()
    assert page.locator("#chat .rewritten").last.inner_text().startswith("Searched for: “Which articles say")
    shot(page, "03b-which-article-after-reload")


def test_upload_a_new_article_then_ask_about_it(page, tmp_path):
    path = tmp_path / "vellmar_library.txt"
    path.write_text(NEW_ARTICLE, encoding="utf-8")
    page.set_input_files("#upload input[type=file]", str(path))
    page.wait_for_function(
        "() => (document.querySelector('#upload-status')?.innerText || '').includes('1 added')")
    assert page.locator("#articles").get_by_text("vellmar_library.txt").count() >= 1
    answer = ask(page, "How many books does the floating library in Vellmar hold?", 1)
    assert "4,000" in answer.inner_text()
    assert "vellmar_library.txt" in page.locator("#chat details.source").first.inner_text()
    shot(page, "04-upload-and-ask")


def test_chat_and_citations_survive_a_reload(page):
    ask(page, "Which trading partner did China overtake to become Russia's top trade partner?", 1)
    # the chat is saved to the browser's storage just after the answer: wait for it, then reload
    page.wait_for_function("() => (localStorage.getItem('rag-articles-chat') || '').length > 500")
    page.reload()
    page.wait_for_selector("#chat details.source mark")
    assert "European Union" in page.locator("#chat").inner_text()


def test_phone_width_layout(browser, url):
    ctx, pg = new_page(browser, url, viewport={"width": 390, "height": 844}, device_scale_factor=2)
    ask(pg, "Which country became the tenth member of the SCO?", 1)
    width = pg.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390  # nothing forces sideways scrolling
    shot(pg, "05-phone")
    ctx.close()


@pytest.mark.slow
def test_rag_ui_with_the_real_models_streams_a_cited_answer(browser, tmp_path, model_cache):
    """The issue's promise: `rag ui` on a fresh index serves the page; a typed question gets a cited answer."""
    import subprocess
    import sys
    import time
    import urllib.request

    from ui_server import free_port

    port = free_port()
    env = {**os.environ, "RAG_INDEX_DIR": str(tmp_path / "index"), "RAG_CACHE_DIR": str(model_cache)}
    log = tmp_path / "rag-ui.log"  # a file, not a pipe: a pipe nobody reads fills up and blocks the server
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "ui", "--port", str(port)], env=env,
                                stdout=out, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:  # poll until the page answers on its port
            try:
                urllib.request.urlopen(url, timeout=10)
                break
            except OSError as exc:
                assert proc.poll() is None, f"rag ui exited with {proc.returncode}: {log.read_text()[-3000:]}"
                if time.monotonic() > deadline:
                    pytest.fail(f"rag ui did not answer {url} within {SERVER_START_S} s ({exc}); "
                                f"its log: {log.read_text()[-3000:]}")
                time.sleep(0.5)
        ctx, pg = new_page(browser, url, viewport={"width": 1280, "height": 900})
        ask(pg, "Which country became the tenth member of the SCO?", 1, wait_s=REAL_ANSWER_S)
        shot(pg, "06-real-models")  # first: if a check below fails, the picture shows what the page held
        answer = pg.evaluate("() => document.querySelector('#chat .answer')?.innerText || ''")
        assert "Belarus" in answer and len(answer.split()) <= 12, answer  # a short answer, with its marker
        assert "Belarus" in pg.locator("#chat details.source mark").first.inner_text()
        ctx.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_an_example_question_asks_it_and_the_answer_words_are_bold_in_the_quote(page, monkeypatch):
    import dataclasses

    import ui.app

    def with_highlights(answer, *args, **kw):  # the pipeline may leave them empty: mark "Belarus" in each quote
        cites = tuple(dataclasses.replace(c, highlights=((c.start + i, c.start + i + 7),))
                      if (i := c.quote.find("Belarus")) >= 0 else c for c in answer.citations)
        return render_answer(dataclasses.replace(answer, citations=cites), *args, **kw)

    from ui.render import render_answer

    monkeypatch.setattr(ui.app, "render_answer", with_highlights)
    examples = page.locator("#examples")  # the library's own: its overview, then its articles by title
    examples.get_by_text("What are these articles about?").click()
    page.wait_for_function("() => document.querySelector('#question textarea').value.includes('these articles')")
    page.press("#question textarea", "Enter")
    page.wait_for_function("() => document.querySelector('#chat .answer') && !document.querySelector('#chat .draft')")
    overview = page.locator("#chat .answer").first.inner_text()  # (an earlier test of this server may add an article)
    assert overview.startswith("The library holds ") and "[1]" in overview
    ask(page, "Which country became the tenth member of the SCO?", 2)
    ans = page.locator("#chat details.source mark strong.ans").first  # kept by Gradio's HTML sanitiser
    assert ans.inner_text() == "Belarus"
    assert ans.evaluate("e => getComputedStyle(e).fontWeight") == "700"
    shot(page, "07-example-and-answer-words")


def test_an_open_question_gets_checked_sentences_with_their_sources(page):
    """A why-question is answered in sentences, each ending in its marker, with the quotes below."""
    answer = ask(page, "Why do Xi and Putin value the SCO?", 1)
    text = answer.inner_text()
    assert "[1]" in text and text.rstrip().endswith(".") and "checking" not in text
    assert page.locator("#chat details.source mark").count() >= 1
    shot(page, "08-open-question")


def test_a_decline_shows_the_closest_sentences_marked_as_not_an_answer(browser, tmp_path):
    """A reader whose answer fails the checks: the page says the articles don't say, and shows the nearest
    sentences under a label, with no marker pointing at them."""
    url, demo, _ = start(tmp_path, reply="Mongolia [1]")
    try:
        ctx, pg = new_page(browser, url, viewport={"width": 1280, "height": 900})
        answer = ask(pg, "Which country became the tenth member of the SCO?", 1)
        assert answer.inner_text().strip() == "The articles don't say."
        closest = pg.locator("#chat .closest")
        assert "not an answer" in closest.inner_text()
        assert any("tenth member" in q for q in closest.locator("blockquote").all_inner_texts())
        assert pg.locator("#chat a.cite").count() == 0
        shot(pg, "09-decline-with-closest")
        ctx.close()
    finally:
        demo.close()


def test_the_library_overview_chat_with_chosen_articles_and_removing_the_demo(browser, tmp_path):
    """The demo is marked; the overview of the library has one cited line a subject; a chat with one chosen
    article cites only it; one button removes the demo, and the examples follow the library."""
    url, server, runtime = start(tmp_path)
    try:
        own = tmp_path / "floating_library.txt"
        own.write_text(NEW_ARTICLE, encoding="utf-8")
        runtime.ingest([own])
        ctx, pg = new_page(browser, url, viewport={"width": 1280, "height": 900})
        assert pg.locator("#articles .demo").count() == 5
        answer = ask(pg, "What are these articles about?", 1)
        assert "The library holds 6 articles" in answer.inner_text() and "Lakeside town" in answer.inner_text()
        assert answer.locator("a.cite").count() >= 2
        shot(pg, "10-library-overview")
        # choose one article to chat with: the answer comes from it alone
        pg.locator("#chosen input").click()
        pg.get_by_role("option", name="Lakeside town opens floating library (floating_library.txt)").click()
        pg.keyboard.press("Escape")
        answer = ask(pg, "What are these articles about?", 2)
        assert "The library holds 1 article:" in answer.inner_text()
        assert "000_be872feae246cb84.txt" not in pg.locator("#chat details.source").last.inner_text()
        shot(pg, "11-chat-with-chosen")
        pg.click("#remove-demo")
        pg.wait_for_function("() => !document.querySelector('#articles .demo')")
        assert "Removed the 5 demo articles." in pg.locator("#upload-status").inner_text()
        pg.wait_for_function("() => !document.querySelector('#remove-demo') || "
                             "document.querySelector('#remove-demo').offsetParent === null")
        examples = pg.locator("#examples").inner_text()
        assert "Lakeside town opens floating library" in examples
        shot(pg, "12-demo-removed")
        ctx.close()
    finally:
        server.close()
