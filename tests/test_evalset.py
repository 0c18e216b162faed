"""Tests for the article QA evaluation set (evals/seeds_qa.jsonl) and its checker."""
import importlib.util
import json
import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
EVALSET = REPO_ROOT / "evals" / "seeds_qa.jsonl"
CHECKER = REPO_ROOT / "evals" / "check_evalset.py"


def _seeds_dir() -> Path:
    local = REPO_ROOT / "seeds"
    if local.is_dir():
        return local
    return REPO_ROOT.parent / "shared" / "seeds"


SEEDS = _seeds_dir()
CATEGORIES = {
    "single_fact",
    "multi_source",
    "cross_article",
    "paraphrase",
    "number_date",
    "attribution",
    "unanswerable",
}
OPEN_CATEGORIES = {"summary", "why", "describe", "list", "compare", "overview"}


def _load_checker():
    spec = importlib.util.spec_from_file_location("check_evalset", CHECKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def checker():
    return _load_checker()


@pytest.fixture(scope="module")
def items():
    with EVALSET.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _occurs(alt: str, text: str) -> bool:
    return re.search(r"(?<!\w)" + re.escape(alt), text, re.IGNORECASE) is not None


def _article(name: str) -> str:
    return (SEEDS / name).read_text(encoding="utf-8")


def test_seeds_present():
    assert SEEDS.is_dir(), f"seeds directory not found: {SEEDS}"
    assert len(list(SEEDS.glob("*.txt"))) >= 5


def test_checker_reports_no_errors(checker):
    errors = checker.check(EVALSET, SEEDS)
    assert errors == [], "\n".join(errors)


def test_sizes(items):
    assert len(items) >= 60
    unanswerable = [it for it in items if it["answerable"] is False]
    assert len(unanswerable) >= 12
    for it in unanswerable:
        assert it["keywords"] == [] and it["sources"] == []
        assert it["category"] == "unanswerable" or it["category"] in OPEN_CATEGORIES  # open near misses
    assert sum(it["category"] == "unanswerable" for it in unanswerable) >= 12


def test_open_questions(checker, items):
    """Open questions: the six kinds, 2 to 5 points each when answerable, and near misses in both splits."""
    assert checker.OPEN_CATEGORIES == OPEN_CATEGORIES
    open_items = [it for it in items if it["category"] in OPEN_CATEGORIES]
    assert {it["category"] for it in open_items} == OPEN_CATEGORIES
    for it in open_items:
        if it["answerable"]:
            assert 2 <= len(it["keywords"]) <= 5 and it["sources"], it["id"]
    assert {it["split"] for it in open_items if not it["answerable"]} == {"dev", "test"}
    asked = {it["question"] for it in open_items if it["answerable"]}
    for question in ("What happened at the SCO summit in Astana?", "Summarize what Xi Jinping said at the summit.",
                     "Why do Xi and Putin value the SCO?", "What topics did the joint declaration cover?",
                     "What are these articles about?"):
        assert question in asked, question


def test_key_order(items):
    order = ["id", "question", "answer", "keywords", "sources", "answerable", "split", "category"]
    for it in items:
        assert list(it) == order, it["id"]


def test_every_category_has_questions_in_both_splits(items):
    for cat in CATEGORIES:
        splits = {it["split"] for it in items if it["category"] == cat}
        assert splits == {"dev", "test"}, cat
    answerable_cats = [it["category"] for it in items if it["answerable"]]
    for cat in CATEGORIES - {"unanswerable"}:
        assert answerable_cats.count(cat) >= 6, cat


def test_keyword_groups_occur_in_sources(items):
    for it in items:
        if not it["answerable"]:
            continue
        texts = [_article(src) for src in it["sources"]]
        assert texts, it["id"]
        for group in it["keywords"]:
            assert any(_occurs(alt, t) for alt in group for t in texts), (it["id"], group)


def test_every_article_is_a_source(items):
    articles = sorted(p.name for p in SEEDS.glob("*.txt"))
    for name in articles:
        users = [it for it in items if name in it["sources"]]
        assert users, f"{name} is not the source of any question"
        assert {it["split"] for it in users} == {"dev", "test"}, name


def test_both_splits_have_unanswerable(items):
    splits = {it["split"] for it in items if not it["answerable"]}
    assert splits == {"dev", "test"}


def test_tenth_member_question(items):
    matches = [it for it in items if it["question"] == "Which country became the tenth member of the SCO?"]
    assert len(matches) == 1
    assert matches[0]["keywords"] == [["belarus"]]
    assert "000_be872feae246cb84.txt" in matches[0]["sources"]


def _write(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _good_row(**overrides):
    row = {
        "id": "q01",
        "question": "Which country became the tenth member of the SCO?",
        "answer": "Belarus.",
        "keywords": [["belarus"]],
        "sources": ["000_be872feae246cb84.txt"],
        "answerable": True,
        "split": "dev",
        "category": "single_fact",
    }
    row.update(overrides)
    return row


def test_checker_accepts_good_file(checker, tmp_path):
    path = _write(tmp_path / "good.jsonl", [_good_row()])
    assert checker.check(path, SEEDS) == []


def test_checker_catches_missing_keyword(checker, tmp_path):
    path = _write(tmp_path / "bad.jsonl", [_good_row(keywords=[["zimbabwe"]])])
    errors = checker.check(path, SEEDS)
    assert errors
    assert any("zimbabwe" in e for e in errors)


def test_checker_requires_word_start(checker, tmp_path):
    # "elarus" occurs inside "Belarus" but not at a word start.
    path = _write(tmp_path / "bad.jsonl", [_good_row(keywords=[["elarus"]])])
    assert checker.check(path, SEEDS)


def test_checker_catches_structural_problems(checker, tmp_path):
    rows = [
        _good_row(),
        _good_row(),  # duplicate id
        _good_row(id="q02", sources=["no_such_article.txt"]),
        _good_row(id="q03", answerable=False, category="unanswerable"),  # keywords not empty
        _good_row(id="q04", split="train"),
        _good_row(id="q05", category="trivia"),
    ]
    errors = checker.check(_write(tmp_path / "bad.jsonl", rows), SEEDS)
    text = "\n".join(errors)
    assert "duplicate id" in text
    assert "not found" in text
    assert "unanswerable" in text
    assert "split" in text
    assert "category" in text


def test_checker_open_questions(checker, tmp_path):
    """An answerable open question states 2 to 5 points, each found in a source; an open near miss is accepted."""
    good = _good_row(id="o01", question="What happened at the SCO summit in Astana?", answer="Belarus joined; Xi ...",
                     keywords=[["belarus"], ["interference"]], category="describe")
    near = _good_row(id="o02", question="Why did Narendra Modi walk out of the SCO summit?",
                     answer="The premise is false: Modi did not attend.", keywords=[], sources=[], answerable=False,
                     category="why")
    path = _write(tmp_path / "open.jsonl", [good, near])
    errors, warnings, _ = checker.check_full(path, SEEDS)
    assert errors == [] and warnings == []
    missing = dict(good, keywords=[["belarus"], ["zimbabwe", "harare"]])
    errors = checker.check(_write(tmp_path / "missing.jsonl", [missing]), SEEDS)
    assert len(errors) == 1 and "(o01)" in errors[0] and "['zimbabwe', 'harare'] occurs in none" in errors[0]
    one_point = dict(good, keywords=[["belarus"]])
    errors = checker.check(_write(tmp_path / "one.jsonl", [one_point]), SEEDS)
    assert errors == ["line 1 (o01): open question (describe) needs 2 to 5 keyword groups (its points), has 1"]
    near_with_points = dict(near, keywords=[["modi"]])
    assert "unanswerable question must have empty 'keywords'" in checker.check(
        _write(tmp_path / "near.jsonl", [near_with_points]), SEEDS)[0]
    closed_near_miss = dict(near, category="single_fact")
    assert "answerable is false but category is 'single_fact'" in checker.check(
        _write(tmp_path / "closed.jsonl", [closed_near_miss]), SEEDS)[0]


def test_checker_strict_rules_for_the_corpus(checker, tmp_path):
    """--strict: a paraphrase shares no content word with its article; no article serves both splits."""
    articles = tmp_path / "articles"
    articles.mkdir()
    (articles / "a.txt").write_text("Ferry runs aground\n\nThe ferry's skipper, Jonas Ekdahl, steered the vessel "
                                    "onto a sandbank.\n", encoding="utf-8")
    (articles / "b.html").write_text(
        "<html><head><title>Vote</title></head><body><nav><p>Council menu</p></nav><article><h1>Council vote</h1>"
        "<p>The council approved the harbour budget of 4.2 million crowns.</p></article></body></html>",
        encoding="utf-8")
    ok = _good_row(id="p1", question="Who was at the helm of the boat?", keywords=[["ekdahl"]],
                   sources=["a.txt"], category="paraphrase")
    reused = _good_row(id="p2", question="Who was at the helm of the ferry?", keywords=[["ekdahl"]],
                       sources=["a.txt"], category="paraphrase")
    html = _good_row(id="p3", question="How large was the budget?", keywords=[["4.2 million"]],
                     sources=["b.html"], category="number_date", split="test")
    assert checker.check(_write(tmp_path / "ok.jsonl", [ok, html]), articles, strict=True) == []
    errors = checker.check(_write(tmp_path / "bad.jsonl", [reused]), articles, strict=True)
    assert errors == ["line 1 (p2): paraphrase question shares words with its sources: ['ferry']"]
    assert checker.check(_write(tmp_path / "lax.jsonl", [reused]), articles) == []  # the seeds set keeps its rules
    menu = _good_row(id="p4", question="What is on the menu?", keywords=[["menu"]], sources=["b.html"], split="test")
    assert "keyword group ['menu'] occurs in none" in checker.check(_write(tmp_path / "nav.jsonl", [menu]), articles)[0]
    both = [html, dict(html, id="p5", split="dev")]
    assert checker.check(_write(tmp_path / "split.jsonl", both), articles, strict=True) == [
        "article b.html is cited by questions of several splits ['dev', 'test']: split by event, not by question"]


def test_the_real_page_set_checks_out_and_is_split_by_page(checker):
    """evals/realpages: real saved pages, questions written by hand; every reference found in the page as the
    chatbot extracts it, and dev and test apart by page (``--strict``)."""
    folder = REPO_ROOT / "evals" / "realpages"
    assert checker.check(folder / "questions.jsonl", folder / "articles", strict=True) == []
    rows = [json.loads(line) for line in (folder / "questions.jsonl").read_text(encoding="utf-8").splitlines()]
    pages = {p.name for p in (folder / "articles").iterdir()}
    assert len(pages) >= 40 and len(rows) >= 240
    assert {s for r in rows for s in r["sources"]} == pages  # every page is asked about
    split_of = {}
    for r in rows:
        for s in r["sources"]:
            assert split_of.setdefault(s, r["split"]) == r["split"], s
    opens = [r for r in rows if r["category"] in OPEN_CATEGORIES]
    assert len(opens) >= 60 and all(3 <= len(r["keywords"]) <= 5 for r in opens if r["answerable"])
    assert {r["split"] for r in rows if not r["answerable"]} == {"dev", "test"}
