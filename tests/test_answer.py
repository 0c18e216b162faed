import pytest

from rag.answer import Answer, Pipeline, Token
from rag.errors import InputError
from rag.verify import check_quote, split_claims, support

from conftest import SEEDS
from fakes import ScriptedGenerator, WordJudge, extractive_reply, sources_in

QUESTION = "Which country became the tenth member of the SCO?"


def _pipeline(indexed, embedder, reply, **kw):
    return Pipeline(store=indexed, embedder=embedder, generator=ScriptedGenerator(reply), **kw)


def _article(source):
    return (SEEDS / source).read_text(encoding="utf-8")


def test_cited_answer_with_verbatim_quote(indexed, embedder):
    def reply(messages):
        src = sources_in(messages)
        n = next(n for n, t in src.items() if "tenth member" in t)
        return f"Belarus became the tenth member of the SCO [{n}]."

    answer = _pipeline(indexed, embedder, reply).ask(QUESTION)
    assert answer.refused is False
    assert answer.text == "Belarus became the tenth member of the SCO [1]."
    (c,) = answer.citations
    assert c.n == 1 and c.source == "000_be872feae246cb84.txt"
    assert "celebrating Belarus’s accession as the tenth member of the SCO" in c.quote
    assert _article(c.source)[c.start:c.end] == c.quote
    assert answer.retrieved[0][0] == "000_be872feae246cb84.txt"


def test_streams_tokens_then_answer(indexed, embedder):
    events = list(_pipeline(indexed, embedder, extractive_reply).stream(QUESTION))
    assert all(isinstance(e, Token) for e in events[:-1]) and len(events) > 3
    assert isinstance(events[-1], Answer)
    assert "".join(e.text for e in events[:-1]).strip() == events[-1].raw


def test_wrong_marker_is_reassigned_to_the_supporting_source(indexed, embedder):
    def reply(messages):
        src = sources_in(messages)
        wrong = next(n for n, t in src.items() if "tenth member" not in t)
        return f"Belarus became the tenth member of the SCO [{wrong}]."

    answer = _pipeline(indexed, embedder, reply).ask(QUESTION)
    assert "tenth member" in answer.citations[0].quote


def test_unsupported_claim_is_dropped(indexed, embedder):
    def reply(messages):
        n = next(n for n, t in sources_in(messages).items() if "tenth member" in t)
        return (f"Belarus became the tenth member of the SCO [{n}]. "
                f"The summit cost 45 million dollars and featured fireworks [{n}].")

    answer = _pipeline(indexed, embedder, reply).ask(QUESTION)
    assert answer.text == "Belarus became the tenth member of the SCO [1]."
    assert len(answer.citations) == 1


def test_model_refusal_is_marked(indexed, embedder):
    answer = _pipeline(indexed, embedder, "The articles don't say.").ask("Who won the 2024 chess olympiad in Budapest?")
    assert answer.refused is True and answer.citations == ()
    assert answer.text == "The articles don't say."


def test_refusal_tacked_onto_an_answer_is_dropped_not_obeyed(indexed, embedder):
    def reply(messages):
        n = next(n for n, t in sources_in(messages).items() if "tenth member" in t)
        return f"Belarus became the tenth member of the SCO [{n}]. The articles don't say."

    answer = _pipeline(indexed, embedder, reply).ask(QUESTION)
    assert answer.refused is False
    assert answer.text == "Belarus became the tenth member of the SCO [1]."


def test_weak_evidence_declines_without_calling_the_model(indexed, embedder):
    gen = ScriptedGenerator("Made up [1].")
    p = Pipeline(store=indexed, embedder=embedder, generator=gen)
    answer = p.ask("zebra quantum violin lasagna")
    assert answer.refused is True and gen.prompts == []


def test_hallucinated_answer_falls_back_to_the_best_sentence_quoted(indexed, embedder):
    answer = _pipeline(indexed, embedder, "Mongolia joined in 1999 [1].").ask(QUESTION)
    assert answer.refused is False and "Mongolia" not in answer.text
    assert answer.text.startswith("“") and answer.text.endswith("” [1].")
    (c,) = answer.citations
    assert "tenth member of the SCO" in c.quote and check_quote(_article(c.source), c.quote, c.start, c.end)


def test_hallucinated_answer_is_declined_when_no_sentence_states_the_question(indexed, embedder):
    # every evidence sentence is about the SCO, none about its secretariat's budget: quoting one would mislead
    answer = _pipeline(indexed, embedder, "The SCO secretariat's budget is $1.5 billion [1].").ask(
        "What is the SCO secretariat's budget?")
    assert answer.refused is True and answer.text == "The articles don't say." and answer.citations == ()


@pytest.mark.parametrize("q", ["", "   \n\t "])
def test_empty_question(indexed, embedder, q):
    with pytest.raises(InputError, match="the question is empty"):
        _pipeline(indexed, embedder, "x").ask(q)


def test_too_long_question(indexed, embedder):
    with pytest.raises(InputError, match="too long"):
        _pipeline(indexed, embedder, "x").ask("why " * 1000)


