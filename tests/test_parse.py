from pathlib import Path

import pytest

from rag.errors import InputError
from rag.parse import find_files, load_article, names_generator

from conftest import SEEDS


def test_txt_keeps_text_exactly_and_finds_metadata():
    a = load_article(SEEDS / "002_21e0e47377e78efb.txt")
    assert a.text == (SEEDS / "002_21e0e47377e78efb.txt").read_text(encoding="utf-8")
    assert a.source == "002_21e0e47377e78efb.txt"
    assert a.title == "SCO Summit: Xi and Putin Advocate for a United Front Against 'External Forces'"
    assert a.byline == "Sededin Dedovic"
    assert a.outlet == "AFP, CNN"


def test_txt_date_and_title_fallbacks():
    a = load_article(SEEDS / "001_019830dcde441936.txt")
    assert a.date == "4-7-2024"
    b = load_article(SEEDS / "003_81c9518f30d00088.txt")
    assert b.title == "Putin: The Shanghai Cooperation Organization is a Key Pillar of a Multipolar World"


def test_markdown_front_matter(tmp_path):
    p = tmp_path / "note.md"
    p.write_text("---\ntitle: Summit notes\nauthor: Jane Roe\ndate: 2024-07-04\nsource: Daily Planet\n---\n# Heading\n\nBody text here.\n")
    a = load_article(p)
    assert (a.title, a.byline, a.date, a.outlet) == ("Summit notes", "Jane Roe", "2024-07-04", "Daily Planet")
    assert a.text.startswith("# Heading")


def test_html_extracts_article_text_and_meta(tmp_path):
    p = tmp_path / "page.html"
    p.write_text(
        "<html><head><title>T</title><meta property='og:title' content='Leaders meet'>"
        "<meta property='og:site_name' content='The Globe'><meta name='author' content='A. Writer'>"
        "<meta property='article:published_time' content='2024-07-03'></head>"
        "<body><nav>Menu Home</nav><article><h1>Leaders meet</h1><p>Xi met Putin in Astana.</p>"
        "<p>They spoke for an hour.</p></article><script>var x=1;</script></body></html>"
    )
    a = load_article(p)
    assert a.text == "Leaders meet\nXi met Putin in Astana.\nThey spoke for an hour."
    assert (a.title, a.outlet, a.byline, a.date) == ("Leaders meet", "The Globe", "A. Writer", "2024-07-03")


def _tiny_pdf(text: str) -> bytes:
    content = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return out


def test_pdf_text(tmp_path):
    p = tmp_path / "doc.pdf"
    p.write_bytes(_tiny_pdf("Belarus joined the bloc in Astana."))
    a = load_article(p)
    assert "Belarus joined the bloc in Astana." in a.text


def test_pdf_lines_wrapped_by_the_page_are_joined_and_paragraph_ends_and_headings_kept():
    from rag.parse import reflow

    page = ("The recount moved 21 votes in the governor's favour, most of them ballots set\n"
            "aside as unclear. \"He lost the argument about who shows up,\" said Ragna\n"
            "Thorvik, a professor at the university of the province.\n"
            "A province split in two\n"
            "The map of the run-off is almost a caricature of the urban-rural divide in a\n"
            "province with few cities.\n")
    assert reflow(page).split("\n") == [
        "The recount moved 21 votes in the governor's favour, most of them ballots set aside as unclear. "
        "\"He lost the argument about who shows up,\" said Ragna Thorvik, a professor at the university of the province.",
        "A province split in two",
        "The map of the run-off is almost a caricature of the urban-rural divide in a province with few cities.",
    ]


@pytest.mark.parametrize(
    "name,data,message",
    [
        ("empty.txt", b"", "no text found"),
        ("garbled.txt", bytes(range(1, 256)) * 4, r"not UTF-8 \(byte 127\), and no other encoding fits"),
        ("binary.txt", b"\x00\x01\x02garbage\x00", "binary file"),
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "cannot read the PDF"),
        ("sheet.xlsx", b"PK\x03\x04", "unsupported file type .xlsx"),
    ],
)
def test_bad_files_give_clear_errors(tmp_path, name, data, message):
    p = tmp_path / name
    p.write_bytes(data)
    with pytest.raises(InputError, match=message):
        load_article(p)


def test_size_limit(tmp_path):
    p = tmp_path / "big.txt"
    p.write_text("word " * 1000)
    with pytest.raises(InputError, match="over the 0 MB limit"):
        load_article(p, max_bytes=100)


def test_find_files_expands_folders_and_rejects_missing(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.md").write_text("y")
    (tmp_path / "c.json").write_text("{}")
    assert [p.name for p in find_files([tmp_path])] == ["a.txt", "b.md"]
    with pytest.raises(InputError, match="no such file or folder"):
        find_files([tmp_path / "nope"])


TITLES = Path(__file__).parent / "fixtures" / "titles"


def test_html_title_is_the_headline_not_the_generator_name():
    """A title tag naming the software that made the page (its <meta name="generator">) is no headline:
    the page's own headline (its <h1>, which its <title> repeats with the site's name) is the title."""
    a = load_article(TITLES / "generator-title.html")
    assert a.title == "Harbour bridge reopens after two years of repairs"
    assert a.text.startswith("Harbour bridge reopens after two years of repairs\nThe harbour bridge reopened")
    assert "Quillpress" not in a.text


def test_html_title_is_not_a_one_word_heading_the_page_does_not_headline():
    """A one-word title found in a sidebar's heading ("Contact"), which no og:title, <title> or <h1> of the
    page contains, loses to the page's <title>."""
    a = load_article(TITLES / "widget-title.html")
    assert a.title == "Library extends its opening hours for the exam season"
    assert a.text.startswith("Library extends its opening hours for the exam season\nThe central library")
    assert not a.text.startswith("Contact")


def test_html_one_word_title_the_page_headlines_is_kept(tmp_path):
    p = tmp_path / "entry.html"
    p.write_text("<html><head><meta name='generator' content='Hugo 0.25'><title>Micropolitics - Dictionary</title>"
                 "</head><body><article><h1>Micropolitics</h1><p>Micropolitics is the study of politics at the "
                 "level of small groups and of everyday life.</p></article></body></html>")
    assert load_article(p).title == "Micropolitics"


@pytest.mark.parametrize("candidate, generators, expected", [
    ("Quillpress", ["Quillpress Content Engine 5.7"], True),
    ("quillpress", ["Quillpress"], True),
    ("WordPress.com", ["WordPress.com"], True),
    ("Word", ["WordPress 6.4"], False),  # a prefix of the name's word is not the name
    ("Harbour bridge reopens", ["Quillpress 5.7"], False),
    ("Anything", [], False),
])
def test_names_generator(candidate, generators, expected):
    assert names_generator(candidate, generators) is expected
