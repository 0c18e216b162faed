"""Open questions: the shape decision, the open answer's sentence-by-sentence checks, its metrics."""

import json
import re
from pathlib import Path

import pytest

from rag import prompts
from rag.answer import Answer, Pipeline, Sentence, Token
from rag.evidence import Evidence, lead_evidence
from rag.metrics import (answer_sentences, open_summary, point_recall, sentence_supported, shape_misroutes,
                         summarize)
from rag.shape import FACT, OPEN, OVERVIEW, shape_of
from rag.verify import DOUBT, OpenVerifier, claim_gap, split_sentences, verify

from fakes import ScriptedGenerator, WordJudge, sources_in

ROOT = Path(__file__).resolve().parents[1]


# ---- shape ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("question", [
    "Who won the election?", "How many people were evacuated?", "When did the bridge open?",
    "Which country became the tenth member?", "How old is the director?", "How much did the deal cost?",
    "What did the minister call the report?", "How did the engineer rate the bridge in 2019?",
    "Where did the marchers gather?", "What is the name of the river?",
])
def test_fact_questions_keep_the_short_answer_shape(question):
    assert shape_of(question) == FACT


@pytest.mark.parametrize("question", [
    "What happened at the summit?", "Summarize what the minister said.", "Why did the bridge collapse?",
    "How did England perform in the final?", "Describe the rescue.", "Compare the two offers.",
    "What topics did the declaration cover?", "List the conditions of the deal.",
    "Explain the ruling.", "What were the main reasons for the recount?", "Can you summarise the final?",
    "What do the articles say about the floods?", "What did the union say about the plan?",
])
def test_open_questions_get_prose(question):
    assert shape_of(question) == OPEN


@pytest.mark.parametrize("question", [
    "What are these articles about?", "What is this article about?", "Summarize the articles.",
    "Give me an overview of the news.", "Summarize the Evening Post article.",
])
def test_questions_about_the_articles_themselves_are_overviews(question):
    assert shape_of(question) == OVERVIEW


def _misroutes(*names):
    wrong_fact = wrong_open = facts = opens = 0
    for name in names:
        for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            is_open = item["category"] in ("summary", "why", "describe", "list", "compare", "overview")
            routed_open = shape_of(item["question"]) != FACT
            facts += not is_open
            opens += is_open
            wrong_fact += routed_open and not is_open
            wrong_open += is_open and not routed_open
    return facts, opens, wrong_fact, wrong_open


def test_routing_on_the_eval_sets_errs_rarely():
    """Every question of the eval sets, routed by its words only: how many take the other shape."""
    facts, opens, wrong_fact, wrong_open = _misroutes("evals/corpus/questions.jsonl", "evals/seeds_qa.jsonl")
    assert facts > 400 and opens > 90
    assert wrong_fact <= 7  # measured: 7 of 410 (why-questions with a one-phrase answer, "How do X see Y?")
    assert wrong_open <= 1  # measured: 1 of 92
    # real pages, questions written apart from the rules: list questions ("What options do tenants have?",
    # "What benefits will members get?") take the open path
    facts, opens, wrong_fact, wrong_open = _misroutes("evals/realpages/questions.jsonl")
    assert facts > 180 and opens > 90
    assert wrong_fact <= 1  # measured: 1 of 193 ("What materials are the platters made of?")
    assert wrong_open <= 15  # measured: 15 of 96 (32 before list questions were read as such)


# ---- sentences and their checks ------------------------------------------------------------------

def test_split_sentences_keeps_markers_and_abbreviations_with_their_sentence():
    reply = "The bridge fell at 5 p.m. on Monday [1]. Dr. Pym said it was 40 years old. [2][3]\n- A list item here."
    assert split_sentences(reply) == ["The bridge fell at 5 p.m. on Monday [1].",
                                      "Dr. Pym said it was 40 years old. [2][3]", "A list item here."]
    assert split_sentences("NONE") == [] and split_sentences("The articles don't say.") == []


def _ev(text, source="a.txt", start=0):
    return Evidence(source=source, title="", text=text, start=start, end=start + len(text), score=1.0)


EVIDENCE = [
    _ev("The Merrow Bridge collapsed into the Vessa at 5.40 p.m. on Tuesday, killing three people."),
    _ev("Engineers had rated the bridge poor in 2019, the council said.", start=200),
    _ev("Mayor Ida Brun ordered an inquiry led by Hester Calloway.", start=400),
]


