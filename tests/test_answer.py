import pytest

from rag.answer import Answer, Pipeline, Token
from rag.errors import InputError
from rag.verify import Part, answer_type_gap, check_quote, grounding_gap, number_values, parse_reply

from conftest import SEEDS
from fakes import ScriptedGenerator, WordJudge, extractive_reply, sources_in

QUESTION = "Which country became the tenth member of the SCO?"


def _pipeline(indexed, embedder, reply, **kw):
    return Pipeline(store=indexed, embedder=embedder, generator=ScriptedGenerator(reply), **kw)


def _article(source):
    return (SEEDS / source).read_text(encoding="utf-8")


def _cite(word):
    """A reader that answers ``word`` citing the first source that contains the tenth-member sentence."""
    def reply(messages):
        n = next(n for n, t in sources_in(messages).items() if "tenth member" in t)
        return word.format(n=n)
    return reply


def test_short_answer_cited_with_its_sentence_and_highlight(indexed, embedder):
    answer = _pipeline(indexed, embedder, _cite("Belarus [{n}]")).ask(QUESTION)
    assert answer.refused is False and answer.reason == "verified"
    assert answer.text == "Belarus [1]."
    (c,) = answer.citations
    assert c.n == 1 and c.source == "000_be872feae246cb84.txt"
    assert "celebrating Belarus’s accession as the tenth member of the SCO" in c.quote
    assert _article(c.source)[c.start:c.end] == c.quote
    (h,) = c.highlights
    assert _article(c.source)[h[0]:h[1]] == "Belarus’s"
    assert answer.retrieved[0][0] == "000_be872feae246cb84.txt"


def test_the_reader_is_sent_the_answer_grammar(indexed, embedder):
    from rag import prompts

    gen = ScriptedGenerator(_cite("Belarus [{n}]"))
    Pipeline(store=indexed, embedder=embedder, generator=gen).ask(QUESTION)
    assert gen.grammars == [prompts.READ_GRAMMAR]
    assert prompts.READ_SYSTEM == gen.prompts[0][0]["content"]


def test_streams_tokens_then_answer(indexed, embedder):
    events = list(_pipeline(indexed, embedder, extractive_reply).stream(QUESTION))
    assert all(isinstance(e, Token) for e in events[:-1]) and len(events) > 1
    assert isinstance(events[-1], Answer)
    assert "".join(e.text for e in events[:-1]).strip() == events[-1].raw


def test_wrong_marker_is_moved_to_the_sentence_that_states_the_number(indexed, embedder):
    def reply(messages):
        src = sources_in(messages)
        wrong = next(n for n, t in src.items() if "2001" not in t)
        return f"2001 [{wrong}]"

    answer = _pipeline(indexed, embedder, reply).ask("In which year was the SCO founded?")
    assert answer.refused is False
    assert "2001" in answer.citations[0].quote


def test_two_part_answer_cites_each_part(indexed, embedder):
    def reply(messages):
        src = sources_in(messages)
        a = next(n for n, t in src.items() if "tenth member" in t)
        b = next(n for n, t in src.items() if "Iran" in t)
        return f"Belarus [{a}]; Iran [{b}]"

    answer = _pipeline(indexed, embedder, reply).ask(
        "Which country became the tenth member, and which one became a full member last year?")
    assert answer.refused is False and answer.reason == "verified"
    assert answer.text == "Belarus [1]; Iran [2]."
    first, second = answer.citations
    assert "tenth member" in first.quote and "Iran" in second.quote
    assert all(check_quote(_article(c.source), c.quote, c.start, c.end) for c in answer.citations)


def test_an_unsupported_part_is_dropped_and_said_why(indexed, embedder):
    answer = _pipeline(indexed, embedder, _cite("Belarus [{n}]; 45 million dollars [{n}]")).ask(QUESTION)
    assert answer.text == "Belarus [1]."
    assert answer.reason.startswith("verified; dropped “45 million dollars”: not stated in the sources: the number 45")


def test_reader_none_is_a_decline_with_its_reason(indexed, embedder):
    answer = _pipeline(indexed, embedder, "NONE").ask("Who won the 2024 chess olympiad in Budapest?")
    assert answer.refused is True and answer.citations == ()
    assert answer.text == "The articles don't say."
    assert answer.reason == "the reader found no answer in the sources"


