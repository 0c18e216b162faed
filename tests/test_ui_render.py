import json

from conftest import SEEDS
from rag.answer import Answer, Citation
from rag.parse import find_files
from rag.store import StoredArticle
from ui.app import check_upload, safe_name
from ui.render import answer_spans, paragraph_around, render_answer, render_source

TEXT = "Title line\nFirst sentence here. Belarus joined as the tenth member. Last one.\nNext paragraph."
QUOTE = "Belarus joined as the tenth member."
START = TEXT.index(QUOTE)
ART = StoredArticle(source="a.txt", title="Title line", content_hash="h", n_chunks=1, text=TEXT,
                    outlet="The Times", date="2024-07-04")


def _answer(**kw):
    base = dict(question="Who joined?", text="Belarus joined [1].", refused=False,
                citations=(Citation(1, "a.txt", QUOTE, START, START + len(QUOTE), "Title line"),),
                retrieved=(("a.txt", 0.5),))
    return Answer(**{**base, **kw})


def test_paragraph_around_stops_at_the_paragraph():
    assert paragraph_around(TEXT, START, START + len(QUOTE)) == ("First sentence here. ", QUOTE, " Last one.")


def test_render_answer_links_markers_to_sources_with_the_quote_marked():
    html = render_answer(_answer(), {"a.txt": ART}.get, "u1")
    assert "Belarus joined <a class='cite to-u1-1' href='#'>[1]</a>." in html
    assert "<details class='source src-u1-1' open>" in html
    assert f"First sentence here. <mark>{QUOTE}</mark> Last one." in html
    assert "The Times · 2024-07-04" in html and "Next paragraph" not in html


def test_render_declined_answer_lists_what_was_searched_and_escapes_html():
    html = render_answer(_answer(text="The articles don't say.", refused=True, citations=(),
                                 question="<script>"), {"a.txt": ART}.get, "u2")
    assert "<div class='answer declined shape-fact turn-new'>The articles don't say.</div>" in html
    assert "<div class='searched'>Searched: Title line</div>" in html


def test_a_decline_shows_its_closest_sentences_apart_and_a_follow_up_never_reads_them_as_sources():
    from ui.render import turn_from_message

    near = Citation(1, "a.txt", QUOTE, START, START + len(QUOTE), "Title line")
    declined = _answer(text="The articles don't say.", refused=True, citations=(), closest=(near,))
    html = render_answer(declined, {"a.txt": ART}.get, "u5")
    assert "<div class='closest'><div class='closest-label'>Closest passages found, not an answer:</div>" in html
    assert f"<blockquote>{QUOTE}</blockquote>" in html and "class='cite" not in html  # no marker points at it
    turn = turn_from_message("Who joined?", html)
    assert turn.refused and turn.sources == ()  # the closest file is not the answer's source
    assert "class='closest'" not in render_answer(_answer(), {"a.txt": ART}.get, "u6")

    from rag.cli import format_answer

    text = format_answer(declined)
    assert text.startswith("The articles don't say.")
    assert f"Closest passages found (not an answer):\n- a.txt — Title line\n    “{QUOTE}”" in text
    assert "Sources:" not in text


def test_render_shows_the_rewritten_question_and_scores_on_request():
    html = render_answer(_answer(), {"a.txt": ART}.get, "u3", show_scores=True, searched_for="Did <b>X</b> join?")
    assert "Searched for: “Did &lt;b&gt;X&lt;/b&gt; join?”" in html
    assert "Retrieved: Title line (0.500)" in html


def test_upload_names_cannot_leave_the_uploads_folder(tmp_path):
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("/abs/path/a.txt") == "a.txt"
    assert safe_name("..\\..\\win.txt") == "win.txt"
    assert safe_name("..").startswith("upload-")
    (tmp_path / "x.pdf").write_bytes(b"%PDF-1.4")
    assert check_upload(tmp_path / "x.pdf", 1.0) is None


def _at(word: str, text: str = TEXT) -> tuple[int, int]:
    i = text.index(word)
    return i, i + len(word)


def test_answer_words_are_bold_inside_the_mark_merged_and_clipped_to_the_quote():
    # unsorted, overlapping ("tenth" inside "tenth member"), and one span outside the quote ("First")
    spans = (_at("tenth member"), _at("First"), _at("Belarus"), _at("tenth"))
    c = Citation(1, "a.txt", QUOTE, START, START + len(QUOTE), "Title line", highlights=spans)
    assert render_source("u4", c, ART) == (
        "<details class='source src-u4-1'><summary><span class='num'>[1]</span> <strong>Title line</strong> "
        "<span class='meta'>The Times · 2024-07-04</span> <span class='file'>a.txt</span></summary><blockquote>"
        "First sentence here. <mark><strong class='ans'>Belarus</strong> joined as the "
        "<strong class='ans'>tenth member</strong>.</mark> Last one.</blockquote></details>")


def test_answer_words_are_escaped():
    text = "Q&A: <Belarus> joined, said A & B."
    quote = "<Belarus> joined, said A & B."
    art = StoredArticle(source="b.txt", title="", content_hash="h", n_chunks=1, text=text)
    start = text.index(quote)
    c = Citation(2, "b.txt", quote, start, start + len(quote),
                 highlights=(_at("<Belarus>", text), _at("A & B", text)))
    assert ("<blockquote>Q&amp;A: <mark><strong class='ans'>&lt;Belarus&gt;</strong> joined, said "
            "<strong class='ans'>A &amp; B</strong>.</mark></blockquote>") in render_source("u5", c, art)


def test_answer_words_in_a_quote_whose_article_is_gone_count_from_the_citation_start():
    c = Citation(3, "gone.txt", "Belarus joined as the tenth member.", 100, 135, highlights=((122, 127), (90, 95)))
    assert render_source("u6", c, None).endswith(
        "<blockquote><mark>Belarus joined as the <strong class='ans'>tenth</strong> member.</mark>"
        "</blockquote></details>")


def test_answer_spans_sorts_merges_clips_and_drops_spans_outside():
    assert answer_spans([(15, 20), (10, 12), (11, 14), (0, 5), (18, 30), (14, 14)], 10, 25) == [(0, 4), (5, 15)]
    assert answer_spans([], 10, 25) == []


