"""The library as a whole: the demo kept apart, example questions from the articles in it, choosing
articles to chat with (every step stays within them), and the overview of all of it."""

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT, SEEDS
from fakes import HashEmbedder, ScriptedGenerator, extractive_reply
from rag.answer import Pipeline
from rag.build import ensure_index, run_ingest
from rag.config import Config
from rag.conversation import Turn
from rag.errors import IndexEmptyError, InputError
from rag.library import choose, example_questions, group_articles, lead_sentence, overview
from rag.store import ChromaStore, StoredArticle
from rag.verify import check_quote

CORPUS = ROOT / "evals" / "corpus" / "articles"
REALPAGES = ROOT / "evals" / "realpages" / "articles"


def _art(source, title="", outlet="", date="", demo=False, text=""):
    return StoredArticle(source, title, "h", 1, text=text, outlet=outlet, date=date, demo=demo)


# -- the demo ------------------------------------------------------------------------------------------
def test_the_seeds_are_the_demo_and_an_emptied_library_stays_empty(tmp_path, seeds):
    cfg = Config(index_dir=tmp_path / "index", seeds_dir=seeds, cache_dir=tmp_path / "cache")
    store, embedder = ChromaStore(cfg.index_dir), HashEmbedder()
    ensure_index(cfg, store, embedder, progress=False)  # a fresh checkout: the demo
    assert store.count() == 5 and all(a.demo for a in store.articles())
    own = tmp_path / "mine"
    own.mkdir()
    (own / "note.txt").write_text("Harbour reopens\n\nThe old harbour in Kestel reopened on Monday after repairs.\n")
    run_ingest(cfg, [own], store, embedder, progress=False)
    assert {a.source: a.demo for a in store.articles()}["note.txt"] is False
    assert len(store.remove_demo()) == 5
    assert [a.source for a in store.articles()] == ["note.txt"]
    store.remove("note.txt")
    with pytest.raises(IndexEmptyError, match="demo articles were removed"):
        ensure_index(cfg, store, embedder, progress=False)  # not filled with the demo again
    assert store.count() == 0


def test_rebuild_keeps_the_demo_marks(tmp_path, seeds):
    from rag.chunk import Chunker
    from rag.ingest import rebuild

    cfg = Config(index_dir=tmp_path / "index", seeds_dir=seeds, cache_dir=tmp_path / "cache")
    store, embedder = ChromaStore(cfg.index_dir), HashEmbedder()
    ensure_index(cfg, store, embedder, progress=False)
    rebuild(store, embedder, Chunker(), progress=False)
    assert store.count() == 5 and all(a.demo for a in store.articles())


def test_example_questions_come_from_the_articles_in_the_library_the_users_first():
    demo = [_art("000.txt", "Leaders meet at the summit in Astana", demo=True)]
    mine = [_art("a.html", "Lakeside town opens floating library"), _art("b.txt", "b.txt"),
            _art("c.md", "Rail strike called off after talks")]
    assert example_questions(demo) == ["What is “Leaders meet at the summit in Astana” about?"]
    qs = example_questions(demo + mine)
    assert qs == ["What are these articles about?", "What is “Lakeside town opens floating library” about?",
                  "What is “Rail strike called off after talks” about?"]
    assert example_questions([]) == []


def test_an_example_question_about_one_article_is_answered_from_that_article(tmp_path, seeds):
    from rag.shape import OVERVIEW, shape_of

    store = ChromaStore(tmp_path / "index")
    cfg = Config(index_dir=tmp_path / "index", seeds_dir=seeds, cache_dir=tmp_path / "cache")
    run_ingest(cfg, [CORPUS / "caldera-launch_pellar-wire.txt", CORPUS / "halvard-bridge_allied-wire.txt"], store,
               HashEmbedder(), progress=False)
    question = [q for q in example_questions(store.articles()) if "satellite" in q][0]
    assert shape_of(question) == OVERVIEW
    pipeline = Pipeline(store, HashEmbedder(), ScriptedGenerator(extractive_reply), judge=None)
    answer = pipeline.ask(question)
    assert {e.source for e in answer.evidence} == {"caldera-launch_pellar-wire.txt"}


