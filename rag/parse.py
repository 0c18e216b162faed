"""Load article files (.txt, .md, .html, .pdf) into ``Article`` values with metadata."""

from __future__ import annotations

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
        raw = _decode(data, path.name)
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


def _decode(data: bytes, name: str) -> str:
    if b"\x00" in data[:4096]:
        raise InputError(f"{name}: looks like a binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not valid UTF-8 text (byte {exc.start}); re-save it as UTF-8") from None


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


def _parse_html(raw: str) -> tuple[str, dict]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(raw, "html.parser")

    def meta_content(*names: str) -> str:
        for name in names:
            tag = soup.find("meta", attrs={"property": name}) or soup.find("meta", attrs={"name": name})
            if tag and tag.get("content"):
                return str(tag["content"]).strip()
        return ""

    meta = {
        "title": meta_content("og:title") or (soup.title.get_text(strip=True) if soup.title else ""),
        "outlet": meta_content("og:site_name", "publisher"),
        "byline": meta_content("author", "article:author"),
        "date": meta_content("article:published_time", "date", "pubdate"),
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
    if not meta["title"]:
        h1 = soup.find("h1")
        meta["title"] = h1.get_text(strip=True) if h1 else ""
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
