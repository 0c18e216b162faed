"""Every metric on small hand-made results whose right values are worked out by hand."""

import json
import re

import pytest

from rag.errors import InputError
from rag.evaluate import compare, failed_floors, load_dataset, parse_floors, regressions
from rag.metrics import (answer_f1, answer_words, first_relevant_rank, hit_at, is_correct, is_direct,
                         is_direct_correct, is_quoted_sentence, keyword_match, percentile, recall_at,
                         reciprocal_rank, summarize)

ARTICLES = {"a.txt": "Belarus became the tenth member of the SCO.", "b.txt": "Xi met Putin in Astana on Wednesday."}
ITEMS = [
    {"id": "1", "question": "Tenth member?", "answer": "Belarus", "keywords": [["belarus"], ["tenth", "10th"]],
     "sources": ["a.txt"], "answerable": True, "category": "single_fact"},
    {"id": "2", "question": "Where did they meet?", "answer": "Astana", "keywords": [["astana"]],
     "sources": ["b.txt", "a.txt"], "answerable": True},
    {"id": "3", "question": "Budget?", "answer": "The articles don't say.", "keywords": [], "sources": [],
     "answerable": False},
    {"id": "4", "question": "Who met?", "answer": "Xi and Putin", "keywords": [["xi"], ["putin"]],
     "sources": ["b.txt"], "answerable": True},
]


def _r(answer, refused, citations, retrieved, latency, ttft=0.1, tokens=11, gen=1.1):
    return {"answer": answer, "refused": refused, "citations": citations,
            "retrieved": [{"source": s, "score": 1.0} for s in retrieved], "latency_s": latency,
            "ttft_s": ttft, "tokens": tokens, "timings": {"generate_s": gen}}


RESULTS = [
    # right; cites the right article verbatim; right article ranked 2nd
    _r("Belarus, the 10th member [1].", False, [{"source": "a.txt", "quote": "Belarus became the tenth member"}],
       ["b.txt", "a.txt"], 1.0),
    # wrong answer; cites b.txt (a listed source) with a quote that is NOT in the article
    _r("In Moscow [1].", False, [{"source": "b.txt", "quote": "met in Moscow"}], ["b.txt"], 2.0),
    # unanswerable, declined
    _r("The articles don't say.", True, [], ["a.txt"], 0.5, ttft=0.0, tokens=0, gen=0.0),
    # answerable but declined; nothing relevant retrieved
    _r("The articles don't say.", True, [], ["a.txt"], 4.0),
]


def test_keyword_match_word_start_and_groups():
    assert keyword_match("Belarus, the 10th member", [["belarus"], ["tenth", "10th"]])
    assert not keyword_match("Belarus joined", [["belarus"], ["tenth", "10th"]])
    assert keyword_match("turbulent times", [["turbulen"]])  # prefix at a word start counts
    assert not keyword_match("disturbance", [["turb"]])  # not at a word start
    assert keyword_match("anything", [])


def test_correctness_and_retrieval_per_item():
    assert [is_correct(i, r) for i, r in zip(ITEMS, RESULTS)] == [True, False, True, False]
    assert first_relevant_rank(ITEMS[0], RESULTS[0]) == 2
    assert hit_at(ITEMS[0], RESULTS[0], 1) is False and hit_at(ITEMS[0], RESULTS[0], 5) is True
    assert reciprocal_rank(ITEMS[0], RESULTS[0]) == 0.5
    assert recall_at(ITEMS[1], RESULTS[1], 5) == 0.5  # one of its two sources retrieved
    assert reciprocal_rank(ITEMS[3], RESULTS[3]) == 0.0