def test_claim_gap_wants_every_number_and_name_in_the_cited_text():
    assert claim_gap("The bridge collapsed on Tuesday, killing three people.", EVIDENCE[0].text) == ""
    assert "4" in claim_gap("The bridge collapsed, killing 4 people.", EVIDENCE[0].text)
    assert "calloway" in claim_gap("The bridge was inspected by Calloway in 2019.", EVIDENCE[1].text)


def test_open_verifier_keeps_stated_sentences_drops_the_rest_and_says_so():
    article = {"a.txt": ""}
    judge = WordJudge("collapsed", "inquiry")
    checker = OpenVerifier("What happened to the Merrow Bridge?", EVIDENCE, judge, 0.5,
                           article=lambda s: _text_with(EVIDENCE))
    assert checker.check("The bridge collapsed on Tuesday, killing three people [3].").ok  # wrong hint: attributed anyway
    assert not checker.check("It collapsed because of a flood in 1998.").ok  # 1998 is in no source
    assert checker.check("Mayor Ida Brun ordered an inquiry.").ok
    v = checker.verdict()
    assert not v.refused and v.text == ("The bridge collapsed on Tuesday, killing three people [1]. "
                                        "Mayor Ida Brun ordered an inquiry [2].")
    assert [c.quote for c in v.citations] == [EVIDENCE[0].text, EVIDENCE[2].text]
    assert "1 sentence" in v.note and "1998" in v.reason
    assert article  # the articles were read through the callback


def _text_with(evidence):
    text = [" "] * 600
    for e in evidence:
        text[e.start:e.end] = e.text
    return "".join(text)


def test_open_verifier_needs_the_check_models_yes():
    checker = OpenVerifier("What happened?", EVIDENCE, WordJudge("nothing"), 0.5, article=lambda s: _text_with(EVIDENCE))
    assert not checker.check("The bridge collapsed on Tuesday, killing three people.").ok
    v = checker.verdict()
    assert v.refused and v.text == "The articles don't say." and "check model" in v.reason


def test_open_claim_stated_by_two_sentences_together_cites_both():
    v = verify("What happened?", "The bridge collapsed on Tuesday after engineers rated it poor in 2019.", EVIDENCE,
               WordJudge("bridge"), 0.5, article=lambda s: _text_with(EVIDENCE), shape=OPEN)
    assert not v.refused and v.text.endswith("[1][2].") and len(v.citations) == 2


def test_an_open_quote_no_longer_in_its_article_is_not_shown():
    v = verify("What happened?", "The bridge collapsed on Tuesday, killing three people.", EVIDENCE,
               WordJudge("bridge"), 0.5, article=lambda s: "", shape=OPEN)
    assert v.refused and "no longer in its article" in v.reason


def test_lead_evidence_takes_each_articles_first_sentences():
    class Art:
        def __init__(self, source, text):
            self.source, self.title, self.text = source, "", text

    arts = [Art("a.txt", "Short.\nThe first real sentence of article a is here. The second sentence of article a is "
                         "here too. The third sentence of article a is left out."),
            Art("b.txt", "Article b begins with this long sentence about things. And it goes on at some length here, as articles do.")]
    ev = lead_evidence(arts, k=8, per_article=2)
    assert [(e.source, e.text[:20]) for e in ev] == [("a.txt", "The first real sente"), ("a.txt", "The second sentence "),
                                                     ("b.txt", "Article b begins wit"), ("b.txt", "And it goes on at so")]
    assert all(arts[0 if e.source == "a.txt" else 1].text[e.start:e.end] == e.text for e in ev)


# ---- the pipeline ----------------------------------------------------------------------------------

def _open_reply(messages):
    """A reader that writes two sentences from the source about Belarus and one invented one."""
    src = sources_in(messages)
    n = next((n for n, t in src.items() if "tenth member" in t), None)
    if n is None:
        return "The leaders met. Nothing else happened."
    return ("Putin celebrated the accession of Belarus as the tenth member of the SCO. "
            "The summit was held in Paris in 1990.")


def test_open_question_streams_checked_sentences_then_the_answer(indexed, embedder):
    gen = ScriptedGenerator(_open_reply)
    pipe = Pipeline(store=indexed, embedder=embedder, generator=gen, judge=WordJudge("belarus"))
    events = list(pipe.stream("Why was the SCO summit important for Belarus?"))
    assert gen.grammars == [prompts.OPEN_GRAMMAR] and gen.prompts[0][0]["content"] == prompts.OPEN_SYSTEM
    kinds = [type(e) for e in events]
    # checked while the reader writes: the first sentence stands before the reply's last token
    assert kinds.index(Sentence) < max(i for i, k in enumerate(kinds) if k is Token)
    answer = events[-1]
    assert isinstance(answer, Answer) and answer.shape == OPEN and not answer.refused
    (sentence,) = [e for e in events if isinstance(e, Sentence)]
    assert answer.text == sentence.text and re.search(r"\[1\]\.$", answer.text)
    assert "Paris" not in answer.text and "left out" in answer.note
    assert "timings" in answer.to_dict() and answer.timings["first_sentence_s"] <= answer.timings["total_s"]
    assert answer.to_dict()["shape"] == "open" and answer.to_dict()["note"] == answer.note


