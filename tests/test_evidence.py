from rag.chunk import Chunk
from rag.evidence import Evidence, candidate_spans, select_evidence
from rag.retrieve import Hit
from rag.verify import Claim, best_support, question_coverage

ARTICLE = "Intro line here. Leaders met in Astana. It also called for a ceasefire in Gaza. Trade grew fast."


def _hit(text=ARTICLE, offset=10):
    return Hit(Chunk(id="a.txt#0", source="a.txt", text=text, start=offset, end=offset + len(text), index=0), 1.0)


def test_a_sentence_starting_with_a_pronoun_keeps_the_one_before_and_both_stay_candidates():
    spans = candidate_spans([_hit()])
    texts = [t for _, _, _, t in spans]
    assert "Leaders met in Astana." in texts
    assert "Leaders met in Astana. It also called for a ceasefire in Gaza." in texts
    for _, a, b, t in spans:  # offsets are article offsets
        assert (" " * 10 + ARTICLE)[a:b] == t


def test_rare_question_words_rank_the_answer_sentence_first(embedder):
    idf = {"ceasefire": 3.0, "call": 0.5, "summit": 0.2}.get
    ev = select_evidence("Where did the summit call for a ceasefire?", [_hit()], embedder, k=2,
                         idf=lambda t: idf(t) or 1.0)
    assert "ceasefire in Gaza" in ev[0].text


def _ev(text):
    return Evidence(source="a.txt", title="", text=text, start=0, end=len(text), score=0.5)


def test_a_true_sentence_about_something_else_does_not_answer_the_question():
    question = "Which country became the tenth member of the SCO?"
    evidence = [_ev("Putin celebrated Belarus’s accession as the tenth member of the SCO."),
                _ev("Iran, under Western sanctions, became a full member of the SCO last year.")]
    n, score = best_support(Claim("Iran", (2,)), evidence, question)
    assert n == 2 and score < 0.9  # "Iran" is in sentence 2, but sentence 2 lacks "tenth"
    assert best_support(Claim("Belarus", (1,)), evidence, question) == (1, 1.0)


def test_question_coverage_weighs_rare_words():
    idf = {"budget": 4.0, "annual": 3.0, "sco": 0.3}.get
    weigh = lambda t: idf(t) or 1.0  # noqa: E731
    assert question_coverage("What is the SCO's annual budget?", "Founded in 2001, the SCO grew.", weigh) < 0.1
    assert question_coverage("Which country hosts the SCO?", "Kazakhstan hosts the SCO.", weigh) == 1.0
