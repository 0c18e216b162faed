"""`rag ui`: the browser chat. A thin Gradio layer: every answer comes from ``rag.answer.Pipeline``."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import threading
import uuid
from pathlib import Path
from typing import Callable, Iterable

from rag.answer import Answer, Sentence, Token
from rag.config import Config
from rag.errors import IndexEmptyError, InputError, RagError
from rag.library import example_questions
from rag.parse import SUPPORTED
from rag.store import StoredArticle

from .render import render_answer, render_checked, render_error, render_partial, turns_from_chat

CSS = """
.gradio-container {max-width: 1180px !important; margin: auto;}
#chat .answer {line-height: 1.5;}
#chat .answer.declined {color: #6b7280; font-style: italic;}
#chat a.cite {font-weight: 600; text-decoration: none; padding: 0 1px; border-radius: 3px;}
#chat a.cite:hover {background: #fde68a;}
#chat .sources {margin-top: .6em; border-top: 1px solid #e5e7eb; padding-top: .4em;}
#chat details.source {margin: .3em 0;}
#chat details.source summary {cursor: pointer; font-size: .92em;}
#chat details.source .meta, #chat details.source .file {color: #6b7280; font-size: .85em;}
#chat details.source blockquote {margin: .3em 0 .5em .6em; padding-left: .6em; border-left: 3px solid #f59e0b; font-size: .92em;}
#chat details.source.flash {animation: flash 1.2s ease-out;}
@keyframes flash {from {background: #fef3c7;} to {background: transparent;}}
#chat mark {background: #fde68a; padding: 0 2px;}
#chat mark strong.ans {font-weight: 700; background: #fbbf24; text-decoration: underline 2px #b45309;
  text-underline-offset: 2px; border-radius: 2px;}
#chat .rewritten, #chat .searched, #chat .note {color: #6b7280; font-size: .82em; margin-top: .4em;}
#chat .closest {margin-top: .5em; border-top: 1px dashed #d1d5db; padding-top: .3em; font-size: .9em;}
#chat .closest-label {color: #6b7280; font-size: .9em;}
#chat .closest .near-file {color: #6b7280; font-size: .85em;}
#chat .closest blockquote {margin: .2em 0 .4em .6em; padding-left: .6em; border-left: 3px solid #d1d5db; color: #374151;}
#chat .error {color: #b91c1c;}
#chat .draft {color: #374151;}
#articles table.lib {width: 100%; table-layout: fixed; border-collapse: collapse; font-size: .88em;}
#articles table.lib td, #articles table.lib th {padding: 4px 6px; border-bottom: 1px solid #e5e7eb; text-align: left;
  overflow-wrap: anywhere; vertical-align: top;}
