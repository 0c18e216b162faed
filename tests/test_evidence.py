from rag.chunk import Chunk
from rag.evidence import Evidence, candidate_spans, select_evidence
from rag.retrieve import Hit

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


def test_a_label_and_an_open_quote_run_on_into_the_sentence_that_completes_them():
    text = ('Media contact:\nRuth Bell, Director of Communications\n'
            '"Exit polls don\'t govern provinces. Ballots do," said Rufus Kell, the campaign director. Rain fell all night.')
    texts = [t for _, _, _, t in candidate_spans([_hit(text)])]
    assert "Media contact:\nRuth Bell, Director of Communications" in texts
    assert '"Exit polls don\'t govern provinces. Ballots do," said Rufus Kell, the campaign director.' in texts
    assert "Rain fell all night." in texts


QUOTES = (
    'Belarus borders the EU, "which changes the mission," said Eva Zeibert, an expert in Berlin.\n\n'
    "A photo caption.\n\n"
    '"Unlike Iran, Belarus brings little.\n\n'
    'Therefore, I argue that it is a geopolitical move." Trade grew fast.\n\n'
    'The bloc also met in June. "It creates new questions," he said.'
)


def _span(article, sentence, score=0.5):
    a = article.index(sentence)
    return Evidence(source="a.txt", title="", text=sentence, start=a, end=a + len(sentence), score=score)


def test_a_quote_that_does_not_name_its_speaker_is_widened_back_to_the_sentence_that_does():
    from rag.evidence import with_speaker

    e = with_speaker(_span(QUOTES, 'Therefore, I argue that it is a geopolitical move."'), QUOTES)
    assert e.text.startswith("Belarus borders the EU") and e.text.endswith('geopolitical move."')
    assert QUOTES[e.start:e.end] == e.text and "Eva Zeibert" in e.text  # still one exact slice


def test_a_named_quote_an_unquoted_sentence_and_a_speaker_too_far_back_stay_as_they_are():
    from rag import evidence as ev

    for sentence in ["Trade grew fast.", 'Belarus borders the EU, "which changes the mission," said Eva Zeibert, an expert in Berlin.']:
        e = _span(QUOTES, sentence)
        assert ev.with_speaker(e, QUOTES) is e
    he_said = _span(QUOTES, '"It creates new questions," he said.')
    assert ev.with_speaker(he_said, QUOTES) is he_said  # no named speaker within reach: left alone
    far = "x" * ev.MAX_SPEAKER_SPAN + ". " + QUOTES
    assert ev.with_speaker(_span(far, 'Therefore, I argue that it is a geopolitical move."'), far).text.startswith("Belarus")
    longer = QUOTES.replace("A photo caption.", "A caption. " * 80)  # the speaker is now too far back
    e = _span(longer, 'Therefore, I argue that it is a geopolitical move."')
    assert ev.with_speaker(e, longer) is e


def test_with_speakers_drops_spans_inside_a_widened_quote_and_keeps_k():
    from rag.evidence import with_speakers

    quote = _span(QUOTES, 'Therefore, I argue that it is a geopolitical move."', 0.9)
    named = _span(QUOTES, 'Belarus borders the EU, "which changes the mission," said Eva Zeibert, an expert in Berlin.', 0.8)
    other = _span(QUOTES, "Trade grew fast.", 0.7)
    june = _span(QUOTES, "The bloc also met in June.", 0.6)
    out = with_speakers([quote, named, other, june], {"a.txt": QUOTES}.get, k=2)
    assert [e.score for e in out] == [0.9, 0.7]  # the named sentence is inside the widened quote
    assert "Eva Zeibert" in out[0].text and out[0].text.endswith('move."')


def test_a_speaker_named_before_an_apposition_counts_as_named():
    from rag.evidence import with_speaker

    article = ('Dr. Ana Ruiz, a climate scientist at the institute, said the bigger problem was money. '
               'A second probe is due in 2029. "Gaps are poison for the records," she said.')
    e = with_speaker(_span(article, '"Gaps are poison for the records," she said.'), article)
    assert e.text.startswith("Dr. Ana Ruiz") and article[e.start:e.end] == e.text


def test_a_sentence_holding_the_questions_quoted_words_ranks_first(embedder):
    from rag.evidence import quoted_phrases

    assert quoted_phrases('Who called it "a scare story"? Who said \'no\'?') == ["a scare story", "no"]
    assert quoted_phrases("Why is the minister's plan late?") == []  # an apostrophe is not a quote
    text = ("The mission team met on Monday to review the launch of the satellite and the orbit. "
            "Outside, one engineer smiled. \u201cIt\u2019s bittersweet,\u201d said Lena Park, who built the sounder.")
    question = 'Which engineer called the satellite launch "bittersweet"?'
    ev = select_evidence(question, [_hit(text)], embedder, k=3, idf=lambda t: 1.0)
    assert "bittersweet" in ev[0].text


def test_the_kind_of_answer_asked_for_is_read_from_the_question():
    from rag.text import asked_kinds

    assert asked_kinds("How many votes did she win?") == {"number", "count"}
    assert asked_kinds("How many of the seats did they keep?") == {"number"}
    assert asked_kinds("What share of the vote did she win?") == {"number", "share"}
    assert asked_kinds("On what date did he concede?") == {"time", "date"}
    assert asked_kinds("When did the bridge fall?") == {"time"}
    assert asked_kinds("Who chaired the summit?") == frozenset()


def test_a_sentence_without_the_kind_of_answer_asked_for_is_marked_down(embedder):
    from rag.evidence import kinds_lacking
    from rag.text import asked_kinds, question_numbers

    question = "What share of the run-off vote did the governor win?"
    kinds, given = asked_kinds(question), question_numbers(question)
    assert kinds_lacking(kinds, "The governor won the run-off vote after a long count.", given) == 2
    assert kinds_lacking(kinds, "She took 50.6% of the vote.", given) == 0
    assert kinds_lacking(kinds, "She won by 4,218 votes.", given) == 1  # a number, not a share
    when = "When was the 2019 report written?"
    when_kinds, when_given = asked_kinds(when), question_numbers(when)
    assert kinds_lacking(when_kinds, "The 2019 report rated the bridge as poor.", when_given) == 1  # the question's own year
    assert kinds_lacking(when_kinds, "The report was written in May.", when_given) == 0
    assert kinds_lacking(asked_kinds("Who won?"), "Nobody knows.", set()) == 0
    # the sentence with the figure outranks one that shares more of the question's words but holds none
    text = ("The governor spoke about the vote on the night of the run-off. "
            "Final figures gave the governor 50.6% in the run-off.")
    ev = select_evidence(question, [_hit(text)], embedder, k=2, idf=lambda t: 1.0)
    assert "50.6%" in ev[0].text


def test_open_passages_leave_out_chunks_scored_far_under_the_best():
    """A chunk only one of the two searches ranked (half the fused score) is not read: fewer words before
    the answer. Chunks near the best are read whole, best article first."""
    from rag.evidence import passage_evidence

    def hit(source, text, score):
        return Hit(Chunk(id=f"{source}#0", source=source, text=text, start=0, end=len(text), index=0), score)

    hits = [hit("a.txt", "The dam broke on Monday night.", 0.032), hit("b.txt", "Crews worked through the night.", 0.030),
            hit("c.txt", "A bakery opened on Main Street.", 0.016)]
    assert [e.source for e in passage_evidence(hits)] == ["a.txt", "b.txt"]
    assert [e.source for e in passage_evidence(hits, min_share=0.0)] == ["a.txt", "b.txt", "c.txt"]