def test_an_invented_name_is_declined_never_replaced_by_a_quote(indexed, embedder):
    answer = _pipeline(indexed, embedder, "Mongolia [1]").ask(QUESTION)
    assert answer.refused is True and answer.citations == ()
    assert answer.text == "The articles don't say."
    assert answer.reason == "“Mongolia”: not stated in the sources: “mongolia” is not in the sentence"


def test_a_decline_shows_the_closest_sentences_as_such(indexed, embedder, seeds):
    """Declined, the answer still helps: the one or two sentences that bear most on the question, each
    verbatim in its article, apart from the citations (none) and never counted as an answer."""
    answer = _pipeline(indexed, embedder, "Mongolia [1]").ask(QUESTION)
    assert answer.refused is True and answer.citations == () and answer.text == "The articles don't say."
    assert 1 <= len(answer.closest) <= 2
    articles = {p.name: indexed.article(p.name).text for p in seeds.glob("*.txt")}
    for c in answer.closest:
        assert articles[c.source][c.start:c.end] == c.quote
    if len(answer.closest) == 2:  # two different passages, not one inside the other
        a, b = answer.closest
        assert a.source != b.source or a.end <= b.start or b.end <= a.start
    assert any("tenth member" in c.quote for c in answer.closest)  # the sentence the reader should have used
    d = answer.to_dict()
    assert d["refused"] is True and d["citations"] == [] and [c["quote"] for c in d["closest"]] == \
        [c.quote for c in answer.closest]
    # an answer that stands has no closest list: its citations are the sources
    assert _pipeline(indexed, embedder, extractive_reply).ask(QUESTION).closest == ()
    # an open question declined gets them too
    open_decline = _pipeline(indexed, embedder, "Mongolia joined the bloc in a ceremony on Mars.").ask(
        "Why did the SCO admit a tenth member?")
    assert open_decline.refused and open_decline.closest
    # nothing shares a word with the question: no sentence is offered as close
    assert _pipeline(indexed, embedder, "NONE").ask("Qwxz plorfen vintrabulous?").closest == ()


def test_a_number_must_match_exactly(indexed, embedder):
    answer = _pipeline(indexed, embedder, _cite("the 11th [{n}]")).ask(QUESTION)
    assert answer.refused is True
    assert "the number 11 is not in the sentence" in answer.reason


def test_a_handed_back_sentence_is_not_an_answer(indexed, embedder):
    def reply(messages):
        n, text = next((n, t) for n, t in sources_in(messages).items() if "tenth member" in t)
        return f"{text} [{n}]"

    answer = _pipeline(indexed, embedder, reply).ask(QUESTION)
    assert answer.refused is True
    assert "the answer is the sentence itself" in answer.reason


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


def test_parse_reply_reads_grammar_and_free_text():
    assert parse_reply("Belarus [2]") == [Part("Belarus", 2)]
    assert parse_reply("Helga Brandt [1]; 212 [3]") == [Part("Helga Brandt", 1), Part("212", 3)]
    assert parse_reply("NONE") == [] and parse_reply("The articles don't say.") == [] and parse_reply("") == []
    assert parse_reply("40% [1].") == [Part("40%", 1)]  # a bare number answers
    assert parse_reply("Belarus joined in July.") == [Part("Belarus joined in July", 0)]  # a server's free text
    assert parse_reply("[2] .") == []
    assert parse_reply("sounder [1]; imager [1]; mapper [2]") == [Part("sounder", 1), Part("imager", 1), Part("mapper", 2)]
    assert parse_reply("Putin [1]; putin [3]") == [Part("Putin", 1)]  # one answer, said twice
    assert parse_reply("Dr. Ana Ruiz [1]") == [Part("Dr. Ana Ruiz", 1)]  # a title's period ends no answer
    assert check_quote("abc def", "def", 4, 7) and not check_quote("abc def", "xyz") and not check_quote("abc def", "def", 0, 3)