def test_open_answer_with_nothing_checkable_declines(indexed, embedder):
    pipe = Pipeline(store=indexed, embedder=embedder, generator=ScriptedGenerator(
        "The summit was held in Paris in 1990. Its host was Napoleon Bonaparte."), judge=WordJudge("summit"))
    answer = pipe.ask("Why was the summit held?")
    assert answer.refused and answer.text == prompts.REFUSAL and answer.note == ""


def test_overview_reads_the_articles_leading_sentences(indexed, embedder):
    gen = ScriptedGenerator("The leaders met in Astana.")
    Pipeline(store=indexed, embedder=embedder, generator=gen).ask("Give an overview of the summit coverage")
    sources = sources_in(gen.prompts[0])
    arts = {a.source: a.text for a in indexed.articles(with_text=True)}
    titles = {a.title for a in indexed.articles()}
    leads = [next((t[len(title) + 3:] for title in titles if t.startswith(f"({title}) ")), t) for t in sources.values()]
    assert len(leads) == 8
    assert all(any(" ".join(text.split()[:12]) in " ".join(arts[s].split()) for s in arts) for text in leads), leads


# ---- metrics ---------------------------------------------------------------------------------------

def test_point_recall_counts_the_reference_points_stated():
    item = {"keywords": [["storm"], ["evacuat"], ["2,400", "2400"]], "answerable": True, "category": "why"}
    assert point_recall(item, {"answer": "A storm forced 2,400 people out [1].", "refused": False}) == pytest.approx(2 / 3)
    assert point_recall(item, {"answer": "The articles don't say.", "refused": True}) == 0.0


def test_sentence_support_wants_a_citation_and_its_names_and_numbers_in_the_quote():
    cites = [{"n": 1, "source": "a.txt", "quote": "About 40 homes flooded in Esker’s east, engineers said."}]
    assert sentence_supported("Engineers said 40 homes flooded in Esker [1].", cites)
    assert not sentence_supported("Engineers said 41 homes flooded in Esker [1].", cites)
    assert not sentence_supported("Engineers said homes flooded in Tamsel [1].", cites)
    assert not sentence_supported("Engineers said 40 homes flooded.", cites)  # cites nothing
    assert not sentence_supported("Engineers said 40 homes flooded [2].", cites)  # no such citation
    # the question's own names and figures are given, when the cited article holds them
    q, article = "How many homes flooded in Esker in May 2024?", "Esker, May 2024. " + cites[0]["quote"]
    assert not sentence_supported("In May 2024, 40 homes flooded in Esker [1].", cites)
    assert sentence_supported("In May 2024, 40 homes flooded in Esker [1].", cites, q, {cites[0]["source"]: article})
    assert not sentence_supported("In May 2024, 40 homes flooded in Esker [1].", cites, q,
                                  {cites[0]["source"]: cites[0]["quote"]})  # the article does not say May 2024
    assert answer_sentences("One [1]. Two point 5.5 m [2]. Three") == ["One [1].", "Two point 5.5 m [2].", "Three"]