# -- choosing articles ---------------------------------------------------------------------------------
def test_articles_are_chosen_by_file_title_outlet_or_date_with_globs():
    arts = [_art("a.html", "Floating library opens", "Harbour Times", "2024-05-12"),
            _art("b.txt", "Rail strike ends", "BBC News", "2024-03-02"), _art("c.pdf", "Budget", "bbc", "2023-11-30")]
    assert choose(arts, []) is None
    assert choose(arts, ["a.html"]) == {"a.html"}
    assert choose(arts, ["*.TXT", "*.pdf"]) == {"b.txt", "c.pdf"}
    assert choose(arts, ["bbc*"]) == {"b.txt", "c.pdf"}
    assert choose(arts, ["2024-*"]) == {"a.html", "b.txt"}
    assert choose(arts, ["floating library opens"]) == {"a.html"}
    with pytest.raises(InputError, match="no article in the library matches 'z.txt'"):
        choose(arts, ["a.html", "z.txt"])


@pytest.fixture(scope="module")
def two_libraries(tmp_path_factory):
    """The seeds and four invented articles on two other events, indexed with the test fakes."""
    tmp = tmp_path_factory.mktemp("chosen")
    cfg = Config(index_dir=tmp / "index", seeds_dir=SEEDS, cache_dir=tmp / "cache")
    store = ChromaStore(cfg.index_dir)
    files = [SEEDS] + [CORPUS / f for f in ("caldera-launch_pellar-wire.txt", "caldera-launch_northwind-courier.html",
                                            "halvard-bridge_allied-wire.txt", "halvard-bridge_riverside-record.md")]
    run_ingest(cfg, files, store, HashEmbedder(), progress=False)
    return Pipeline(store, HashEmbedder(), ScriptedGenerator(extractive_reply), judge=None)


QUESTIONS = ["Which country became the tenth member of the SCO?", "How many people were killed when the bridge fell?",
             "What happened to the satellite after launch?", "What are these articles about?",
             "Who represented India at the summit?", "Why did the bridge collapse?"]
SOURCES = sorted(p.name for p in SEEDS.glob("*.txt")) + ["caldera-launch_pellar-wire.txt",
                                                          "caldera-launch_northwind-courier.html",
                                                          "halvard-bridge_allied-wire.txt",
                                                          "halvard-bridge_riverside-record.md"]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chosen=st.sets(st.sampled_from(SOURCES), min_size=1, max_size=4), question=st.sampled_from(QUESTIONS),
       follow=st.sampled_from(["", "Who else reported it?", "Why?", "Which article says that?"]))
def test_an_answer_within_chosen_articles_never_leaves_them(two_libraries, chosen, question, follow):
    pipeline, chosen = two_libraries, frozenset(chosen)
    answer = pipeline.ask(question, sources=chosen)
    steps = [answer]
    if follow:
        steps.append(pipeline.ask(follow, history=[Turn.of(question, answer)], sources=chosen))
    for a in steps:
        assert {c.source for c in a.citations} <= chosen, a.text
        assert {s for s, _ in a.retrieved} <= chosen
        assert {e.source for e in a.evidence} <= chosen
        assert {c.source for c in a.closest} <= chosen


# -- the overview --------------------------------------------------------------------------------------
def test_grouping_puts_near_vectors_together_biggest_group_first():
    import numpy as np

    arts = [_art(s) for s in "abcde"]
    v = {"a": [1, 0, 0], "b": [0.95, 0.1, 0], "c": [0.9, 0.05, 0.1], "d": [0, 1, 0], "e": [0, 0.05, 1]}
    groups = group_articles(arts, {k: np.array(x, dtype=np.float32) for k, x in v.items()}, threshold=0.8)
    assert [[a.source for a in g.articles] for g in groups][0] in (["a", "b", "c"], ["b", "a", "c"], ["b", "c", "a"])
    assert sorted(len(g.articles) for g in groups) == [1, 1, 3]