#articles table.lib .n {width: 5.5em; text-align: right;}
#articles .file, #articles .count {color: #6b7280; font-size: .9em;}
#articles .demo {background: #e0e7ff; color: #3730a3; font-size: .75em; padding: 0 4px; border-radius: 3px; margin-left: 4px;}
@media (max-width: 720px) {
  .gradio-container {padding: 4px !important;}
  #main-row {flex-direction: column !important; flex-wrap: nowrap !important;}
  #main-row > div {min-width: 0 !important; width: 100% !important; max-width: 100% !important;}
  #chat {height: 62vh !important;}
}
"""

# Clicking a [n] marker opens its source under the same answer and scrolls to it.
JS = """
() => {
  document.addEventListener('click', (ev) => {
    const a = ev.target.closest('a.cite');
    if (!a) return;
    ev.preventDefault();
    const key = [...a.classList].find((c) => c.startsWith('to-'));
    const d = key && document.querySelector(`details.src-${key.slice(3)}`);
    if (!d) return;
    d.open = true;
    d.classList.remove('flash'); void d.offsetWidth; d.classList.add('flash');
    d.scrollIntoView({block: 'nearest', behavior: 'smooth'});
  });
}
"""


class Runtime:
    """What the page needs, loaded once per process: settings, store, embedder, one pipeline per model."""

    def __init__(self, cfg: Config, store=None, embedder=None, generator_factory: Callable | None = None,
                 judge=None):
        from rag.build import make_embedder, make_generator, make_judge, make_store

        self.cfg = cfg
        self.store = store or make_store(cfg)
        self.embedder = embedder or make_embedder(cfg)
        if generator_factory is None:
            if cfg.llm_url:  # the model picker names a model on the LLM server
                generator_factory = lambda model: make_generator(_with(cfg, llm_model=model))  # noqa: E731
            else:
                generator_factory = lambda model: make_generator(_with(cfg, model=model))  # noqa: E731
        self._make_generator = generator_factory
        self.judge = judge if judge is not None else make_judge(cfg)  # one check model, shared by every pipeline
        self._pipelines: dict[str, object] = {}
        self._lock = threading.Lock()
        # One answer at a time, whoever asks (the page or the API): the models are shared.
        self.busy = threading.Lock()
        self.uploads_dir = Path(cfg.index_dir) / "uploads"

    def ensure_index(self, progress: bool = True) -> None:
        """Build the index from the demo articles on first use. A library the user emptied stays empty:
        the page still opens, to add articles."""
        from rag.build import ensure_index

        try:
            ensure_index(self.cfg, self.store, self.embedder, progress=progress)
        except IndexEmptyError:
            if not self.store.demo_removed():
                raise

    def answer_events(self, question: str, history=(), sources=None, top_k: int | None = None,
                      model: str | None = None):
        """The pipeline's events for one question, one question at a time across the page and the API."""
        pipeline = self.pipeline(model)
        with self.busy:
            yield from pipeline.stream(question, top_k=top_k, history=list(history), sources=sources)

    def save_upload(self, name: str, content: bytes) -> Path:
        """An uploaded article saved under the uploads folder, by a safe name; InputError saying why not."""
        shown = safe_name(name)
        why = upload_problem(shown, len(content), self.cfg.max_file_mb)
        if why:
            raise InputError(why)
        self.uploads_dir.mkdir(parents=True, exist_ok=True)
        path = self.uploads_dir / shown
        path.write_bytes(content)
        return path

    def pipeline(self, model: str | None = None):
        from rag.build import make_pipeline

        model = (model or self.default_model).strip()
        with self._lock:
            if model not in self._pipelines:
                generator = self._make_generator(model)
                self._pipelines[model] = make_pipeline(_with(self.cfg, model=model), store=self.store,
                                                       embedder=self.embedder, generator=generator, judge=self.judge)
            return self._pipelines[model]

    @property
    def default_model(self) -> str:
        return (self.cfg.llm_model if self.cfg.llm_url else self.cfg.model) or ""

    def warm_up(self) -> None:
        """Load the default model, the check model and the embedder now, so the first question is not a cold start."""
        pipeline = self.pipeline()
        pipeline.generator.load()  # a missing model or a server that is down fails here, at start
        if self.judge is not None:
            self.judge.load()
        self.embedder.embed(["warm up"])

    def article(self, source: str) -> StoredArticle | None:
        return self.store.article(source)

    def articles(self) -> list[StoredArticle]:
        return self.store.articles()

    def ingest(self, paths: list[Path], progress: bool = False):
        from rag.build import run_ingest

        with self._lock:
            report = run_ingest(self.cfg, paths, self.store, self.embedder, progress=progress)
            self._refresh()
        return report

    def remove(self, source: str) -> bool:
        with self._lock:
            removed = self.store.remove(source)
            self._refresh()
        return removed

    def remove_demo(self) -> list[str]:
        """Take every demo article out of the library; their file names."""
        with self._lock:
            gone = self.store.remove_demo()
            self._refresh()
        return gone

    def _refresh(self) -> None:
        for p in self._pipelines.values():
            p.refresh()


def _with(cfg: Config, **changes) -> Config:
    import dataclasses

    return dataclasses.replace(cfg, **changes)


def check_upload(path: Path, max_mb: float) -> str | None:
    """Why an uploaded file is refused, or None when it may be ingested."""
    return upload_problem(path.name, path.stat().st_size, max_mb)


def upload_problem(name: str, size: int, max_mb: float) -> str | None:
    """Why a file of this name and size is refused (type, size, empty), or None."""
    suffix = Path(name).suffix
    if suffix.lower() not in SUPPORTED:
        return f"{name}: unsupported type {suffix or '(none)'}; use {', '.join(sorted(SUPPORTED))}"
    if size > max_mb * 1e6:
        return f"{name}: {size / 1e6:.1f} MB is over the {max_mb:g} MB limit"
    if size == 0:
        return f"{name}: the file is empty"
    return None


def safe_name(name: str) -> str:
    """A plain file name: no folders, no leading dots, nothing that climbs out of the uploads folder."""
    import unicodedata

    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn"))
    base = Path(name.replace("\\", "/")).name.strip().lstrip(".")
    if len(base.encode("utf-8")) > 200:  # file systems cap names at 255 bytes
        stem, suffix = Path(base).stem, Path(base).suffix[:10]
        base = stem.encode("utf-8")[:180].decode("utf-8", "ignore") + suffix
    return base or f"upload-{uuid.uuid4().hex[:8]}"


