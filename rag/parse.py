"""Load article files (.txt, .md, .html, .pdf) into ``Article`` values with metadata."""

from __future__ import annotations

import codecs
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from .errors import InputError

SUPPORTED = (".txt", ".md", ".html", ".htm", ".pdf")


@dataclass(frozen=True)
class Article:
    """One article: its file name (the citation source), full text and metadata."""

    source: str
    text: str
    title: str
    content_hash: str
    outlet: str = ""
    byline: str = ""
    date: str = ""
    path: str = ""


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def find_files(paths: Iterable[Path]) -> list[Path]:
    """Expand folders into supported files; reject missing paths and unsupported files."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(p for p in sorted(path.rglob("*")) if p.is_file() and p.suffix.lower() in SUPPORTED)
        elif path.is_file():
            if path.suffix.lower() not in SUPPORTED:
                raise InputError(f"{path}: unsupported file type {path.suffix or '(none)'}; use {', '.join(SUPPORTED)}")
            found.append(path)
        else:
            raise InputError(f"{path}: no such file or folder")
    return found


def load_article(path: Path, max_bytes: int | None = None) -> Article:
    """Parse one file. Raises InputError with the reason when it cannot be used."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise InputError(f"{path.name}: unsupported file type {suffix or '(none)'}; use {', '.join(SUPPORTED)}")
    try:
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise InputError(f"{path.name}: {size / 1e6:.1f} MB is over the {max_bytes / 1e6:.0f} MB limit")
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path.name}: cannot read file ({exc.strerror or exc})") from None
    if suffix == ".pdf":
        text, meta = _parse_pdf(data, path.name)
    else:
        raw = _decode(data, path.name, html=suffix in (".html", ".htm"))
        if suffix in (".html", ".htm"):
            text, meta = _parse_html(raw)
        elif suffix == ".md":
            text, meta = _parse_markdown(raw)
        else:
            text, meta = raw, {}
    if not text.strip():
        raise InputError(f"{path.name}: no text found in the file")
    meta = {**guess_metadata(text), **{k: v for k, v in meta.items() if v}}
    return Article(
        source=path.name,
        text=text,
        title=meta.get("title") or path.stem,
        content_hash=content_hash(text),
        outlet=meta.get("outlet", ""),
        byline=meta.get("byline", ""),
        date=meta.get("date", ""),
        path=str(path),
    )


# ---- decoding ----------------------------------------------------------------------