def test_open_questions_change_no_fact_figure_and_have_their_own():
    fact = {"id": "f", "question": "Who?", "answer": "Ann", "keywords": [["ann"]], "sources": ["a.txt"],
            "answerable": True, "category": "single_fact"}
    opens = [{"id": "o1", "question": "Why?", "answer": "x", "keywords": [["storm"], ["rain"]], "sources": ["a.txt"],
              "answerable": True, "category": "why"},
             {"id": "o2", "question": "Why not?", "answer": "", "keywords": [], "sources": [], "answerable": False,
              "category": "why"}]
    fr = {"answer": "Ann [1].", "refused": False, "citations": [{"source": "a.txt", "quote": "Ann came."}],
          "retrieved": [{"source": "a.txt", "score": 1.0}], "latency_s": 1.0, "shape": "fact"}
    o1 = {"answer": "A storm came [1]. Rain fell on Tuesday [2].", "refused": False, "latency_s": 4.0, "shape": "open",
          "citations": [{"source": "a.txt", "quote": "A storm came."}, {"source": "a.txt", "quote": "Rain fell."}],
          "retrieved": [], "timings": {"first_sentence_s": 3.0}}
    o2 = {"answer": "It rained [1].", "refused": False, "latency_s": 2.0, "shape": "fact",
          "citations": [{"source": "a.txt", "quote": "It rained."}], "retrieved": []}
    alone = summarize([fact], [fr], {"a.txt": "Ann came."})
    both = summarize([fact] + opens, [fr, o1, o2], {"a.txt": "Ann came."})
    for key, value in alone.items():
        if key not in ("shape_misroutes",):
            assert both[key] == value, key
    assert both["point_recall"] == 1.0 and both["sentence_support"] == pytest.approx(2 / 3)  # Tuesday is not quoted
    assert both["open_near_miss_declined"] == 0.0 and both["open_questions"] == 2
    assert both["open_near_miss_declined_or_flagged"] == 0.0 and both["open_answerable_flagged"] == 0.0
    flagged = summarize([fact] + opens, [fr, o1, {**o2, "answers_question": False}], {"a.txt": "Ann came."})
    assert flagged["open_near_miss_declined_or_flagged"] == 1.0 and flagged["open_near_miss_declined"] == 0.0
    assert both["first_sentence_p50_s"] == 2.0 and both["shape_misroutes"] == 1  # o2 was answered as a fact
    assert open_summary([fact], [fr]) == {} and shape_misroutes([fact], [{"answer": "", "refused": True}]) == 0


# ---- everywhere: rag ask, rag eval and its report ---------------------------------------------------

