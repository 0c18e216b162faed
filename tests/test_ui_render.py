from rag.answer import Answer, Citation
from rag.store import StoredArticle
from ui.app import check_upload, safe_name
from ui.render import paragraph_around, render_answer

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
    assert "<div class='answer declined'>The articles don't say.</div>" in html
    assert "<div class='searched'>Searched: Title line</div>" in html


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
