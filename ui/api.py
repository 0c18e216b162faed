"""The API for programs, served beside the page by `rag ui`: an OpenAI-compatible chat endpoint whose
citations are data, and JSON endpoints for the library.

- ``GET /v1/models``: the model this server answers with.
- ``POST /v1/chat/completions``: OpenAI's chat format, streamed (server-sent events) or not. ``content``
  is the answer with its [n] markers; ``citations`` (source, title, quote, offsets) and ``rag`` (the
  whole answer, as ``rag ask --json`` prints it) are extra fields. ``context_filter: {"sources": [...]}``
  (PrivateGPT's name; patterns as ``rag ask --source`` takes them) chooses the articles.
- ``GET /v1/articles``, ``POST /v1/articles`` (multipart files, or JSON ``{"name", "text"}``),
  ``DELETE /v1/articles/{file name}``, ``DELETE /v1/articles?demo=true``.

Every error is a 4xx or 5xx with OpenAI's JSON error body, and leaves the index as it was. With an API key
(``rag ui --api-key`` / ``RAG_API_KEY``) every call needs ``Authorization: Bearer KEY``.
"""


import json
import secrets
import time
import uuid
from pathlib import Path
from typing import Iterator

from rag.answer import Answer, Sentence
from rag.conversation import Turn
from rag.errors import IndexEmptyError, InputError, RagError

MAX_CHAT_BYTES = 1_000_000  # a chat request's body: far more than any conversation needs
OWNER = "rag-articles"


class ApiError(Exception):
    """An error answered as OpenAI's ``{"error": {"message", "type", "code"}}`` with an HTTP status."""

    def __init__(self, status: int, message: str, code: str = "", kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.code, self.kind = status, message, code, kind

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.kind, "code": self.code or None, "param": None}}


def citation_data(answer: Answer) -> list[dict]:
    return [{"n": c.n, "source": c.source, "title": c.title, "quote": c.quote, "start": c.start, "end": c.end}
            for c in answer.citations]


def history_of(messages: list[dict]) -> tuple[str, list[Turn]]:
    """The question (the last user message) and the earlier turns (user, then assistant) of an OpenAI
    ``messages`` list; system messages are ignored. ApiError naming what is wrong."""
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "'messages' must be a non-empty list of {role, content}", "invalid_messages")
    texts = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant", "developer", "tool"):
            raise ApiError(400, f"messages[{i}] needs a role of system, user or assistant", "invalid_messages")
        texts.append((m["role"], _text(m.get("content"), i)))
    if texts[-1][0] != "user":
        raise ApiError(400, "the last message must be the user's question", "invalid_messages")
    turns, asked = [], None
    for role, text in texts[:-1]:
        if role == "user":
            asked = text
        elif role == "assistant" and asked is not None:
            refused = text.strip().lower().startswith("the articles don't say")
            turns.append(Turn(asked, text, "", refused))
            asked = None
    return texts[-1][1], turns


def _text(content, i: int) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    if content is None:
        return ""
    raise ApiError(400, f"messages[{i}].content must be a string or a list of text parts", "invalid_messages")


