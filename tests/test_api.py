"""The API for programs (ui/api.py) on a real `rag ui` server on loopback, with the test fakes for models:
the official openai client, streamed and not, plain HTTP for the library, and bad input."""

import json

import httpx
import pytest

from ui_server import NEW_ARTICLE, start

QUESTION = "Which country became the tenth member of the SCO?"
KEY = "test-key-123"


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    url, server, runtime = start(tmp_path_factory.mktemp("api"), api_key=KEY)
    yield url + "v1", runtime
    server.close()


def _headers(key=KEY):
    return {"Authorization": f"Bearer {key}"}


def _openai(base):
    from openai import OpenAI

    return OpenAI(base_url=base, api_key=KEY, timeout=300, max_retries=0)


def test_the_openai_client_asks_and_gets_the_answer_with_its_citations(api):
    base, runtime = api
    client = _openai(base)
    model = client.models.list().data[0].id
    reply = client.chat.completions.create(model=model, messages=[{"role": "user", "content": QUESTION}])
    content = reply.choices[0].message.content
    extra = reply.model_extra
    assert "Belarus" in content and "[1]" in content
    assert extra["citations"][0]["source"] == "000_be872feae246cb84.txt"
    c = extra["citations"][0]
    assert runtime.article(c["source"]).text[c["start"]:c["end"]] == c["quote"]
    assert extra["rag"]["answer"] == content and extra["rag"]["refused"] is False
    # the same answer as the pipeline gives directly (rag ask --json prints Answer.to_dict())
    direct = runtime.pipeline().ask(QUESTION).to_dict()
    for key in ("answer", "refused", "citations", "retrieved", "shape", "reason"):
        assert extra["rag"][key] == direct[key]


def test_streamed_answer_is_the_same_answer(api):
    base, _ = api
    client = _openai(base)
    model = client.models.list().data[0].id
    plain = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "What are these articles about?"}])
    stream = client.chat.completions.create(model=model, stream=True,
                                            messages=[{"role": "user", "content": "What are these articles about?"}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content and text.count("[") >= 2
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["citations"] == plain.model_extra["citations"]


def test_a_follow_up_reads_the_conversation_and_the_chosen_articles_bound_the_answer(api):
    base, _ = api
    client = _openai(base)
    model = client.models.list().data[0].id
    first = client.chat.completions.create(model=model, messages=[{"role": "user", "content": QUESTION}])
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": QUESTION},
                {"role": "assistant", "content": first.choices[0].message.content},
                {"role": "user", "content": "Which article says that?"}]
    follow = client.chat.completions.create(model=model, messages=messages)
    assert follow.model_extra["rag"]["followup"] == "source"
    chosen = client.chat.completions.create(model=model, messages=[{"role": "user", "content": QUESTION}],
                                            extra_body={"context_filter": {"sources": ["003_*.txt", "004_*"]}})
    cited = {c["source"] for c in chosen.model_extra["citations"]}
    assert cited <= {"003_81c9518f30d00088.txt", "004_8198bc21f95ecf11.txt"}
    assert {r["source"] for r in chosen.model_extra["rag"]["retrieved"]} <= {"003_81c9518f30d00088.txt",
                                                                            "004_8198bc21f95ecf11.txt"}


def test_articles_are_listed_added_and_removed_over_plain_http(api, tmp_path):
    base, _ = api
    h = _headers()
    listed = httpx.get(f"{base}/articles", headers=h).json()["data"]
    assert len(listed) == 5 and all(a["demo"] for a in listed)
    added = httpx.post(f"{base}/articles", headers=h, json={"name": "floating_library.txt", "text": NEW_ARTICLE})
    assert added.status_code == 200 and added.json()["added"] == 1
    assert added.json()["articles"][0]["demo"] is False
    path = tmp_path / "second.md"
    path.write_text("# Ferry returns\n\nThe old ferry of Vellmar returned to service on Sunday after a refit.\n")
    with path.open("rb") as f:
        up = httpx.post(f"{base}/articles", headers=h, files={"file": ("second.md", f, "text/markdown")})
    assert up.status_code == 200 and up.json()["added"] == 1
    ask = httpx.post(f"{base}/chat/completions", headers=h, timeout=300, json={
        "messages": [{"role": "user", "content": "How many books does the floating library hold?"}]}).json()
    assert "4,000" in ask["choices"][0]["message"]["content"]
    for name in ("floating_library.txt", "second.md"):
        assert httpx.delete(f"{base}/articles/{name}", headers=h).json() == {"removed": [name]}
    assert len(httpx.get(f"{base}/articles", headers=h).json()["data"]) == 5


@pytest.mark.parametrize("case", ["malformed json", "unknown article", "empty question", "wrong token",
                                  "no token", "oversized body", "not a list", "unknown model", "last not user",
                                  "remove unknown", "bad upload type"])
def test_bad_input_gets_a_4xx_json_error_and_the_index_stays_usable(api, case):
    base, runtime = api
    h = _headers()
    chat = f"{base}/chat/completions"
    ok = {"messages": [{"role": "user", "content": QUESTION}]}
    calls = {
        "malformed json": lambda: httpx.post(chat, headers={**h, "Content-Type": "application/json"}, content=b'{"messages": ['),
        "unknown article": lambda: httpx.post(chat, headers=h, json={**ok, "context_filter": {"sources": ["nope.txt"]}}),
        "empty question": lambda: httpx.post(chat, headers=h, json={"messages": [{"role": "user", "content": " \n "}]}),
        "wrong token": lambda: httpx.post(chat, headers=_headers("wrong"), json=ok),
        "no token": lambda: httpx.get(f"{base}/articles"),
        "oversized body": lambda: httpx.post(chat, headers=h, content=b"x" * 3_000_000),
        "not a list": lambda: httpx.post(chat, headers=h, json={"messages": "hello"}),
        "unknown model": lambda: httpx.post(chat, headers=h, json={**ok, "model": "gpt-9"}),
        "last not user": lambda: httpx.post(chat, headers=h, json={"messages": [{"role": "assistant", "content": "Hi"}]}),
        "remove unknown": lambda: httpx.delete(f"{base}/articles/nope.txt", headers=h),
        "bad upload type": lambda: httpx.post(f"{base}/articles", headers=h, json={"name": "run.exe", "text": "MZ"}),
    }
    before = [a.source for a in runtime.articles()]
    r = calls[case]()
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    error = r.json()["error"]
    assert error["message"] and error["type"]
    assert [a.source for a in runtime.articles()] == before
    again = httpx.post(chat, headers=h, json=ok, timeout=300)  # the index still answers
    assert again.status_code == 200 and "Belarus" in again.json()["choices"][0]["message"]["content"]


def test_a_stream_sends_only_checked_text(api):
    base, _ = api
    with httpx.stream("POST", f"{base}/chat/completions", headers=_headers(), timeout=300,
                      json={"stream": True, "messages": [{"role": "user", "content": QUESTION}]}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == chunks[-1]["rag"]["answer"]  # the draft the reader wrote before the checks is never sent