def message_text(content) -> str:
    """A chat message's text, whether Gradio hands it over as a string or as a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def library_html(arts: list[StoredArticle]) -> str:
    """The indexed articles as a small table that wraps on narrow screens."""
    import html

    if not arts:
        return "<p class='empty'>No articles yet: add some above.</p>"
    rows = "".join(
        f"<tr><td><span class='title'>{html.escape(a.title or a.source)}</span>"
        f"{'<span class=demo>demo</span>' if a.demo else ''}<br><span class='file'>"
        f"{html.escape(a.source)}</span>{' · ' + html.escape(a.outlet) if a.outlet else ''}"
        f"{' · ' + html.escape(a.date) if a.date else ''}</td><td class='n'>{a.n_chunks}</td></tr>"
        for a in arts)
    demo = sum(a.demo for a in arts)
    return (f"<table class='lib'><thead><tr><th>article</th><th class='n'>chunks</th></tr></thead>"
            f"<tbody>{rows}</tbody></table><p class='count'>{len(arts)} articles"
            f"{f' ({demo} demo)' if demo else ''}</p>")


def article_choices(arts: list[StoredArticle]) -> list[tuple[str, str]]:
    """(label, file name) for the article pickers: the title, and the file name when it differs."""
    return [((a.title or a.source)[:80] + ("" if a.title in ("", a.source) else f" ({a.source})"), a.source)
            for a in arts]


def build_app(runtime: Runtime):
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no usage reports leave this machine
    import gradio as gr
    from rag.models import PACKAGED

    cfg = runtime.cfg
    arts = runtime.articles()
    questions = example_questions(arts)

    def library_view(arts: list[StoredArticle], removed: bool = False, **pick_changes):
        """What shows the library: its table, the remove picker, the example questions it can answer, the
        articles to chat with (the choice is cleared when articles were ``removed``) and the demo's button."""
        qs = example_questions(arts)
        return (library_html(arts), gr.update(choices=article_choices(arts), **pick_changes),
                gr.Dataset(samples=[[q] for q in qs], visible=bool(qs)),
                gr.update(choices=article_choices(arts), **({"value": []} if removed else {})),
                gr.update(visible=any(a.demo for a in arts)))

    def respond(question, history, model, top_k, show_scores, chosen=None, as_typed=False):
        history = list(history or [])
        question = (question or "").strip()
        if not question:
            gr.Warning("Type a question about the articles first.")
            yield history, ""
            return
        # the conversation so far, read back from the chat; none when the question is asked as typed
        turns = [] if as_typed else turns_from_chat(history, message_text)
        history.append({"role": "user", "content": question})
        history.append({"role": "assistant", "content": render_partial("")})
        yield history, ""  # the box is cleared once: a next question typed while this one streams stays
        keep = gr.update()
        uid = uuid.uuid4().hex[:8]
        try:
            sources = None
            if chosen:  # the articles chosen to chat with; those removed since are dropped
                sources = frozenset(chosen) & {a.source for a in runtime.articles()}
                if not sources:
                    raise InputError("the articles chosen to chat with are no longer in the library: "
                                     "clear the choice or choose others")
            draft, checked = "", []
            for event in runtime.answer_events(question, turns, sources, int(top_k), model):
                if isinstance(event, Token):
                    draft += event.text
                    history[-1] = {"role": "assistant", "content": render_partial(draft)}
                    yield history, keep
                elif isinstance(event, Sentence):  # an open answer, shown sentence by sentence as each is checked
                    checked.append(event)
                    history[-1] = {"role": "assistant", "content": render_checked(checked, uid)}
                    yield history, keep
                elif isinstance(event, Answer):
                    content = render_answer(event, runtime.article, uid, show_scores=bool(show_scores),
                                            searched_for=event.searched or None)
                    history[-1] = {"role": "assistant", "content": content}
                    yield history, keep
        except InputError as exc:
            history[-1] = {"role": "assistant", "content": render_error(str(exc))}
            yield history, keep
        except RagError as exc:
            history[-1] = {"role": "assistant", "content": render_error(f"Could not answer: {exc}")}
            yield history, keep

    def respond_as_typed(history, model, top_k, show_scores, chosen=None):
        """The last question again, as typed: not read in the conversation (its rewrite overruled)."""
        asked = next((message_text(m["content"]) for m in reversed(history or []) if m.get("role") == "user"), "")
        yield from respond(asked, history, model, top_k, show_scores, chosen, as_typed=True)

    def rewritten(history) -> dict:
        """The "as typed" button shows under an answer whose question was searched in another form."""
        last = next((message_text(m["content"]) for m in reversed(history or []) if m.get("role") == "assistant"), "")
        return gr.update(visible=bool(re.search(r"class=['\"]rewritten['\"]", last)))

    def upload(files, progress=gr.Progress(track_tqdm=True)):
        try:
            return _upload(files, progress)
        except RagError as exc:
            return f"❌ {exc}", *([gr.update()] * 5), None

    def _upload(files, progress):
        notes, accepted = [], []
        runtime.uploads_dir.mkdir(parents=True, exist_ok=True)
        for f in files or []:
            src = Path(getattr(f, "name", f))
            shown = safe_name(getattr(f, "orig_name", None) or src.name)
            why = check_upload(src, cfg.max_file_mb)
            if why:
                notes.append(f"❌ {why.replace(src.name, shown)}")
                continue
            dst = runtime.uploads_dir / shown
            shutil.copyfile(src, dst)
            accepted.append(dst)
        if accepted:
            progress(0, desc="Indexing")
            report = runtime.ingest(accepted, progress=True)
            notes.insert(0, f"✅ {report.summary()}")
            notes += [f"❌ {Path(p).name}: {reason}" for p, reason in report.failed]
        return ("\n\n".join(notes) or "No file chosen.", *library_view(runtime.articles()), None)

    def remove(source):
        if not source:
            return "Choose an article to remove.", *([gr.update()] * 5)
        try:
            msg = f"Removed {source}." if runtime.remove(source) else f"{source} is not in the index."
            arts = runtime.articles()
        except RagError as exc:
            return f"❌ {exc}", *([gr.update()] * 5)
        return (msg, *library_view(arts, removed=True, value=None))

    def remove_demo():
        try:
            gone = runtime.remove_demo()
            arts = runtime.articles()
        except RagError as exc:
            return f"❌ {exc}", *([gr.update()] * 5)
        msg = (f"Removed the {len(gone)} demo articles." if gone else "No demo articles to remove.") + \
            ("" if arts else " The library is empty: add your own articles above.")
        return (msg, *library_view(arts, removed=True, value=None))

    with gr.Blocks(title="Ask the articles") as demo:
        saved = gr.BrowserState([], storage_key="rag-articles-chat")
        gr.Markdown("## Ask the articles\nShort answers from your news articles, every claim cited with an "
                    "exact quote. Runs offline on this machine.")
        with gr.Row(equal_height=False, elem_id="main-row"):
            with gr.Column(scale=3, min_width=320):
                chatbot = gr.Chatbot(elem_id="chat", height="62vh", label="Chat", show_label=False,
                                     buttons=["copy"], feedback_options=None, sanitize_html=True,
                                     render_markdown=False)
                with gr.Row():
                    box = gr.Textbox(placeholder="Ask about the articles…", show_label=False, scale=5,
                                     elem_id="question", autofocus=True, max_lines=4)
                    ask = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="ask")
                # A Dataset rather than gr.Examples: its samples follow the library (upload, remove, reload),
                # and it is hidden when none of the seeds' examples fits the articles.
                examples = gr.Dataset(components=[box], samples=[[q] for q in questions], label="Try",
                                      visible=bool(questions), elem_id="examples")
                with gr.Row():
                    as_typed = gr.Button("Ask the last question as typed", size="sm", visible=False,
                                         elem_id="as-typed")
                    new_chat = gr.Button("New conversation", size="sm", elem_id="new-chat")
            with gr.Column(scale=2, min_width=300):
                with gr.Accordion("Library", open=True, elem_id="library"):
                    files = gr.File(label=f"Add articles (.txt .md .html .pdf, up to {cfg.max_file_mb:g} MB)",
                                    file_count="multiple", file_types=sorted(SUPPORTED), elem_id="upload")
                    status = gr.Markdown(elem_id="upload-status")
                    table = gr.HTML(library_html(arts), elem_id="articles")
                    chosen = gr.Dropdown(choices=article_choices(arts), value=[], multiselect=True,
                                         label="Chat with (none chosen: the whole library)", elem_id="chosen")
                    with gr.Row():
                        pick = gr.Dropdown(choices=article_choices(arts), label="Article",
                                           scale=3, elem_id="remove-pick")
                        rm = gr.Button("Remove", variant="stop", scale=1, min_width=80, elem_id="remove")
                    rm_demo = gr.Button("Remove the demo articles", size="sm", elem_id="remove-demo",
                                        visible=any(a.demo for a in arts))
                with gr.Accordion("Settings", open=False, elem_id="settings"):
                    if cfg.llm_url:
                        served = runtime.default_model or runtime.pipeline().generator.name
                        model = gr.Dropdown(choices=[served], value=served, allow_custom_value=True,
                                            label=f"Model on the LLM server {cfg.llm_url}", elem_id="model")
                    else:
                        model = gr.Dropdown(choices=list(PACKAGED), value=cfg.model, allow_custom_value=True,
                                            label="Model (a packaged name or a .gguf path)", elem_id="model")
                    top_k = gr.Slider(1, max(20, cfg.top_k), value=cfg.top_k, step=1,  # the configured value always fits
                                      label="Passages to retrieve (top-k)")
                    scores = gr.Checkbox(False, label="Show retrieval scores", elem_id="scores")

        inputs = [box, chatbot, model, top_k, scores, chosen]
        # always_last: a question sent while an answer is still pending is answered after it, not dropped
        for trigger in (box.submit, ask.click):
            trigger(respond, inputs, [chatbot, box], api_name="ask" if trigger == box.submit else False,
                    trigger_mode="always_last") \
                .then(lambda h: h, chatbot, saved, api_name=False) \
                .then(rewritten, chatbot, as_typed, api_name=False)
        as_typed.click(respond_as_typed, [chatbot, model, top_k, scores, chosen], [chatbot, box], api_name="ask_as_typed") \
            .then(lambda h: h, chatbot, saved, api_name=False) \
            .then(rewritten, chatbot, as_typed, api_name=False)
        new_chat.click(lambda: ([], [], gr.update(visible=False)), None, [chatbot, saved, as_typed], api_name=False)
        examples.click(lambda sample: sample[0] if sample else gr.update(), examples, box, api_name=False)
        shown = [table, pick, examples, chosen, rm_demo]  # what shows the library (library_view)
        files.upload(upload, files, [status, *shown, files], api_name="upload")
        rm.click(remove, pick, [status, *shown], api_name="remove")
        rm_demo.click(remove_demo, None, [status, *shown], api_name="remove_demo")
        demo.load(lambda h: h or [], saved, chatbot, api_name=False)
        # The page as built is the library at start: a reload shows the library as it is now.
        demo.load(lambda: library_view(runtime.articles()), None, shown, api_name=False)
    return demo