def test_lead_sentence_skips_the_headline_and_byline():
    text = "Harbour reopens\nBy Ana Costa\nShort.\nThe old harbour in Kestel reopened on Monday after two years of repairs.\n"
    a, b = lead_sentence(_art("x.txt", "Harbour reopens", text=text))
    assert text[a:b] == "The old harbour in Kestel reopened on Monday after two years of repairs."


def _real_pipeline(tmp_path, paths):
    """The real packaged embedder (the grouping depends on it) and the fake reader, over ``paths``."""
    from rag.build import make_embedder

    cfg = Config(index_dir=tmp_path / "index", seeds_dir=SEEDS, cache_dir=tmp_path / "cache")
    store, embedder = ChromaStore(cfg.index_dir), make_embedder(cfg)
    report = run_ingest(cfg, paths, store, embedder, progress=False)
    assert not report.failed
    return Pipeline(store, embedder, ScriptedGenerator("NONE"), judge=None)


def _check_cited_lines(answer, pipeline):
    """Every line of the overview ends with a marker, the markers count up from 1, and each quote is verbatim."""
    import re

    lines = [x for x in answer.text.splitlines() if x.startswith("- ")]
    markers = [int(m) for line in lines for m in re.findall(r"\[(\d+)\]", line)]
    assert all(re.search(r"\[\d+\]$", line) for line in lines)
    assert markers == list(range(1, len(answer.citations) + 1)) == [c.n for c in answer.citations]
    for c in answer.citations:
        assert check_quote(pipeline.store.article(c.source).text, c.quote, c.start, c.end)
    return lines


def test_the_overview_of_a_library_of_three_events_names_all_three(tmp_path):
    events = ("tarnmouth-summit", "vellmar-election", "brightwater-ruling")  # dev events, four outlets each
    paths = sorted(p for p in CORPUS.iterdir() if p.name.startswith(events))
    pipeline = _real_pipeline(tmp_path, paths)
    for question in ("What are these articles about?", "Summarize the library"):
        answer = pipeline.ask(question)
        assert not answer.refused and answer.shape == "overview"
        lines = _check_cited_lines(answer, pipeline)
        assert len(lines) == 3, answer.text  # one line an event, each with its four articles
        assert all("(4 articles" in line for line in lines)
        for word in ("Tarnmouth", "Vellmar", "Brightwater"):
            assert sum(word in line for line in lines) == 1, answer.text
    # chosen articles: the overview covers them only
    chosen = frozenset(p.name for p in paths if p.name.startswith("vellmar"))
    answer = pipeline.ask("What are these articles about?", sources=chosen)
    assert {c.source for c in answer.citations} <= chosen and "Vellmar" in answer.text and "Tarnmouth" not in answer.text


def test_the_overview_of_16_unrelated_pages_names_at_least_half(tmp_path):
    import json

    dev = {s for q in map(json.loads, (ROOT / "evals/realpages/questions.jsonl").read_text().splitlines())
           if q.get("split") == "dev" for s in q["sources"]}
    paths = sorted(REALPAGES / s for s in dev)[:16]
    pipeline = _real_pipeline(tmp_path, paths)
    answer = pipeline.ask("What are these articles about?")
    _check_cited_lines(answer, pipeline)
    from rag.library import title_of

    named = [a for a in pipeline.store.articles() if title_of(a) and title_of(a) in answer.text]
    assert len(named) >= 8, answer.text
    assert "16 articles" in answer.text and "more article" in answer.text  # a large library: the rest counted


def test_overview_counts_the_rest_of_a_large_library():
    import numpy as np

    text = "Headline\nThis is the lead sentence of the article, long enough to count as one.\n"
    arts = [_art(f"{i:02}.txt", f"Story number {i}", text=text) for i in range(30)]
    vecs = {a.source: np.eye(30, dtype=np.float32)[i] for i, a in enumerate(arts)}
    for i in range(5):  # one event, five articles: the biggest group comes first
        vecs[arts[i].source] = np.eye(30, dtype=np.float32)[0]
    ov = overview(arts, vecs, most=4)
    assert len(ov.lines) == 4 and len(ov.lines[0].group.articles) == 5
    assert ov.groups == 26 and ov.rest_groups == 22 and ov.rest_articles == 22