def test_answer_type_quantity_and_time():
    assert answer_type_gap("How many people attended?", "about 3,000") == ""
    assert answer_type_gap("How much will the repairs cost?", "ACCESS GRANTED") == \
        "the question asks for a number and the answer has none"
    assert answer_type_gap("What percentage voted?", "fifty-eight") == ""
    assert answer_type_gap("When did the bridge fall?", "on Tuesday morning") == ""
    assert answer_type_gap("When did the bridge fall?", "the river") == "the question asks when and the answer gives no time"
    assert answer_type_gap("Who chaired the summit?", "Sefa Orlund") == ""


def test_answer_type_count_is_not_a_share_and_a_date_is_not_a_length_of_time():
    assert answer_type_gap("How many votes did the challenger receive?", "41.2%") == \
        "the question asks how many and the answer is a share"
    assert answer_type_gap("How many percent voted?", "58%") == ""
    assert answer_type_gap("How many of the residents left?", "40 per cent") == ""
    assert answer_type_gap("How many votes did she receive?", "12,400 votes") == ""
    assert answer_type_gap("On what date will the appeal be heard?", "28 days") == \
        "the question asks for a date and the answer is a length of time"
    assert answer_type_gap("On what date will the appeal be heard?", "12 May") == ""
    assert answer_type_gap("What date was the treaty signed?", "14 days after the summit") == ""
    assert answer_type_gap("How long did the count take?", "28 days") == ""


def test_grounding_names_numbers_and_words():
    s = "Putin celebrated Belarus’s accession as the tenth member of the SCO on July 4."
    q = "Which country became the tenth member?"
    assert grounding_gap("Belarus", s, q) == ""
    assert grounding_gap("July 4", s, q) == ""
    assert grounding_gap("July 5", s, q) == "the number 5 is not in the sentence"
    assert grounding_gap("10th", s, "Which place in line did Belarus take?") == ""  # "tenth" in the sentence
    assert grounding_gap("Ukraine", s, q) == "“ukraine” is not in the sentence"
    assert grounding_gap("the tenth member", s, q) == "the answer only restates the question"
    game = "The Sixers beat the Celtics 106-103 on Wednesday night."
    between = "Who won the game between the Sixers and the Celtics?"
    assert grounding_gap("the Sixers", game, between) == ""  # one side of the choice the question offers
    assert grounding_gap("the Sixers and the Celtics", game, between) == "the answer only restates the question"
    assert grounding_gap("the Sixers", game, "How did the Sixers do against the Celtics?") == \
        "the answer only restates the question"  # no choice offered: naming a side answers nothing
    assert grounding_gap("its accession was celebrated", s, q) == ""
    assert grounding_gap("its entry was welcomed warmly", s, q) == "most of the answer's words are not in the sentence"
    assert number_values("1,200 people, the tenth, 3rd and fourteen") == {"1200", "10", "3", "14"}
    dam = "The Brannoch Dam rises 142 metres above the valley floor."
    assert grounding_gap("142 meters", dam, "How tall is the dam?") == ""  # its number holds it; spelling aside
    pad = "The rocket lifted off from Pad 2 at dawn."
    assert grounding_gap("Pad 2", pad, "From which launch pad did the Falcon-9 lift off?") == ""  # 9 names a rocket
    assert grounding_gap("Pad 9", pad, "From which launch pad did the Falcon-9 lift off?") == "the number 9 is not in the sentence"
    assert grounding_gap("142 feet high", dam, "How tall is the dam?") == "most of the answer's words are not in the sentence"


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

def test_judge_rejects_a_grounded_answer_whose_sentence_does_not_answer(indexed, embedder):
    judge = WordJudge("no such word")
    answer = _pipeline(indexed, embedder, _cite("Belarus [{n}]"), judge=judge, min_judge=0.5).ask(QUESTION)
    assert answer.refused is True and answer.citations == ()
    assert judge.calls and all(q == QUESTION for q, _ in judge.calls)
    assert len(judge.calls) <= 2  # the cited sentence, then at most one more that states the answer
    assert "the check model doubts the sentence answers the question (P(Yes) 0.00)" in answer.reason
    assert answer.checks[0].p_yes == 0.0 and answer.timings["checks"] == len(judge.calls)


def test_judge_is_asked_only_about_the_sentence_to_be_cited(indexed, embedder):
    judge = WordJudge("tenth member")
    answer = _pipeline(indexed, embedder, _cite("Belarus [{n}]"), judge=judge, min_judge=0.5).ask(QUESTION)
    assert answer.text == "Belarus [1]." and not answer.refused
    assert len(judge.calls) == 1 and "tenth member" in judge.calls[0][1]
    assert judge.answers == ["Belarus"]  # it checks the sentence with this answer, not the sentence alone