def add_api(app, runtime, api_key: str | None = None) -> None:
    """Add the /v1 routes to the FastAPI ``app``; they answer with ``runtime`` (ui.app.Runtime)."""
    from fastapi import Request
    from fastapi.responses import JSONResponse, StreamingResponse
    from starlette.concurrency import run_in_threadpool

    @app.exception_handler(ApiError)
    async def _api_error(request, exc: ApiError):
        return JSONResponse(exc.body(), status_code=exc.status)

    def authorize(request: Request) -> None:
        if not api_key:
            return
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(token.strip().encode(), api_key.encode()):
            raise ApiError(401, "a valid API key is required: Authorization: Bearer KEY", "invalid_api_key")

    async def read_body(request: Request, limit: int) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise ApiError(413, f"the request body is {int(declared):,} bytes; the limit is {limit:,}", "body_too_large")
        body = bytearray()
        async for part in request.stream():
            body += part
            if len(body) > limit:
                raise ApiError(413, f"the request body is over the limit of {limit:,} bytes", "body_too_large")
        return bytes(body)

    async def read_json(request: Request, limit: int) -> dict:
        body = await read_body(request, limit)
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise ApiError(400, f"the body is not JSON: {exc}", "invalid_json") from None
        if not isinstance(data, dict):
            raise ApiError(400, "the body must be a JSON object", "invalid_json")
        return data

    def served_models() -> list[str]:
        return [runtime.default_model or "default"]

    @app.get("/v1/models")
    def models(request: Request):
        authorize(request)
        return {"object": "list", "data": [{"id": m, "object": "model", "created": 0, "owned_by": OWNER}
                                           for m in served_models()]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        authorize(request)
        data = await read_json(request, MAX_CHAT_BYTES)
        model = data.get("model") or served_models()[0]
        if model not in served_models():
            raise ApiError(404, f"the model {model!r} is not served here; GET /v1/models lists it", "model_not_found")
        question, turns = history_of(data.get("messages"))
        top_k = data.get("top_k")
        if top_k is not None and not (isinstance(top_k, int) and 1 <= top_k <= 100):
            raise ApiError(400, "'top_k' must be a whole number from 1 to 100", "invalid_top_k")
        sources = await run_in_threadpool(chosen, data.get("context_filter"))
        try:
            from rag.answer import check_question

            question = check_question(question)
        except InputError as exc:
            raise ApiError(400, str(exc), "invalid_question") from None
        call = dict(question=question, history=turns, sources=sources, top_k=top_k)
        if data.get("stream"):
            events = runtime.answer_events(**call)
            first = await run_in_threadpool(_first, events)  # errors before the first byte are plain 4xx/5xx
            return StreamingResponse(_sse(model, first, events), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        answer = await run_in_threadpool(_final, runtime.answer_events(**call))
        return completion(model, answer)

    def chosen(context_filter):
        if context_filter is None:
            return None
        patterns = context_filter.get("sources", context_filter.get("docs_ids")) \
            if isinstance(context_filter, dict) else None
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise ApiError(400, "'context_filter' must be {\"sources\": [file names, titles or globs]}",
                           "invalid_context_filter")
        from rag.library import choose

        try:
            return choose(runtime.articles(), patterns)
        except InputError as exc:
            raise ApiError(404, str(exc), "article_not_found") from None

    @app.get("/v1/articles")
    def articles(request: Request):
        authorize(request)
        return {"object": "list", "data": [article_data(a) for a in runtime.articles()]}

    @app.post("/v1/articles")
    async def add(request: Request):
        authorize(request)
        limit = int(runtime.cfg.max_file_mb * 1e6) * 4 + 100_000  # several files per request
        kind = request.headers.get("content-type", "")
        saved: list[Path | None] = []
        refused: list[str] = []

        def save(name: str, content: bytes) -> Path | None:
            try:
                return runtime.save_upload(name, content)
            except InputError as exc:
                refused.append(str(exc))
                return None

        if kind.startswith("multipart/form-data"):
            declared = request.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise ApiError(413, f"the upload is {int(declared):,} bytes; the limit is {limit:,}", "body_too_large")
            form = await request.form()
            files = [f for f in form.getlist("file") + form.getlist("files") if hasattr(f, "read")]
            if not files:
                raise ApiError(400, "send the articles as multipart files named 'file'", "no_file")
            for f in files:
                saved.append(await run_in_threadpool(save, f.filename or "", await f.read()))
        else:
            data = await read_json(request, limit)
            name, text = data.get("name"), data.get("text")
            if not isinstance(name, str) or not isinstance(text, str) or not name.strip():
                raise ApiError(400, "send {\"name\": \"file.txt\", \"text\": \"...\"} or multipart files", "invalid_article")
            saved.append(await run_in_threadpool(save, name, text.encode("utf-8")))
        saved = [p for p in saved if p is not None]
        if not saved:
            raise ApiError(400, "; ".join(refused), "invalid_article")
        report = await run_in_threadpool(runtime.ingest, saved)
        body = {**report.as_dict(), "refused": refused, "articles": [article_data(a) for a in runtime.articles()
                                                 if a.source in set(report.added + report.updated + report.unchanged)]}
        return JSONResponse(body, status_code=200 if report.changed or report.unchanged else 400)

    @app.delete("/v1/articles")
    def remove_demo(request: Request, demo: bool = False):
        authorize(request)
        if not demo:
            raise ApiError(400, "DELETE /v1/articles/{file name} removes one article; ?demo=true the demo articles",
                           "invalid_request")
        return {"removed": runtime.remove_demo()}

    @app.delete("/v1/articles/{source:path}")
    def remove(request: Request, source: str):
        authorize(request)
        if not runtime.remove(source):
            raise ApiError(404, f"no article {source!r} in the library (GET /v1/articles lists them)",
                           "article_not_found")
        return {"removed": [source]}


def article_data(a) -> dict:
    return {"source": a.source, "title": a.title, "outlet": a.outlet, "date": a.date, "byline": a.byline,
            "chunks": a.n_chunks, "demo": a.demo}


def _first(events: Iterator):
    """The first event, so that an error raised before any output becomes an HTTP error."""
    try:
        return next(events)
    except StopIteration:
        raise ApiError(500, "the pipeline gave no answer", "no_answer", "server_error") from None
    except InputError as exc:
        raise ApiError(400, str(exc), "invalid_question") from None
    except IndexEmptyError as exc:
        raise ApiError(409, str(exc), "library_empty") from None
    except RagError as exc:
        raise ApiError(503, f"could not answer: {exc}", "backend_error", "server_error") from None


def _final(events: Iterator) -> Answer:
    answer = None
    try:
        for event in _chain(_first(events), events):
            if isinstance(event, Answer):
                answer = event
    except RagError as exc:
        raise ApiError(503, f"could not answer: {exc}", "backend_error", "server_error") from None
    return answer


def _ids(model: str) -> dict:
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": model}


def completion(model: str, answer: Answer) -> dict:
    """The OpenAI ``chat.completion`` object of an answer, with the citations and the whole answer as data."""
    return {**_ids(model), "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": int(answer.timings.get("tokens", 0)),
                      "total_tokens": int(answer.timings.get("tokens", 0))},
            "citations": citation_data(answer), "rag": answer.to_dict()}


def _sse(model: str, first, events: Iterator) -> Iterator[str]:
    """Server-sent ``chat.completion.chunk`` events: each checked sentence of an open answer as it is
    checked, the rest of the answer's text when it is complete, then a last chunk carrying the citations
    and the whole answer, then ``[DONE]``. The reader's unchecked draft is never sent."""
    ids = _ids(model)

    def chunk(delta: dict, finish=None, **extra) -> str:
        body = {**ids, "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    sent = ""
    try:
        for event in _chain(first, events):
            if isinstance(event, Sentence):
                piece = (" " if sent else "") + event.text
                sent += piece
                yield chunk({"content": piece})
            elif isinstance(event, Answer):
                rest = event.text[len(sent):] if event.text.startswith(sent) else ("\n\n" if sent else "") + event.text
                if rest:
                    yield chunk({"content": rest})
                yield chunk({}, "stop", citations=citation_data(event), rag=event.to_dict())
    except RagError as exc:  # the model failed half way: say so in the stream, as OpenAI's servers do
        yield f"data: {json.dumps(ApiError(503, f'could not answer: {exc}', 'backend_error', 'server_error').body())}\n\n"
    yield "data: [DONE]\n\n"


def _chain(first, events):
    yield first
    yield from events