def test_summary_values():
    s = summarize(ITEMS, RESULTS, ARTICLES)
    assert (s["questions"], s["answerable"], s["unanswerable"]) == (4, 3, 1)
    assert s["answer_correctness"] == pytest.approx(1 / 3)
    assert s["accuracy"] == pytest.approx(2 / 4)
    assert s["hit@1"] == pytest.approx(1 / 3)  # only item 2 has its source first
    assert s["hit@5"] == pytest.approx(2 / 3)
    assert s["mrr"] == pytest.approx((0.5 + 1 + 0) / 3)
    assert s["recall@5"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert s["citation_precision"] == 1.0  # both cited articles are among the item's sources
    assert s["quote_verbatim_rate"] == 0.5  # "met in Moscow" is not in b.txt
    assert s["answers_with_citation"] == 1.0
    assert s["refusal_rate_unanswerable"] == 1.0
    assert s["false_refusal_rate"] == pytest.approx(1 / 3)
    assert s["latency_p50_s"] == 1.0 and s["latency_p95_s"] == 4.0
    assert s["ttft_p50_s"] == 0.1
    assert s["tokens_per_s"] == pytest.approx(30 / 3.0)  # 3 answers x 10 tokens after the first / 3 x 1.0 s
    # direct: item 1 ("Belarus, the 10th member", 4 words) is right and direct; item 2 is direct but wrong
    assert s["direct_correctness"] == pytest.approx(1 / 3)
    assert s["direct_answer_rate"] == 1.0  # both answers given are short and not copied sentences
    assert s["answer_f1"] == pytest.approx((0.5 + 0 + 0) / 3)  # {belarus,10th,member} vs {belarus}: P 1/3, R 1
    assert s["answer_words_median"] == 3.0  # 4 and 2 words
    assert s["quoted_sentence_answers"] == 0
    # answered and wrong, over all four questions: item 2 only (the declines are not wrong answers)
    assert s["wrong_answer_rate"] == pytest.approx(1 / 4)
    answered_unanswerable = [*RESULTS[:2], _r("In 2030 [1].", False, [], ["a.txt"], 0.5), RESULTS[3]]
    assert summarize(ITEMS, answered_unanswerable, ARTICLES)["wrong_answer_rate"] == pytest.approx(2 / 4)


QUOTE = ("Putin remarked at the summit, “The multipolar world has become a reality,” celebrating Belarus’s "
         "accession as the tenth member of the SCO.")


def _answer(text, quote=QUOTE, refused=False):
    return {"answer": text, "refused": refused, "citations": [{"source": "a.txt", "quote": quote}] if quote else []}


def test_a_quoted_sentence_is_not_direct():
    copied = _answer(f"“{QUOTE}” [1].")
    assert is_quoted_sentence(copied) and not is_direct(copied)
    item = {"answer": "Belarus", "keywords": [["belarus"]], "answerable": True}
    assert is_correct(item, copied) and not is_direct_correct(item, copied)  # right words, but a copied sentence
    # nearly all of the sentence, cut at the end, is still the sentence handed back
    assert is_quoted_sentence(_answer(QUOTE.rsplit(" of the SCO", 1)[0] + " [1]."))
    # a span taken from it is an answer
    assert not is_quoted_sentence(_answer("Belarus [1]."))
    assert not is_quoted_sentence(_answer("Belarus became the tenth member of the SCO [1]."))
    assert not is_quoted_sentence(_answer("The articles don't say.", quote=None, refused=True))


def test_belarus_is_direct_and_scores_f1_one():
    short = _answer("Belarus [1].")
    assert is_direct(short)
    assert answer_f1("Belarus [1].", "Belarus.") == 1.0
    assert answer_words("Belarus [1].") == 1


def test_a_thirty_word_answer_is_not_direct():
    long = " ".join(f"word{i}" for i in range(29)) + " Belarus [1]."
    assert answer_words(long) == 30
    assert not is_direct(_answer(long, quote="Something else entirely."))
    assert is_direct(_answer(" ".join(["word"] * 24) + " Belarus [1] [2].", quote="Other."))  # 25 words


def test_answer_f1_squad_normalisation():
    assert answer_f1("The Belarus!", "belarus") == 1.0  # case, punctuation and articles ignored
    assert answer_f1("14 years [2]", "14 years") == 1.0
    assert answer_f1("Terry Jermy, the MP [1][2]", "Terry Jermy") == pytest.approx(2 * (2 / 3) * 1 / (2 / 3 + 1))
    assert answer_f1("Moscow", "Astana") == 0.0
    assert answer_f1("", "Astana") == 0.0


def test_percentile_nearest_rank():
    assert percentile([], 50) == 0.0
    assert percentile([3, 1, 2], 50) == 2
    assert percentile(list(range(1, 101)), 95) == 95


def test_compare_floors_and_regressions():
    now = {"answer_correctness": 0.8, "false_refusal_rate": 0.1, "latency_p50_s": 1.0, "questions": 4}
    before = {"answer_correctness": 0.9, "false_refusal_rate": 0.2, "latency_p50_s": 0.5, "questions": 4}
    rows = {r[0]: r for r in compare(now, before)}
    assert rows["answer_correctness"][4] is True  # lower correctness is worse
    assert rows["false_refusal_rate"][4] is False  # fewer false refusals is better
    assert rows["latency_p50_s"][4] is True
    assert "questions" not in rows
    floors = parse_floors(["answer_correctness=0.85", "false_refusal_rate=0.05"])
    assert failed_floors(now, floors) == ["answer_correctness = 0.800 is below 0.85",
                                          "false_refusal_rate = 0.100 is above 0.05"]
    assert failed_floors(now, {"answer_correctness": 0.5}) == []
    with pytest.raises(InputError, match="METRIC=VALUE"):
        parse_floors(["answer_correctness"])
    with pytest.raises(InputError, match="unknown metric 'nope'"):
        failed_floors(now, {"nope": 1.0})
    assert regressions([{"id": "1", "correct": False}, {"id": "2", "correct": True}],
                       [{"id": "1", "correct": True}, {"id": "2", "correct": False}]) == ["1"]


def test_load_dataset_validates(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(json.dumps(i) for i in ITEMS) + "\n")
    assert [i["id"] for i in load_dataset(good)] == ["1", "2", "3", "4"]  # no split field needed
    assert len(load_dataset(good, limit=2)) == 2
    # a fixed sample: every second question from the first, in file order; the limit applies after it
    assert [i["id"] for i in load_dataset(good, every=2)] == ["1", "3"]
    assert [i["id"] for i in load_dataset(good, every=3, limit=1)] == ["1"]
    with pytest.raises(InputError, match="--every takes 1 or more, not 0"):
        load_dataset(good, every=0)
    with pytest.raises(InputError, match="no questions in split 'test'"):
        load_dataset(good, split="test")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "x", "question": "q"}) + "\n")
    with pytest.raises(InputError, match="line 1: field 'answer' missing"):
        load_dataset(bad)
    bad.write_text("{not json\n")
    with pytest.raises(InputError, match="line 1: not valid JSON"):
        load_dataset(bad)
    with pytest.raises(InputError, match="dataset not found"):
        load_dataset(tmp_path / "missing.jsonl")


@pytest.mark.parametrize("change, message", [
    ({"sources": []}, "line 2: field 'sources' is empty for an answerable question"),
    ({"keywords": []}, "line 2: field 'keywords' is empty for an answerable question"),
    ({"keywords": [["astana"], []]}, "line 2: field 'keywords' must be a list of groups"),
    ({"keywords": ["astana"]}, "line 2: field 'keywords' must be a list of groups"),
    ({"sources": ["b.txt", ""]}, "line 2: field 'sources' must be a list of file names"),
    ({"answerable": False}, "line 2: an unanswerable question has empty 'keywords' and 'sources'"),
])
def test_load_dataset_names_the_line_and_field_of_an_unscorable_reference(tmp_path, change, message):
    """The whole file is checked before the first question: a run never dies at its end (ZeroDivisionError in
    recall_at for an answerable question with no sources) and loses its summary."""
    items = [dict(i) for i in ITEMS]
    items[1].update(change)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(json.dumps(i) for i in items) + "\n")
    with pytest.raises(InputError, match=re.escape(f"bad.jsonl {message}")):
        load_dataset(bad)
