"""The `rag` command: parse arguments, call the library, print results. No logic of its own."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .errors import InputError, RagError


def _common(p: argparse.ArgumentParser, top: bool) -> None:
    """Settings every command takes, before or after the command name."""
    d = {} if top else {"default": argparse.SUPPRESS}  # a sub-command's flag must not reset the top-level one
    p.add_argument("--config", type=Path, help="TOML settings file (env RAG_CONFIG; default ./rag.toml if present)", **d)
    p.add_argument("--index-dir", type=Path, help="where the embedded index lives (env RAG_INDEX_DIR; default: index/)", **d)
    p.add_argument("--collection", help="named article set (env RAG_COLLECTION; default: articles)", **d)
    p.add_argument("--chroma-url", help="use a Chroma server, e.g. http://127.0.0.1:8000 (env RAG_CHROMA_URL)", **d)
    p.add_argument("--llm-url", help="use an OpenAI-compatible LLM server, e.g. http://127.0.0.1:8080/v1 (env RAG_LLM_URL; "
                                     "API key from RAG_LLM_API_KEY)", **d)
    p.add_argument("--llm-model", help="model name on the LLM server (env RAG_LLM_MODEL; default: its only model)", **d)
    p.add_argument("--llm-timeout", type=float, help="seconds to wait for the LLM server (env RAG_LLM_TIMEOUT; default 120)", **d)
    p.add_argument("--embed-url", help="use an OpenAI-compatible embedding server, e.g. http://127.0.0.1:8081/v1 "
                                       "(env RAG_EMBED_URL; model name from RAG_EMBED_MODEL)", **d)


SOURCE_HELP = ("chat with these articles only: a file name, title, outlet or date, or a glob of one ('*.html', "
               "'BBC*', '2024-03*'); repeatable")


def _default_top_k() -> int:
    import dataclasses

    from .config import Config

    return next(f.default for f in dataclasses.fields(Config) if f.name == "top_k")


DEFAULT_TOP_K = _default_top_k()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rag", description="Ask questions about news articles, offline, with checked citations.")
    _common(p, top=True)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    ing = sub.add_parser("ingest", help="index article files or folders (.txt .md .html .pdf)")
    ing.add_argument("paths", nargs="*", type=Path, help="files or folders (default: seeds/)")
    ing.add_argument("--quiet", action="store_true", help="no progress bar")
    ing.add_argument("--json", action="store_true", help="print what was done, and where the time went, as JSON")
    ing.add_argument("--rebuild", action="store_true",
                     help="embed every stored article again with the configured embedder (after changing it), "
                          "from the text the index keeps; then index PATHS, if given")

    ask = sub.add_parser("ask", help="ask a question; builds the index from seeds/ on first use")
    ask.add_argument("question", help="the question, in quotes")
    ask.add_argument("--json", action="store_true", help="print one JSON object (the eval results format)")
    ask.add_argument("--model", help="packaged model name or path to a .gguf file (env RAG_MODEL)")
    ask.add_argument("--judge-model", help="check model: packaged name, .gguf path, or none (env RAG_JUDGE_MODEL)")
    ask.add_argument("--top-k", type=int, help=f"passages to retrieve (default {DEFAULT_TOP_K})")
    ask.add_argument("--source", action="append", default=[], metavar="PATTERN", help=SOURCE_HELP)
    ask.add_argument("--no-stream", action="store_true", help="do not show the reply while it is generated")
    ask.add_argument("--history", metavar="FILE", help="earlier turns of the conversation, JSON lines of "
                     "{\"question\", \"answer\"} (as --json prints them); - reads them from stdin")
    ask.add_argument("--no-history", action="store_true",
                     help="ask the question as typed: not read in the conversation of --history")

    chat = sub.add_parser("chat", help="a conversation in the terminal: follow-ups are read in context")
    chat.add_argument("--model", help="packaged model name or path to a .gguf file (env RAG_MODEL)")
    chat.add_argument("--judge-model", help="check model: packaged name, .gguf path, or none (env RAG_JUDGE_MODEL)")
    chat.add_argument("--top-k", type=int, help=f"passages to retrieve (default {DEFAULT_TOP_K})")
    chat.add_argument("--source", action="append", default=[], metavar="PATTERN", help=SOURCE_HELP)
    chat.add_argument("--no-history", action="store_true",
                      help="every question as typed: none is read in the conversation")
    chat.add_argument("--no-stream", action="store_true", help="do not show the reply while it is generated")

    lst = sub.add_parser("list", help="list indexed articles with their chunk counts")
    lst.add_argument("--json", action="store_true")
    lst.add_argument("--collections", action="store_true", help="list the named article sets in the store instead")

    cfg = sub.add_parser("config", help="print the effective settings and where each came from")
    cfg.add_argument("--json", action="store_true")

    rm = sub.add_parser("remove", help="take articles out of the index, by file name")
    rm.add_argument("sources", nargs="*", help="file names as shown by `rag list`")
    rm.add_argument("--demo", action="store_true", help="remove every demo article (the seeds); an empty library "
                                                        "is then not filled with them again")

    sub.add_parser("models", help="list the packaged models")

    ui = sub.add_parser("ui", help="serve the browser chat (builds the index from seeds/ on first use)")
    ui.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    ui.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    ui.add_argument("--model", help="packaged model name or path to a .gguf file (env RAG_MODEL)")
    ui.add_argument("--judge-model", help="check model: packaged name, .gguf path, or none (env RAG_JUDGE_MODEL)")
    ui.add_argument("--auth", help="USER:PASSWORD required to open the page (env RAG_UI_AUTH)")
    ui.add_argument("--api-key", help="bearer token the /v1 API requires (env RAG_API_KEY; default: none, "
                                      "which is only safe on loopback)")

    ev = sub.add_parser("eval", help="run an eval set (JSONL) and write results, summary and reports")
    ev.add_argument("--dataset", type=Path, required=True, help="eval set, JSON Lines")
    ev.add_argument("--out", type=Path, required=True, help="folder for results.jsonl, summary.json, report.md/html")
    ev.add_argument("--corpus", type=Path, help="folder of articles to index into a fresh index of its own for this "
                                                "eval (never the user's index); default: the current index")
    ev.add_argument("--split", help="only questions of this split (dev or test)")
    ev.add_argument("--category", metavar="LIST",
                    help="only questions of these categories, comma-separated; 'open' stands for summary,why,describe,"
                         "list,compare,overview and 'fact' for every other")
    ev.add_argument("--limit", type=int, help="only the first N questions")
    ev.add_argument("--no-standalone", action="store_true",
                    help="conversation sets: do not also ask each follow-up in its standalone form (half the model's "
                         "work; the figures that compare follow-ups with it are left out)")
    ev.add_argument("--every", type=int, default=1, metavar="N",
                    help="a fixed sample: every Nth question of the split, from its first, in file order (default 1: all)")
    ev.add_argument("--model", help="packaged model name or path to a .gguf file")
    ev.add_argument("--judge-model", help="check model: packaged name, .gguf path, or none (env RAG_JUDGE_MODEL)")
    ev.add_argument("--pipeline", choices=["ours", "plain-llamaindex", "both"], default="ours",
                    help="our pipeline, the plain llama-index recipe, or both side by side (plain goes to OUT/plain-llamaindex)")
    ev.add_argument("--baseline", type=Path, help="an earlier --out folder to compare with")
    ev.add_argument("--fail-under", action="append", default=[], metavar="METRIC=VALUE",
                    help="exit 1 if METRIC is below VALUE (above it, for latency and false refusals); repeatable")
    ev.add_argument("--quiet", action="store_true", help="no progress bar")
    for sp in sub.choices.values():
        _common(sp, top=False)
    return p


def main(argv: list[str] | None = None) -> int:
    return _run(_parser(), argv)[0]


def _run(parser: argparse.ArgumentParser, argv) -> tuple[int, str | None]:
    """(exit code, command name) for the arguments ``argv``."""
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0, None
    return _dispatch(args), args.command


def _dispatch(args) -> int:
    try:
        return COMMANDS[args.command](args)
    except InputError as exc:
        print(f"rag: error: {exc}", file=sys.stderr)
        return 2
    except RagError as exc:
        print(f"rag: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("rag: interrupted", file=sys.stderr)
        return 130


def _config(args, **overrides):
    return _load_config(args, **overrides)[0]


def _load_config(args, **overrides):
    from .config import Config

    flags = {k: getattr(args, k, None) for k in ("index_dir", "collection", "chroma_url", "llm_url", "llm_model",
                                                  "llm_timeout", "embed_url")}
    return Config.load(config_file=getattr(args, "config", None), **flags, **overrides)


def cmd_ingest(args) -> int:
    from .build import make_embedder, make_store, run_ingest

    cfg = _config(args)
    store = make_store(cfg)
    embedder = make_embedder(cfg)
    if args.rebuild:
        from .build import make_chunker
        from .ingest import rebuild

        done = rebuild(store, embedder, make_chunker(cfg), progress=not args.quiet, batch_chunks=cfg.embed_batch)
        print(f"re-embedded {len(done.updated)} articles with {embedder.describe()}; {done.timing()}")
        if not args.paths:
            return 0
    from .build import is_demo

    paths = args.paths or [cfg.seeds_dir]
    report = run_ingest(cfg, paths, store, embedder, progress=not args.quiet, demo=is_demo(cfg, paths))
    for path, reason in report.failed:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    if args.json:
        import json

        print(json.dumps({**report.as_dict(), "embedder": str(embedder.describe())}))
    else:
        print(report.summary() + f"; {report.timing()}")
    return 1 if report.failed else 0


def _history(spec: str | None) -> list:
    """Earlier turns from ``--history FILE`` (or - for stdin); InputError naming what is wrong."""
    from .conversation import read_history

    if not spec:
        return []
    try:
        text = sys.stdin.read() if spec == "-" else Path(spec).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read the history file {spec}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputError(f"the history file {spec} is not UTF-8 text") from None
    try:
        return read_history(text)
    except ValueError as exc:
        raise InputError(f"{spec}: {exc}") from None


def _session(args, progress: bool = True):
    """The models, the index and the pipeline for ask and chat; the check model loading in the background;
    the articles ``--source`` chooses (None: all)."""
    from .build import ensure_index, make_embedder, make_generator, make_judge, make_pipeline, make_store

    cfg = _config(args, model=args.model, judge_model=args.judge_model, top_k=args.top_k)
    generator = make_generator(cfg).load()  # a missing model or a server that is down fails before any indexing
    judge = make_judge(cfg, generator)  # so does a missing check model; the reader's own model is shared
    store = make_store(cfg)
    embedder = make_embedder(cfg)
    ensure_index(cfg, store, embedder, progress=progress)  # progress goes to stderr; stdout stays JSON
    pipeline = make_pipeline(cfg, store=store, embedder=embedder, generator=generator, judge=judge)
    sources = _chosen(store, getattr(args, "source", None))  # a pattern matching nothing fails before the load
    # The check model maps in while the embedder loads and the answer is written. llama.cpp silences
    # the process's stdout and stderr while a model loads, so it starts only after the index is
    # ready (its progress bar stays visible), and an error waits for the load before it is printed.
    # (Live tokens written while it loads can be missing from the dim preview; the answer is printed whole.)
    loading = judge.load_in_background() if judge is not None else None
    return pipeline, loading, sources


def _chosen(store, patterns: list[str] | None):
    """The articles ``--source`` patterns choose (None: all); InputError for a pattern matching none."""
    from .library import choose

    return choose(store.articles(), patterns) if patterns else None


def _answer(pipeline, question: str, history: list, live: bool, loading=None, sources=None):
    """Run one question through the pipeline, showing the draft and the checked sentences on stderr
    as they come when ``live``; the checked ``Answer``."""
    from .answer import Answer, Sentence, Token

    answer, checked = None, []
    try:
        for event in pipeline.stream(question, history=history, sources=sources):
            if isinstance(event, Token) and live:
                sys.stderr.write(f"\x1b[2m{event.text}\x1b[0m")
                sys.stderr.flush()
            elif isinstance(event, Sentence) and live:  # an open answer's sentences, as each is checked
                sys.stderr.write(("\r\x1b[2K\n" if not checked else "") + f"✓ {event.text}\n")
                sys.stderr.flush()
                checked.append(event)
            elif isinstance(event, Answer):
                answer = event
    except BaseException:
        if loading is not None:
            loading.join()
        raise
    if loading is not None:  # the check model silences stdout while it loads: the answer waits for it
        loading.join()
    if live:
        sys.stderr.write("\r\x1b[2K\n")
    return answer


def cmd_ask(args) -> int:
    from .answer import check_question

    question = check_question(args.question)  # fail fast, before any model loads
    history = [] if args.no_history else _history(args.history)
    pipeline, loading, sources = _session(args)
    live = not args.json and not args.no_stream and sys.stderr.isatty()
    answer = _answer(pipeline, question, history, live, loading, sources)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False))
    else:
        print(format_answer(answer, bold=sys.stdout.isatty(), as_typed="--no-history"))
    return 0


CHAT_HELP = ("Ask about the articles. Follow-ups are read in context. /astyped asks the last question as typed, "
             "/new starts a new conversation, /quit ends.")
AS_TYPED = {"/astyped", "/as-typed", "/literal"}
NEW_CHAT = {"/new", "/reset", "new conversation", "/clear"}


def cmd_chat(args) -> int:
    """A conversation in the terminal: each answer printed as `rag ask` prints it, follow-ups read in context."""
    from .answer import check_question
    from .conversation import Turn

    pipeline, loading, sources = _session(args)
    live = not args.no_stream and sys.stderr.isatty()
    tty = sys.stdin.isatty()
    print(CHAT_HELP, file=sys.stderr)
    if sources is not None:
        print(f"(Chatting with {len(sources)} chosen article{'s' if len(sources) != 1 else ''}.)", file=sys.stderr)
    history: list = []
    while True:
        try:
            line = input("you> " if tty else "")
        except EOFError:
            break
        except KeyboardInterrupt:
            print(file=sys.stderr)
            break
        line = line.strip()
        if not line:
            continue
        if line.lower() in ("/quit", "/exit", "/q"):
            break
        if line.lower() in NEW_CHAT:
            history = []
            print("(New conversation.)", flush=True)
            continue
        as_typed = line.lower() in AS_TYPED
        if as_typed:  # the last question again, not read in the conversation
            if not history:
                print("rag: no question to ask again yet", file=sys.stderr)
                continue
            line, history = history[-1].question, history[:-1]
        try:
            question = check_question(line)
            context = [] if as_typed or args.no_history else history
            answer = _answer(pipeline, question, context, live, loading, sources)
        except InputError as exc:
            print(f"rag: {exc}", file=sys.stderr)
            continue
        print(format_answer(answer, bold=sys.stdout.isatty(), as_typed="/astyped") + "\n", flush=True)
        history.append(Turn.of(question, answer))
    return 0


def format_answer(answer, bold: bool = False, as_typed: str = "") -> str:
    """The answer, then each source with its quote; the words that carry the answer are marked in the
    quote (bold on a terminal, else between ** **). A follow-up read in the conversation says what was
    searched, and ``as_typed`` how to ask it as typed instead."""
    lines = [answer.text]
    if answer.searched and answer.searched != answer.question:
        lines.append(f"(Searched for: “{answer.searched}”" + (f"; {as_typed} asks it as typed)" if as_typed else ")"))
    if answer.note:
        lines.append(f"(Note: {answer.note})")
    if answer.refused:
        searched = ", ".join(s for s, _ in answer.retrieved[:3]) or "nothing relevant"
        lines.append(f"\n(Why: {answer.reason}. Searched the index; closest articles: {searched})")
    if answer.closest:  # a decline's nearest sentences: what the search found, not an answer
        lines.append("\nClosest passages found (not an answer):")
        for c in answer.closest:
            lines.append(f"- {c.source}" + (f" — {c.title}" if c.title else ""))
            lines.append(f"    “{c.quote}”")
    if answer.citations:
        lines.append("\nSources:")
        on, off = ("\x1b[1m", "\x1b[22m") if bold else ("**", "**")
        for c in answer.citations:
            quote, pos = [], c.start
            for a, b in sorted(c.highlights):
                if c.start <= pos <= a and b <= c.end:
                    quote += [c.quote[pos - c.start:a - c.start], on, c.quote[a - c.start:b - c.start], off]
                    pos = b
            quote.append(c.quote[pos - c.start:])
            lines.append(f"[{c.n}] {c.source}" + (f" — {c.title}" if c.title else ""))
            lines.append(f"    “{''.join(quote)}”")
    return "\n".join(lines)


def cmd_list(args) -> int:
    from .build import make_store

    store = make_store(_config(args))
    if args.collections:
        sets = store.collections()
        if args.json:
            print(json.dumps([{"collection": n, "articles": k} for n, k in sets]))
            return 0
        if not sets:
            print(f"No collections in {store.where}.")
        for name, count in sets:
            print(f"{name:<30} {count:>6} articles" + ("  (current)" if name == store.collection_name else ""))
        return 0
    docs = store.articles()
    if args.json:
        print(json.dumps([{"source": d.source, "title": d.title, "chunks": d.n_chunks, "date": d.date,
                           "outlet": d.outlet, "byline": d.byline, "demo": d.demo} for d in docs], ensure_ascii=False))
        return 0
    if not docs:
        print("The index is empty: run `rag ingest` (or just `rag ask`).")
        return 0
    width = max(len(d.source) for d in docs)
    for d in docs:
        print(f"{d.source:<{width}}  {d.n_chunks:>4} chunks  {'[demo] ' if d.demo else ''}{d.title[:70]}")
    demo = sum(d.demo for d in docs)
    print(f"{len(docs)} articles, {sum(d.n_chunks for d in docs)} chunks"
          + (f"; {demo} are demo articles (remove them all with `rag remove --demo`)" if demo else ""))
    return 0


def cmd_remove(args) -> int:
    from .build import make_store

    store = make_store(_config(args))
    if not args.sources and not args.demo:
        raise InputError("name the articles to remove (see `rag list`), or --demo for the demo articles")
    if args.demo:
        gone = store.remove_demo()
        print(f"removed {len(gone)} demo article{'s' if len(gone) != 1 else ''}" + (f": {', '.join(gone)}" if gone else ""))
    missing = [s for s in args.sources if not store.remove(s)]
    for s in args.sources:
        if s not in missing:
            print(f"removed {s}")
    if missing:
        raise InputError(f"not in the index: {', '.join(missing)} (see `rag list`)")
    return 0


def cmd_ui(args) -> int:
    import os

    auth = args.auth or os.environ.get("RAG_UI_AUTH") or None
    if auth is not None:
        user, sep, password = auth.partition(":")
        if not (user and sep and password):
            raise InputError("--auth wants USER:PASSWORD")
        auth = (user, password)
    if not 0 < args.port < 65536:
        raise InputError(f"--port must be between 1 and 65535, got {args.port}")
    from ui.app import serve

    api_key = args.api_key or os.environ.get("RAG_API_KEY") or None
    serve(_config(args, model=args.model, judge_model=args.judge_model), host=args.host, port=args.port, auth=auth,
          api_key=api_key)
    return 0


def cmd_config(args) -> int:
    import dataclasses

    cfg, origin = _load_config(args)
    rows = [(f.name, str(getattr(cfg, f.name)), origin[f.name]) for f in dataclasses.fields(cfg)]
    rows.append(("llm_api_key", "(set)" if cfg.llm_api_key else "(not set)", "env RAG_LLM_API_KEY or OPENAI_API_KEY"))
    if args.json:
        print(json.dumps({name: {"value": value, "from": where} for name, value, where in rows}, indent=2))
        return 0
    wn = max(len(r[0]) for r in rows)
    wv = min(60, max(len(r[1]) for r in rows))
    for name, value, where in rows:
        print(f"{name:<{wn}}  {value:<{wv}}  {where}")
    return 0


def cmd_models(args) -> int:
    from .models import PACKAGED

    for m in PACKAGED.values():
        print(f"{m.name:<22} {m.description}")
    return 0


def cmd_eval(args) -> int:
    from .build import eval_store, make_embedder, make_generator, make_judge, make_pipeline
    from .evaluate import (check_sources, compare, failed_floors, load_dataset, parse_floors, read_results,
                           regressions, run_all)

    floors = parse_floors(args.fail_under)
    items = load_dataset(args.dataset, split=args.split, limit=args.limit, every=args.every, categories=args.category)
    baseline = None
    if args.baseline:
        baseline = (json.loads((args.baseline / "summary.json").read_text()), read_results(args.baseline))
    cfg = _config(args, model=args.model, judge_model=args.judge_model)
    generator = make_generator(cfg).load()
    judge = make_judge(cfg, generator)
    if judge is not None:
        judge.load()  # now, like the answer model: not inside the first question's latency
    embedder = make_embedder(cfg)
    store = eval_store(cfg, embedder, args.corpus, progress=not args.quiet)
    articles = {a.source: a.text for a in store.articles(with_text=True)}
    missing = check_sources(items, articles)
    if missing and args.corpus:
        raise InputError(f"the dataset cites articles that are not in {args.corpus}: {', '.join(missing[:5])}")
    for name in missing:
        print(f"rag: warning: the dataset cites {name}, which is not in the index", file=sys.stderr)
    fns = {}
    if args.pipeline in ("ours", "both"):
        pipeline = make_pipeline(cfg, store=store, embedder=embedder, generator=generator, judge=judge)
        fns["ours"] = lambda q, history=(): pipeline.ask(q, history=history).to_dict()
    if args.pipeline in ("plain-llamaindex", "both"):
        from .plain import PlainLlamaIndex

        from .metrics import is_open_item

        # an open answer needs room: the same budget as ours when the set has open questions
        plain = PlainLlamaIndex(store, embedder, generator, max_tokens=200 if any(map(is_open_item, items)) else 96)
        fns["plain-llamaindex"] = lambda q, history=(): plain.ask(q).to_dict()  # the plain recipe keeps no conversation
    summaries = run_all(fns, items, articles, args.out, cfg.model, str(args.dataset), args.split,
                        progress=not args.quiet, standalone=not args.no_standalone)
    names = list(summaries)
    print(f"{'metric':<28} " + " ".join(f"{n:>17}" for n in names))
    for key, value in summaries[names[0]].items():
        if isinstance(value, (int, float)) and key not in ("questions", "answerable", "unanswerable"):
            print(f"{key:<28} " + " ".join(f"{summaries[n].get(key, 0.0):>17.3f}" for n in names))
    summary = summaries[names[0]]
    if baseline:
        print("\nChange against the baseline:")
        for name, before, now, delta, worse in compare(summary, baseline[0]):
            print(f"{name:<28} {before:.3f} -> {now:.3f} ({delta:+.3f}){'  WORSE' if worse else ''}")
        lost = regressions(read_results(args.out), baseline[1])
        print("Right before, wrong now: " + (", ".join(lost) if lost else "none"))
    print(f"\nWrote {args.out}/results.jsonl, summary.json, report.md and report.html")
    failures = failed_floors(summary, floors)
    for msg in failures:
        print(f"rag: quality gate failed: {msg}", file=sys.stderr)
    return 1 if failures else 0


COMMANDS = {"eval": cmd_eval, "ingest": cmd_ingest, "ask": cmd_ask, "chat": cmd_chat, "list": cmd_list, "remove": cmd_remove,
            "models": cmd_models, "ui": cmd_ui, "config": cmd_config}

# Read-only commands whose process may end at once: tearing down torch, llama.cpp and Chroma
# takes about a second after the answer is printed, and nothing is left to save.
FAST_EXIT = {"ask", "chat", "list", "config", "models"}


def entry() -> None:
    """The `rag` executable: main(), then a quick exit for read-only commands."""
    code, command = _run(_parser(), sys.argv[1:])
    if command in FAST_EXIT:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
