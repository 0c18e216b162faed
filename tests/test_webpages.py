"""Web pages: the main text by trafilatura, without comments, related stories, cookie banners or menus;
their metadata; and the legacy encodings that real saved pages come in, declared or not."""

from pathlib import Path

import pytest

from rag.errors import InputError
from rag.parse import load_article

WEB = Path(__file__).parent / "fixtures" / "web"


def _page(tmp_path: Path, data: bytes, name: str = "page.html") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_comments_and_related_stories_inside_the_article_are_left_out():
    a = load_article(WEB / "comments-and-related.html")
    assert a.text == (
        "Ferry strike halts Orsk crossings for a second day\n"
        "No ferries crossed the Orsk Sound on Wednesday as deckhands walked out for a second day over night-shift pay.\n"
        "The operator, Sundline, said about 4,000 passengers had been turned away since the strike began on Tuesday.\n"
        "\"We have offered a rise of six per cent and we are waiting for an answer,\" said Petra Halme of Sundline.\n"
        "Talks are due to resume at the mediation office in Orsk on Thursday at 10:00."
    )
    assert (a.title, a.byline, a.date, a.outlet) == (
        "Ferry strike halts Orsk crossings for a second day", "Mara Lindqvist", "2026-02-04", "The Harbour Light")


def test_cookie_banner_and_sidebar_are_left_out_of_a_page_without_article():
    a = load_article(WEB / "cookie-banner-no-article.html")
    assert a.text == (
        "Kessel Valley vineyards count frost damage\n"
        "Growers in the Kessel Valley say a late frost on Sunday night destroyed up to a third of the young shoots "
        "in the lower vineyards.\n"
        "Temperatures fell to minus four degrees at the Ambry weather station shortly before dawn, the lowest "
        "reading for late April since 1997.\n"
        "\"The upper terraces are fine, the valley floor is a disaster,\" said Jonas Reval, who farms eleven "
        "hectares near Ambry."
    )
    # the site's name comes off the <title>; no date in the markup, and "since 1997" in the text is not one
    assert (a.title, a.byline, a.date, a.outlet) == ("Kessel Valley vineyards count frost damage", "", "", "")


LEGACY = {  # encoding, how the page declares it, its headline and body
    "windows-1252": ("windows-1252", '<meta charset="windows-1252">',
                     "Le pont de Saint-Aubré rouvre",
                     "« C’est un soulagement pour tout le village », a déclaré la maire, Hélène Courtois."),
    "iso-8859-1": ("iso-8859-1", '<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">',
                   "Neue Fähre für den Bodensee",
                   "In Überlingen ist am Freitag die neue Fähre »Möwe« auf ihren Namen getauft worden."),
    "windows-1250": ("windows-1250", "<meta charset='windows-1250'>",
                     "Nowy most w Łomży otwarty",
                     "Węgierska firma Győri Hídépítő dostarczyła stalowe przęsła mostu, powiedział Paweł Wróblewski."),
    "windows-1252 declared as iso-8859-1": (  # what browsers do: the curly quote is byte 0x92 of windows-1252
        "windows-1252", '<META HTTP-EQUIV="content-type" CONTENT="text/html;charset=ISO-8859-1">',
        "Café owners fight the bus lane",
        "“We’re not against buses – we’re against losing half our tables,” said Zoë Marchetti."),
}


@pytest.mark.parametrize("kind", list(LEGACY))
def test_legacy_encoded_page_is_read_in_the_charset_it_declares(tmp_path, kind):
    encoding, declaration, headline, body = LEGACY[kind]
    html = (f"<html><head>{declaration}<title>{headline}</title></head><body><nav>Menu</nav>"
            f"<article><h1>{headline}</h1><p>{body}</p></article></body></html>")
    a = load_article(_page(tmp_path, html.encode(encoding)))
    assert a.text == f"{headline}\n{body}"
    assert a.title == headline


def test_page_in_windows_1252_that_declares_no_charset_is_detected(tmp_path):
    body = ("Owners of six cafés on Rue Lémont say a proposed bus lane would take away the terraces they’ve "
            "used for twenty years. “We’re not against buses – we’re against losing half our tables of crème "
            "brûlée,” said Zoë Marchetti, who runs Café Amélie à côté de la place.")  # è û à ô: not windows-1250
    html = f"<html><head><title>Café owners fight plan</title></head><body><div><p>{body}</p></div></body></html>"
    a = load_article(_page(tmp_path, html.encode("cp1252")))
    assert a.text == f"Café owners fight plan\n{body}"  # the <title> as headline: the page has no <h1>