class Server:
    """The running server: the page at /, the API at /v1. ``close()`` stops it."""

    def __init__(self, server, thread, demo, url: str):
        self._server, self._thread, self.demo, self.url = server, thread, demo, url

    def close(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.demo.close()


def serve(cfg: Config, host: str = "127.0.0.1", port: int = 7860, auth: tuple[str, str] | None = None,
          runtime: Runtime | None = None, block: bool = True, api_key: str | None = None):
    """Build the index if it is empty, load the models once, serve the page and the API (``ui.api``)
    on one port. ``block=False`` returns a ``Server`` once it accepts connections."""
    import fastapi
    import gradio as gr
    import uvicorn

    from .api import add_api

    runtime = runtime or Runtime(cfg)
    runtime.ensure_index(progress=True)
    runtime.warm_up()  # models load now: a missing one fails here, and the first question is fast
    if host not in ("127.0.0.1", "localhost", "::1") and not (auth and api_key):
        print(f"rag: warning: serving on {host} without " + ("--auth" if not auth else "--api-key") + ": anyone "
              "who can reach this address can use " + ("it" if not auth else "the API"), file=sys.stderr)
    app = fastapi.FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    add_api(app, runtime, api_key)
    demo = build_app(runtime)
    demo.queue(default_concurrency_limit=1)  # one model per process: answers are generated one at a time
    # Gradio's own cap stops a huge upload at the HTTP layer, before it fills the disk; files between
    # our limit and this cap reach check_upload, which says why they are refused.
    app = gr.mount_gradio_app(app, demo, path="/", auth=auth, css=CSS, js=JS, show_error=True,
                              max_file_size=int(cfg.max_file_mb * 2e6) + 1_000_000)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning" if block else "error",
                                           timeout_graceful_shutdown=5))
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
    if block:
        print(f"Serving the page and the API on {url} (API: {url}v1)", file=sys.stderr)
        server.run()
        return Server(server, None, demo, url)
    thread = threading.Thread(target=server.run, name="rag-ui-server", daemon=True)
    thread.start()
    while not server.started:  # the observable event: uvicorn is listening, or its thread ended
        if not thread.is_alive():
            raise OSError(f"could not serve on {host}:{port} (is the port taken?)")
        thread.join(timeout=0.05)
    return Server(server, thread, demo, url)