_BOMS = (  # UTF-32 first: its little-endian mark begins with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# <meta charset=x>, <meta http-equiv="Content-Type" content="text/html; charset=x">, <?xml encoding="x"?>
_DECLARED = re.compile(
    rb"""<meta[^>]*?charset\s*=\s*["']?\s*([\w.:-]+)|<\?xml[^>]*?encoding\s*=\s*["']([\w.:-]+)""", re.IGNORECASE)
# What browsers read a declared label as (the WHATWG Encoding Standard): each is a superset of the label's
# own table, e.g. the curly quotes of a page "in iso-8859-1" are windows-1252 bytes. A page declaring
# UTF-16 in its markup is read as UTF-8 (its markup would not be legible otherwise).
_AS_BROWSERS_READ = {"iso8859-1": "cp1252", "ascii": "cp1252", "gb2312": "gb18030", "gbk": "gb18030",
                     "shift_jis": "cp932", "euc_kr": "cp949", "tis-620": "cp874",
                     "utf-16": "utf-8", "utf-16-le": "utf-8", "utf-16-be": "utf-8", "utf-32": "utf-8",
                     "utf-32-le": "utf-8", "utf-32-be": "utf-8"}
# Legacy encodings still found on the web, roughly the most used first (by W3Techs' counts of sites):
# detection picks among these only, and breaks its ties in this order.
_WEB_ENCODINGS = ("cp1252", "cp1251", "cp932", "euc_jp", "gb18030", "cp949", "cp1250", "big5", "cp1256",
                  "iso8859_2", "cp1254", "cp1253", "cp874", "cp1255", "cp1257", "iso8859_15", "koi8_r",
                  "cp1258", "koi8_u", "iso2022_jp")


def _decode(data: bytes, name: str, html: bool = False) -> str:
    """A file's text: by its byte-order mark, else as UTF-8, else (a web page) in the charset it declares,
    else in the legacy encoding detection finds. Binary files, and bytes no encoding fits, are refused."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(codec)
            except UnicodeDecodeError:
                break
    if b"\x00" in data[:4096]:
        raise InputError(f"{name}: looks like a binary file, not text")
    try:  # before a declared charset: bytes that are valid UTF-8 are UTF-8 whatever the page says
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = exc.start
    declared = _declared_charset(data) if html else None
    if declared:
        try:
            return data.decode(declared)
        except UnicodeDecodeError:
            if declared == "cp1252":  # five bytes windows-1252 leaves undefined; ISO-8859-1 has them all
                return data.decode("latin-1")
    text = _detect(data)
    if text is None:
        raise InputError(f"{name}: not UTF-8 (byte {bad}), and no other encoding fits; re-save it as UTF-8")
    return text


def _declared_charset(data: bytes) -> str | None:
    """The codec for the charset a page declares in its first 8 KB, as a browser reads it; None if none
    or unknown."""
    m = _DECLARED.search(data[:8192])
    if not m:
        return None
    try:
        codec = codecs.lookup((m.group(1) or m.group(2)).decode("ascii")).name
    except LookupError:
        return None
    return _AS_BROWSERS_READ.get(codec, codec)


def _detect(data: bytes) -> str | None:
    """The text in the web encoding whose decoding looks least garbled (charset-normalizer's "chaos").
    Short texts tie: many code pages decode "crème" without garbling it, and charset-normalizer's own
    tie-break, a language guess, reads it as windows-1250 "crčme"; the encoding more used on the web wins."""
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data, cp_isolation=list(_WEB_ENCODINGS)))
    if not matches:
        return None
    least = min(m.chaos for m in matches)

    def rank(match) -> int:
        return min((_WEB_ENCODINGS.index(c) for c in match.could_be_from_charset if c in _WEB_ENCODINGS),
                   default=len(_WEB_ENCODINGS))

    return str(min((m for m in matches if m.chaos == least), key=rank))


# ---- metadata found in plain text -------------------------------------------------

_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_DATE_PATTERNS = [
    re.compile(r"\b\d{4}-\d{2}-\d{2}\b"),
    re.compile(rf"\b(?:{_MONTHS})\s+\d{{1,2}},\s+\d{{4}}\b"),
    re.compile(rf"\b\d{{1,2}}\s+(?:{_MONTHS})\s+\d{{4}}\b"),
    re.compile(r"^\d{1,2}[-/.]\d{1,2}[-/.]\d{4}\b"),
]
_BYLINE = re.compile(r"^\s*by\s+([A-Z][\w.'’-]+(?:\s+[A-Z][\w.'’-]+){0,3})\s*$", re.IGNORECASE)
_SOURCE = re.compile(r"\bSource:\s*([A-Z][\w .,&'’-]{1,60}?)\s*$", re.MULTILINE)


def guess_metadata(text: str) -> dict[str, str]:
    """Title, byline, date and outlet, where the text itself gives them."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    meta: dict[str, str] = {}
    for line in lines[:3]:
        words = line.split()
        if 4 <= len(words) <= 25 and len(line) <= 160 and not line.endswith("."):
            meta["title"] = line
            break
    if "title" not in meta and lines:
        first = re.split(r"(?<=[.!?])\s", lines[0], maxsplit=1)[0]
        words = first.split()
        meta["title"] = " ".join(words[:12]) + ("…" if len(words) > 12 else "")
    for line in lines[:12]:
        m = _BYLINE.match(line)
        if m:
            meta["byline"] = m.group(1)
            break
    head = "\n".join(lines[:5])
    for pattern in _DATE_PATTERNS:
        m = pattern.search(head) if not pattern.pattern.startswith("^") else pattern.match(lines[0] if lines else "")
        if m:
            meta["date"] = m.group(0)
            break
    m = _SOURCE.search("\n".join(lines[-5:]))
    if m:
        meta["outlet"] = m.group(1).strip().rstrip(".,")
    return meta


# ---- formats ------------------------------------------------------------------

def _parse_markdown(raw: str) -> tuple[str, dict]:
    meta: dict[str, str] = {}
    text = raw
    fm = re.match(r"^---\s*\n(.*?)\n---\s*\n", raw, re.DOTALL)
    if fm:
        for line in fm.group(1).splitlines():
            key, _, value = line.partition(":")
            key = key.strip().lower()
            value = value.strip().strip("\"'")
            if key in ("title", "date", "outlet"):
                meta[key] = value
            elif key in ("author", "byline"):
                meta["byline"] = value
            elif key in ("source", "publisher", "site"):
                meta["outlet"] = value
        text = raw[fm.end():]
    heading = re.search(r"^#\s+(.+)$", text, re.MULTILINE)
    if heading and "title" not in meta:
        meta["title"] = heading.group(1).strip()
    return text, meta


# How trafilatura reads a news page: without reader comments, with tables, favouring precision. Measured on
# the hand-written pages of evals/webpages (score.py --modes): F1 0.966 against 0.950 for the default mode
# (which kept a short page's menu) and 0.927 favouring recall; without tables 0.927 (a page laid out in a
# <table> lost its text).
HTML_OPTIONS = {"favor_precision": True, "include_comments": False, "include_tables": True}


def _parse_html(raw: str) -> tuple[str, dict]:
    """A web page's main text, one paragraph a line, headline first, and its title, byline, date and
    outlet, read by trafilatura. Where trafilatura finds no text, the <article> (else <body>) text of the
    reader before it; where that finds none either, all the page's visible text: a page with text is read."""
    import trafilatura
    from trafilatura.settings import set_date_params

    # the date from the page's markup only, never a year in its text ("the coldest April since 1997")
    dates = set_date_params(extensive=False)
    doc = trafilatura.bare_extraction(raw, with_metadata=True, date_extraction_params=dates, **HTML_OPTIONS)
    found = doc.as_dict() if doc is not None else {}
    fallback, tags = soup_html(raw)
    meta = {
        "title": headline(found.get("title") or "", tags) or tags["title"],
        # the page's own author tag as written: trafilatura drops the dots of initials ("A. Writer")
        "byline": tags["byline"] or found.get("author") or "",
        "date": found.get("date") or tags["date"],
        "outlet": found.get("sitename") or tags["outlet"],
    }
    text = _lines(found.get("text") or "")
    if text and meta["title"] and meta["title"] not in text:  # trafilatura left the headline out
        text = f"{meta['title']}\n{text}"
    return text or fallback or _visible_text(raw), meta


def names_generator(candidate: str, generators: Iterable[str]) -> bool:
    """Whether a title candidate is only the name of the software that made the page: the content of a
    <meta name="generator"> tag, or its first words ("Blogware" for "Blogware 5.2 (blogware.example)")."""
    name = " ".join(candidate.split()).casefold()
    if not name:
        return False
    for generator in generators:
        generator = " ".join(generator.split()).casefold()
        if generator == name or (generator.startswith(name) and not generator[len(name)].isalnum()):
            return True
    return False


def headline(title: str, tags: dict) -> str:
    """The page's title as the extractor found it, unless it is not a headline: the name of the software
    that generated the page, or a single word that none of the page's own headlines (og:title, <title>,
    <h1>) contains, such as a widget's or a logo's caption. Empty when rejected: the page's headline is
    used instead."""
    words = title.split()
    if not words or names_generator(title, tags.get("generators", ())):
        return ""
    headlines = tags.get("headlines", [])
    if len(words) == 1 and headlines:
        word = re.compile(rf"(?<!\w){re.escape(words[0])}(?!\w)", re.IGNORECASE)
        if not any(word.search(h) for h in headlines):
            return ""
    return title


def _lines(text: str) -> str:
    """One paragraph a line, without the indentation of the page's source."""
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def _visible_text(raw: str) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(raw, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "head"]):
        tag.decompose()
    return _lines(soup.get_text("\n"))


def soup_html(raw: str) -> tuple[str, dict]:
    """The page's <article> (else <body>) text without nav, header, footer and asides, and its meta tags:
    the reader used before trafilatura, and its fallback."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(raw, "html.parser")

    def meta_content(*names: str) -> str:
        for name in names:
            tag = soup.find("meta", attrs={"property": name}) or soup.find("meta", attrs={"name": name})
            if tag and tag.get("content"):
                return str(tag["content"]).strip()
        return ""

    # the software that made the page, as named by its <meta name="generator"> tags: never a title
    generators = [str(tag["content"]).strip() for tag in soup.find_all("meta", attrs={"name": True, "content": True})
                  if str(tag["name"]).strip().lower() == "generator" and str(tag["content"]).strip()]
    og_title = meta_content("og:title")
    page_title = " ".join(soup.title.get_text(" ", strip=True).split()) if soup.title else ""
    h1s = [" ".join(h1.get_text(" ", strip=True).split()) for h1 in soup.find_all("h1")]
    # the page's own headlines, best first: what a title found elsewhere is checked against. An <h1> that
    # the <title> repeats is the headline without the site's name; another <h1> may be the site's logo.
    in_title = [h for h in h1s if h and h.casefold() in page_title.casefold()]
    headlines = [h for h in dict.fromkeys((og_title, *in_title, page_title, *h1s))
                 if h and not names_generator(h, generators)]
    meta = {
        "title": headlines[0] if headlines else "",
        "outlet": meta_content("og:site_name", "publisher"),
        "byline": meta_content("author", "article:author"),
        "date": meta_content("article:published_time", "date", "pubdate"),
        "generators": generators,
        "headlines": headlines,
    }
    for tag in soup(["script", "style", "nav", "header", "footer", "aside", "noscript", "form"]):
        tag.decompose()
    root = soup.find("article") or soup.body or soup
    blocks = []
    for el in root.find_all(["h1", "h2", "h3", "p", "li", "blockquote"]):
        if el.find(["p", "li"]):
            continue
        chunk = " ".join(el.get_text(" ", strip=True).split())
        if chunk:
            blocks.append(chunk)
    text = "\n".join(blocks) if blocks else " ".join(root.get_text(" ", strip=True).split())
    return text, meta


WRAPPED_LINE = 0.75  # share of a full line's length: a wrapped line fills most of it


def reflow(page: str) -> str:
    """A PDF page's text with its wrapped lines joined: a line about as long as the page's full lines
    goes on in the next one; a shorter one ends its paragraph or is a heading. Without this, a
    sentence (and a name: "said Ragna / Thorvik") is cut wherever the printed line ended."""
    lines = [" ".join(line.split()) for line in page.splitlines()]
    lines = [line for line in lines if line]
    if len(lines) < 3:  # too few lines to tell a full one
        return "\n".join(lines)
    full = sorted(len(line) for line in lines)[int(0.9 * (len(lines) - 1))]  # robust to one odd long line
    out = [lines[0]]
    for prev, line in zip(lines, lines[1:]):
        if len(prev) >= WRAPPED_LINE * full:
            out[-1] += line if prev.endswith("-") else " " + line
        else:
            out.append(line)
    return "\n".join(out)


def _parse_pdf(data: bytes, name: str) -> tuple[str, dict]:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise InputError(f"{name}: the PDF is encrypted; save an unencrypted copy")
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata or {}
    except InputError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, AttributeError, IndexError,
            RecursionError, AssertionError) as exc:  # a damaged PDF can fail in any of pypdf's layers
        raise InputError(f"{name}: cannot read the PDF ({type(exc).__name__}: {str(exc)[:120]})") from None
    text = "\n".join(reflow(p) for p in pages if p.strip())
    meta = {"title": str(info.get("/Title") or ""), "byline": str(info.get("/Author") or "")}
    return text, meta


def iter_articles(paths: Iterable[Path], max_bytes: int | None = None) -> Iterator[Article]:
    for path in find_files(paths):
        yield load_article(path, max_bytes=max_bytes)