def test_utf8_page_that_declares_a_legacy_charset_is_read_as_utf8(tmp_path):
    body = "Zoë’s café on Rue Lémont – the one with the terrace – opens again on Monday, the owner said."
    html = f"<html><head><meta charset='iso-8859-1'></head><body><article><p>{body}</p></article></body></html>"
    assert load_article(_page(tmp_path, html.encode("utf-8"))).text == body


def test_metadata_comes_from_the_page_markup(tmp_path):
    html = ("<html><head><title>Tunnel delayed | Metro Daily</title>"
            "<meta property='og:title' content='Harbour tunnel delayed again as costs rise'>"
            "<meta property='og:site_name' content='Metro Daily'>"
            "<meta property='article:published_time' content='2026-06-09T07:30:00+02:00'>"
            '<script type="application/ld+json">{"@context": "https://schema.org", "@type": "NewsArticle", '
            '"author": {"@type": "Person", "name": "Leon Vasquez"}}</script></head>'
            "<body><article><h1>Harbour tunnel delayed again as costs rise</h1>"
            "<p>The road tunnel under Kestrel Harbour will open two years late, in 2031.</p></article></body></html>")
    a = load_article(_page(tmp_path, html.encode("utf-8")))
    assert (a.title, a.byline, a.date, a.outlet) == (
        "Harbour tunnel delayed again as costs rise", "Leon Vasquez", "2026-06-09", "Metro Daily")


def test_headline_trafilatura_leaves_out_is_put_first(tmp_path):
    html = ("<html><head><title>Neue Fähre getauft</title></head><body><div id='inhalt'><h1>Neue Fähre getauft</h1>"
            "<p>In Überlingen ist am Freitag die neue Fähre auf ihren Namen getauft worden.</p>"
            "<p>Der reguläre Betrieb beginnt Anfang Mai.</p></div></body></html>")
    a = load_article(_page(tmp_path, html.encode("utf-8")))
    assert a.text == ("Neue Fähre getauft\nIn Überlingen ist am Freitag die neue Fähre auf ihren Namen getauft "
                      "worden.\nDer reguläre Betrieb beginnt Anfang Mai.")


@pytest.mark.parametrize("html,text", [
    # trafilatura finds nothing in a comments box; the reader before it takes the page's <body>
    ("<html><body><div class='comments'><p>The office is closed until Monday.</p></div></body></html>",
     "The office is closed until Monday."),
    # nor in a <header>, which the reader before it removes: the page's visible text is kept
    ("<html><body><header><h1>Closed for the holiday</h1></header><script>x=1</script></body></html>",
     "Closed for the holiday"),
])
def test_page_whose_text_trafilatura_cannot_place_still_has_text(tmp_path, html, text):
    assert load_article(_page(tmp_path, html.encode("utf-8"))).text == text


@pytest.mark.parametrize("text,encoding", [
    ("Café crème, naïve résumé", "latin-1"),
    ("Zoë said ’twas fine – really, and the café agreed.", "cp1252"),
    ("Nowy most na Narwi w Łomży został w czwartek otwarty dla samochodów i pieszych.", "cp1250"),
    ("Сегодня в Минске открылся новый мост через реку.", "cp1251"),
    ("Plain text saved as UTF-16, with its byte-order mark: é, ł, ő.", "utf-16"),
])
def test_text_file_in_a_legacy_encoding_is_read(tmp_path, text, encoding):
    a = load_article(_page(tmp_path, text.encode(encoding), "note.txt"))
    assert a.text == text


def test_valid_utf8_text_is_never_decoded_as_anything_else(tmp_path):
    text = "Ã© is what é looks like read in the wrong encoding; this file is UTF-8."
    assert load_article(_page(tmp_path, text.encode("utf-8"), "note.md")).text == text


@pytest.mark.parametrize("name,data,message", [
    ("garbled.html", bytes(range(1, 256)) * 4, "no other encoding fits; re-save it as UTF-8"),
    ("binary.html", b"<html>\x00\x01\x02</html>", "binary file"),
])
def test_pages_no_encoding_fits_are_refused(tmp_path, name, data, message):
    with pytest.raises(InputError, match=message):
        load_article(_page(tmp_path, data, name))