def test_rag_ask_and_eval_answer_an_open_question(tmp_path, seeds, monkeypatch, capsys):
    from rag import build, cli
    from fakes import HashEmbedder

    monkeypatch.setenv("RAG_SEEDS_DIR", str(seeds))
    monkeypatch.setattr(build, "make_embedder", lambda cfg: HashEmbedder())
    monkeypatch.setattr(build, "make_generator", lambda cfg: ScriptedGenerator(_open_reply))
    class Judge(WordJudge):
        def load_in_background(self):  # the CLI loads the check model while the index is read
            import threading
            thread = threading.Thread(target=self.load)
            thread.start()
            return thread

    monkeypatch.setattr(build, "make_judge", lambda cfg, generator=None: Judge("belarus"))
    question = "Why was the SCO summit important for Belarus?"
    assert cli.main(["ask", "--json", question]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["shape"] == "open" and not out["refused"] and out["answer"].endswith("[1].")
    assert "left out" in out["note"] and [c["ok"] for c in out["checks"]] == [True, False]
    assert cli.main(["ask", question]) == 0
    assert "(Note: 1 sentence of the reader's answer was left out" in capsys.readouterr().out

    data = tmp_path / "set.jsonl"
    rows = [{"id": "f1", "question": "Which country became the tenth member of the SCO?", "answer": "Belarus",
             "keywords": [["belarus"]], "sources": ["000_be872feae246cb84.txt"], "answerable": True, "category": "single_fact"},
            {"id": "o1", "question": question, "answer": "Belarus joined as the tenth member.",
             "keywords": [["belarus"], ["tenth"]], "sources": ["000_be872feae246cb84.txt"], "answerable": True,
             "category": "why"}]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out_dir = tmp_path / "run"
    assert cli.main(["eval", "--quiet", "--dataset", str(data), "--category", "open", "--out", str(out_dir),
                     "--fail-under", "point_recall=1.0", "--fail-under", "sentence_support=1.0"]) == 0
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["open_questions"] == 1 and summary["questions"] == 0 and summary["point_recall"] == 1.0
    (line,) = [json.loads(x) for x in (out_dir / "results.jsonl").read_text().splitlines()]
    assert line["answers_question"] in (True, False)  # what the flag of open near misses is counted from
    assert "## Open questions" in (out_dir / "report.md").read_text() and "open-metrics" in (out_dir / "report.html").read_text()
    assert cli.main(["eval", "--quiet", "--dataset", str(data), "--category", "compare", "--out", str(out_dir)]) == 2
    assert "no questions of the categories" in capsys.readouterr().err


def test_a_near_miss_answered_with_true_sentences_shows_them_and_drops_the_one_stating_its_premise():
    """"Why did the council resign?" (it did not): true sentences about the bridge are shown, each as soon as
    it is checked, with no answer-level veto; the sentence that states the false premise is not stated by
    any quote and is dropped, even by a check model that says Yes to everything."""
    class Judge(WordJudge):
        def supports(self, sources, claim):
            return 1.0

    reply = ("Engineers had rated the bridge poor in 2019. The council resigned because the bridge collapsed on Tuesday. "
             "Mayor Ida Brun ordered an inquiry led by Hester Calloway.")
    steps = list(verify_steps_for(reply, Judge("nothing")))
    assert [type(s).__name__ for s in steps] == ["Accepted", "Accepted", "Verdict"]
    verdict = steps[-1]
    assert not verdict.refused and "resigned" not in verdict.text and verdict.text.count("[") == 2
    assert "council resigned" in verdict.reason and "left out" in verdict.note
    # nothing shown was judged to answer the question: the answer says so, and throws nothing away
    assert verdict.answers is False and verdict.note.startswith(DOUBT)
    answered = list(verify_steps_for(reply, Judge("inquiry")))[-1]
    assert answered.answers is True and DOUBT not in answered.note and answered.text == verdict.text


def test_a_cause_the_quotes_do_not_give_is_dropped():
    """"X because Y" where the quotes state X and Y but give no cause: the link is the reader's own."""
    assert "cause" in claim_gap("Mayor Ida Brun ordered an inquiry because engineers rated the bridge poor.",
                                f"{EVIDENCE[1].text} {EVIDENCE[2].text}")
    assert claim_gap("Mayor Ida Brun ordered an inquiry led by Hester Calloway.", EVIDENCE[2].text) == ""
    assert claim_gap("The bridge collapsed because of the flood.",
                     "The bridge collapsed after a flood, the council said.") == ""  # "after": a cause is given


def test_the_question_and_the_title_are_context_checked_against_the_article():
    """A figure or name of the question (or the article's title) that the cited sentence lacks does not sink
    a claim when the article holds it; one that the article lacks still does."""
    text = "Merrow Bridge report. Filed 12 November 2023. The Merrow Bridge collapsed on Tuesday, killing three people."
    ev = [Evidence("a.txt", "Merrow Bridge report", text[50:], 50, len(text), 1.0)]
    claim = "In November 2023 the Merrow Bridge collapsed on Tuesday, killing three people."
    assert "2023" in claim_gap(claim, ev[0].text)  # the one cited sentence lacks the year
    checker = OpenVerifier("What happened to the bridge in November 2023?", ev, None, article=lambda s: text)
    assert checker.check(claim).ok
    checker = OpenVerifier("What happened to the bridge in November 2024?", ev, None, article=lambda s: text)
    assert not checker.check(claim.replace("2023", "2024")).ok
    checker = OpenVerifier("What happened to the bridge?", ev, None, article=lambda s: text)
    assert not checker.check(claim).ok  # not the question's: the sentence must state it
    assert claim_gap("Caldera-1's second stage failed at launch.", "The second stage failed at the launch of Caldera-1.") == ""


def verify_steps_for(reply, judge):
    from rag.verify import verify_steps

    return verify_steps("Why did the council resign?", reply, EVIDENCE, judge, 0.5,
                        article=lambda s: _text_with(EVIDENCE), shape=OPEN)


def test_an_open_answer_does_not_start_with_a_word_leaning_on_a_dropped_sentence():
    v = verify("What happened?", "It collapsed in 1998 in a flood. However, the bridge collapsed on Tuesday, killing three people.",
               EVIDENCE, WordJudge("bridge"), 0.5, article=lambda s: _text_with(EVIDENCE), shape=OPEN)
    assert v.text == "The bridge collapsed on Tuesday, killing three people [1]."


def test_a_sentence_ending_in_a_quote_keeps_its_closing_mark_before_the_markers():
    ev = [_ev('Mayor Ida Brun said the inquiry would be "quick and open."')]
    v = verify("What did the mayor say about the inquiry?", 'Mayor Ida Brun promised an inquiry that is "quick and open."',
               ev, WordJudge("inquiry"), 0.5, article=lambda s: _text_with(ev), shape=OPEN)
    assert v.text == 'Mayor Ida Brun promised an inquiry that is "quick and open" [1].'


def test_a_sentence_the_reader_wrote_twice_is_shown_once():
    reply = "Mayor Ida Brun ordered an inquiry led by Hester Calloway. Mayor Ida Brun ordered an inquiry led by Hester Calloway."
    verdict = list(verify_steps_for(reply, WordJudge("inquiry")))[-1]
    assert verdict.text.count("Calloway") == 1 and verdict.note == ""