def test_to_dict_has_the_eval_fields(indexed, embedder):
    d = _pipeline(indexed, embedder, extractive_reply).ask(QUESTION).to_dict()
    for key in ("answer", "refused", "citations", "retrieved", "latency_s"):
        assert key in d
    assert set(d["citations"][0]) >= {"source", "quote"}
    assert set(d["retrieved"][0]) == {"source", "score"}


def test_split_claims_and_support():
    claims = split_claims("Belarus joined [2]. It was the tenth [1, 3]. [4]")
    assert [(c.text, c.cites) for c in claims] == [("Belarus joined.", (2,)), ("It was the tenth.", (1, 3))]
    assert [(c.text, c.cites) for c in split_claims("40% [1]")] == [("40%", (1,))]  # a bare number answers
    assert split_claims("[2] .") == []
    ev = "Putin celebrated Belarus’s accession as the tenth member of the SCO."
    assert support("Belarus became the tenth member.", ev) == 1.0
    assert support("Belarus became the 11th member.", ev) < 0.6
    assert support("Belarus joined in 2019.", ev) == 0.0  # a number the evidence lacks
    assert check_quote("abc def", "def", 4, 7) and not check_quote("abc def", "xyz") and not check_quote("abc def", "def", 0, 3)


def test_asking_again_embeds_nothing_new(indexed, embedder):
    p = _pipeline(indexed, embedder, extractive_reply)
    first = p.ask(QUESTION)
    calls = embedder.texts_embedded
    again = p.ask(QUESTION)
    assert embedder.texts_embedded == calls  # question and evidence sentences all come from the cache
    assert (again.text, again.citations) == (first.text, first.citations)


def test_cached_embedder_gives_the_inner_vectors_and_stays_bounded(embedder):
    import numpy as np

    from rag.embed import CachedEmbedder

    cached = CachedEmbedder(embedder, size=3)
    texts = ["alpha beta", "gamma", "alpha beta", "delta epsilon"]
    assert np.array_equal(cached.embed(texts), embedder.embed(texts))
    assert embedder.calls[0] == 3  # duplicates embedded once
    cached.embed(["zeta"])
    assert len(cached._cache) == 3 and "gamma" not in cached._cache  # least recently used goes first


# -- the check model (judge) ----------------------------------------------------------------

def test_judge_rejects_a_supported_claim_whose_sentence_does_not_answer(indexed, embedder):
    # word overlap alone keeps this claim (see test_cited_answer_with_verbatim_quote); the judge reads no "tenth"
    def reply(messages):
        n = next(n for n, t in sources_in(messages).items() if "tenth member" in t)
        return f"Belarus became the tenth member of the SCO [{n}]."

    judge = WordJudge("no such word")
    answer = _pipeline(indexed, embedder, reply, judge=judge).ask(QUESTION)
    assert answer.refused is True and answer.citations == ()
    assert judge.calls and all(q == QUESTION for q, _ in judge.calls)
    assert len(judge.calls) <= 2  # the claim's sentence, then at most the one quoted instead


def test_judge_overrules_the_small_models_refusal_when_the_sentence_answers(indexed, embedder):
    # the 0.5B model often says "The articles don't say." with the answer in front of it; without a judge
    # that refusal stands, with one the best sentence is read and quoted if it answers
    question = "Whose entry as tenth did the Russian leader celebrate?"
    reply = "The articles don't say."
    assert _pipeline(indexed, embedder, reply).ask(question).refused is True
    judge = WordJudge("tenth member")
    answer = _pipeline(indexed, embedder, reply, judge=judge).ask(question)
    assert answer.refused is False and "tenth member" in answer.citations[0].quote
    assert answer.text.startswith("“")  # the sentence itself, quoted
    declined = _pipeline(indexed, embedder, reply, judge=WordJudge("no such word")).ask(question)
    assert declined.refused is True and declined.citations == ()


def test_judge_is_asked_only_about_the_sentence_to_be_cited(indexed, embedder):
    judge = WordJudge("tenth member")

    def reply(messages):
        n = next(n for n, t in sources_in(messages).items() if "tenth member" in t)
        return f"Belarus [{n}]."

    answer = _pipeline(indexed, embedder, reply, judge=judge).ask(QUESTION)
    assert answer.text == "Belarus [1]." and not answer.refused
    assert len(judge.calls) == 1 and "tenth member" in judge.calls[0][1]


def test_with_a_judge_the_quote_is_the_sentence_the_model_copied(indexed, embedder):
    # the model copies a sentence after the marker but the claim repeats the question's words only partly;
    # the sentence it came from is quoted, not merely the best-scored one
    def reply(messages):
        n, text = next((n, t) for n, t in sources_in(messages).items() if "Iran" in t and "tenth" not in t)
        return f"[{n}] {text}"

    judge = WordJudge("iran")
    answer = _pipeline(indexed, embedder, reply, judge=judge).ask("Which country joined the SCO the year before?")
    assert not answer.refused and "Iran" in answer.citations[0].quote