def test_when_the_judge_rejects_the_cited_sentence_another_that_states_the_answer_is_cited(indexed, embedder):
    def reply(messages):
        n = next(n for n, t in sources_in(messages).items() if "Belarus" in t and "tenth member" not in t)
        return f"Belarus [{n}]"

    judge = WordJudge("tenth member")
    answer = _pipeline(indexed, embedder, reply, judge=judge, min_judge=0.5).ask(QUESTION)
    assert not answer.refused and "tenth member" in answer.citations[0].quote
    assert len(judge.calls) == 2


def test_reader_examples_come_first_and_are_answers_the_checks_would_pass():
    """The worked examples precede the question as earlier chat turns; each example answer has the
    grammar's shape and is grounded in the example sources, so they teach nothing verify() would reject."""
    from rag import prompts

    messages = prompts.read_messages("Who chaired the panel?", ["Dr Mira Holt chaired the panel."])
    assert [m["role"] for m in messages] == ["system"] + ["user", "assistant"] * len(prompts.READ_EXAMPLES) + ["user"]
    assert messages[-1]["content"].endswith("Question: Who chaired the panel?\nAnswer:")
    assert "[1] Dr Mira Holt chaired the panel." in messages[-1]["content"]
    shapes = []
    for (question, answer), reply in zip(prompts.READ_EXAMPLES, messages[2:-1:2]):
        assert reply["content"] == answer
        parts = parse_reply(answer)
        shapes.append(len(parts))
        for part in parts:
            assert not grounding_gap(part.text, prompts._EXAMPLE_SOURCES[part.cites - 1], question)
    assert shapes == [1, 2, 0]  # one answer, a two-part answer, a decline


class _AllWordsJudge(WordJudge):
    """Yes only to a text holding every one of its words."""

    def p_yes(self, question: str, sentence: str, answer: str = "") -> float:
        self.calls.append((question, sentence))
        return 1.0 if all(w in sentence.lower() for w in self.words) else 0.0


def _evidence(*sentences: str):
    from rag.evidence import Evidence

    article, out = "", []
    for s in sentences:
        article += s + " "
        out.append(Evidence("a.txt", "", s, len(article) - len(s) - 1, len(article) - 1, 1.0))
    return out, (lambda source: article)


def test_a_two_step_answer_is_judged_with_the_sentence_that_resolves_the_question():
    from rag.verify import bridge, verify

    evidence, article = _evidence(
        "“We did not get the orbit we ordered,” said mission director Halla Brun.",
        "Brun, 52, has led the programme since 2019.",
        "The weather over the pad was clear.")
    question = "How old is the mission director who said “We did not get the orbit we ordered”?"
    assert bridge(question, "52", evidence, 2) == 1 and bridge(question, "52", evidence, 1) == 0
    judge = _AllWordsJudge("52", "orbit we ordered")  # only both sentences together answer it
    v = verify(question, "52 [2]", evidence, judge=judge, min_judge=0.5, article=article)
    assert not v.refused and v.text == "52 [1][2]." and v.citations[0].quote.startswith("Brun, 52")
    assert v.citations[1].quote == evidence[0].text  # the sentence the check needed is shown too
    assert [evidence[0].text[a - evidence[0].start:b - evidence[0].start] for a, b in v.citations[1].highlights] == ["Brun"]
    assert judge.calls[0][1] == evidence[1].text  # the cited sentence alone first
    assert judge.calls[1][1] == f"{evidence[0].text} {evidence[1].text}"  # then with the one it needs
    assert (v.checks[0].sentence, v.checks[0].bridge) == (2, 1)  # what --json shows under "checks"

    # A sentence sharing one stray word with the question is no bridge: the answer stays declined.
    evidence, article = _evidence("Brun, 52, has led the programme since 2019.", "The director spoke briefly.")
    v = verify(question, "52 [1]", evidence, judge=_AllWordsJudge("52", "orbit we ordered"), min_judge=0.5,
               article=article)
    assert v.refused and bridge(question, "52", evidence, 1) == 0
