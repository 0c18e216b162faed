"""The chat page's API, through gradio_client, against a real server on loopback (fake models)."""

import pytest

from fakes import ScriptedGenerator
from ui_server import NEW_ARTICLE, start
from ui_server import client as ui_client

QUESTION = "Which country became the tenth member of the SCO?"
OWN_EXAMPLE = ["What is “Lakeside town opens floating library” about?"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    url, demo, runtime = start(tmp_path_factory.mktemp("ui"))
    yield ui_client(url), runtime
    demo.close()


def _ask(client, question, history=None, model="qwen2.5-coder-0.5b", top_k=5, scores=False, chosen=()):
    """The chat as the server returns it (pass it back as ``history`` to continue the conversation)."""
    chat, box = client.predict(question, history or [], model, top_k, scores, list(chosen), api_name="/ask")
    # the box was cleared as the question went in; the last output leaves it as it is, so a question
    # typed meanwhile stays (test_ui_browser: a question sent while an answer is pending)
    assert box == {"__type__": "update"}
    return chat


def _text(message) -> str:
    from ui.app import message_text

    return message_text(message["content"])


def _examples(client) -> dict:
    """The example questions as the page is served: samples and visibility."""
    (props,) = [c["props"] for c in client.config["components"] if c["props"].get("elem_id") == "examples"]
    return {"samples": props["samples"], "visible": props["visible"]}


def test_answer_has_markers_and_highlighted_quote_in_its_paragraph(server):
    client, _ = server
    chat = _ask(client, QUESTION)
    assert [m["role"] for m in chat] == ["user", "assistant"]
    html = _text(chat[-1])
    assert "<a class='cite to-" in html and "[1]</a>" in html
    assert "<mark>" in html and "tenth member of the SCO" in html.split("<mark>")[1].split("</mark>")[0]
    assert "<details class='source src-" in html and "000_be872feae246cb84.txt" in html
    assert "Searched for" not in html  # nothing to rewrite in a first question


def test_follow_up_is_rewritten_from_the_conversation(server):
    client, _ = server
    first = _ask(client, "What did Putin say about the multipolar world?")
    chat = _ask(client, "What did he say about Belarus?", history=first)
    assert len(chat) == 4
    assert "Searched for: “What did Putin say about Belarus?”" in _text(chat[-1])
    assert _text(chat[0]) == "What did Putin say about the multipolar world?"  # earlier turns kept as they were


def test_declined_answer_says_so_and_shows_what_was_searched(server):
    client, runtime = server
    html = _text(_ask(client, "zebra quantum violin lasagna")[-1])
    assert "The articles don't say." in html and "class='searched'" in html


def test_upload_then_ask_about_it_then_remove(server, tmp_path):
    client, runtime = server
    from gradio_client import handle_file

    path = tmp_path / "floating_library.txt"
    path.write_text(NEW_ARTICLE, encoding="utf-8")
    status, table, pick, examples, chosen, _ = client.predict([handle_file(str(path))], api_name="/upload")
    assert "1 added" in status
    # the user's own article gives the examples, after the overview of the library
    assert examples == {"samples": [["What are these articles about?"], OWN_EXAMPLE], "visible": True,
                        "__type__": "update"}
    assert "Lakeside town opens floating library" in table and "floating_library.txt" in table
    assert ["Lakeside town opens floating library (floating_library.txt)", "floating_library.txt"] in chosen["choices"]
    html = _text(_ask(client, "How many books does the floating library in Vellmar hold?")[-1])
    assert "floating_library.txt" in html and "<div class='answer shape-fact turn-new'>4,000 <a class='cite" in html
    assert "The library holds <strong class='ans'>4,000</strong> books" in html  # the answer, marked in its quote
    status, table, *_ = client.predict("floating_library.txt", api_name="/remove")
    assert status == "Removed floating_library.txt."
    assert "floating_library.txt" not in table and "000_be872feae246cb84.txt" in table
    assert runtime.article("000_be872feae246cb84.txt") is not None  # the rest of the index is intact


def test_rejected_uploads_say_why(server, tmp_path):
    client, runtime = server
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    before = len(runtime.articles())
    exe = tmp_path / "tool.exe"
    exe.write_bytes(b"MZ\x90\x00")
    with pytest.raises(AppError, match=r"Invalid file type.*\.txt"):  # Gradio refuses it before our code runs
        client.predict([handle_file(str(exe))], api_name="/upload")
    big = tmp_path / "huge.txt"
    big.write_text("word " * 300_000)  # 1.5 MB, over the 1 MB limit the test server sets
    empty = tmp_path / "empty.md"
    empty.write_text("")
    status, table, *_ = client.predict([handle_file(str(big)), handle_file(str(empty))], api_name="/upload")
    assert "huge.txt: 1.5 MB is over the 1 MB limit" in status
    assert "empty.md: the file is empty" in status
    assert table.count("<tr>") == before + 1  # header row + one per article, as before

    # Far over the limit (the test server allows 1 MB; Gradio's cap is twice that plus 1 MB): refused
    # by the server while uploading, so nothing lands in the uploads folder.
    huge = tmp_path / "enormous.txt"
    huge.write_bytes(b"word " * 700_000)  # 3.5 MB
    with pytest.raises(Exception, match="(?i)size|large|exceed"):
        client.predict([handle_file(str(huge))], api_name="/upload")
    assert not (runtime.uploads_dir / "enormous.txt").exists()
    assert len(runtime.articles()) == before


def test_the_demo_library_offers_examples_from_its_articles(server):
    from rag.library import example_questions

    client, runtime = server
    examples = _examples(client)
    assert examples["visible"] and examples["samples"] == [[q] for q in example_questions(runtime.articles())]
    assert examples["samples"][0] == ["What are these articles about?"]


def test_own_articles_give_the_examples_the_demo_goes_in_one_action_and_a_chat_keeps_to_chosen_articles(tmp_path):
    from gradio_client import handle_file

    url, server, runtime = start(tmp_path)
    client = ui_client(url)
    try:
        assert all(a.demo for a in runtime.articles())
        own = tmp_path / "floating_library.txt"
        own.write_text(NEW_ARTICLE, encoding="utf-8")
        _, table, _, examples, *_ = client.predict([handle_file(str(own))], api_name="/upload")
        assert examples["samples"] == [["What are these articles about?"], OWN_EXAMPLE]
        assert table.count("class=demo") == 5
        # a chat with the chosen demo article: the library's own article is not cited
        html = _text(_ask(client, "How many books does the floating library in Vellmar hold?",
                          chosen=["000_be872feae246cb84.txt"])[-1])
        assert "floating_library.txt" not in html
        status, table, _, examples, chosen = client.predict(api_name="/remove_demo")  # (a button's update is not sent)
        assert status == "Removed the 5 demo articles."
        assert [a.source for a in runtime.articles()] == ["floating_library.txt"]
        assert "class=demo" not in table
        assert chosen["choices"] == [["Lakeside town opens floating library (floating_library.txt)",
                                      "floating_library.txt"]]
        assert chosen["value"] == []  # a choice of removed articles is cleared
        status, *_ = client.predict("floating_library.txt", api_name="/remove")
        assert status == "Removed floating_library.txt."
    finally:
        server.close()
    # the emptied library is not filled with the demo again when the page starts next
    url, server, runtime = start(tmp_path)
    try:
        assert runtime.articles() == [] and _examples(ui_client(url)) == {"samples": [], "visible": False}
    finally:
        server.close()


def test_a_failing_model_is_a_message_in_the_chat_and_the_app_keeps_running(tmp_path):
    from rag.errors import ModelError

    def broken(model):
        if model == "missing":
            raise ModelError("model file not found: missing.gguf")
        return ScriptedGenerator("Belarus [1].")

    url, demo, _ = start(tmp_path, generator_factory=broken)
    client = ui_client(url)
    try:
        chat = _ask(client, QUESTION, model="missing")
        assert "Could not answer: model file not found: missing.gguf" in _text(chat[-1])
        assert "class='error'" in _text(chat[-1])
        chat = _ask(client, QUESTION)  # the default model still answers
        assert "Belarus" in _text(chat[-1])
    finally:
        demo.close()


def test_ui_module_only_loaded_by_rag_ui():
    import subprocess
    import sys

    code = "import rag.cli, sys; print('gradio' in sys.modules, 'ui.app' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_the_top_k_slider_holds_the_configured_value(server):
    """A configured top-k above the slider's range made every question fail in the page ("Value 12 is
    greater than maximum value 10"): the slider's range always includes the configured value."""
    from rag.config import Config

    client, runtime = server
    (props,) = [c["props"] for c in client.config["components"]
                if c["props"].get("label") == "Passages to retrieve (top-k)"]
    assert props["value"] == runtime.cfg.top_k == Config().top_k and props["maximum"] >= props["value"]
