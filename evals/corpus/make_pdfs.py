#!/usr/bin/env python3
"""Write the corpus's PDF articles from their text sources with ReportLab, a real PDF writer.

Usage (once, after editing a source; the PDFs are committed):
    pip install reportlab==5.1.0
    python evals/corpus/make_pdfs.py

Each ``pdf-src/NAME.txt`` becomes ``articles/NAME.pdf``. In the source, the first line is the title,
the second the author or outlet (PDF metadata and a byline under the title), and the rest are
paragraphs separated by blank lines; a paragraph starting with "## " is a subheading.
"""
from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent


def build(src: Path, out: Path) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import cm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    lines = src.read_text(encoding="utf-8").split("\n")
    title, author = lines[0].strip(), lines[1].strip()
    body = "\n".join(lines[2:]).strip()
    styles = getSampleStyleSheet()
    story = [Paragraph(escape(title), styles["Title"]), Paragraph(escape(author), styles["Italic"]), Spacer(1, 0.4 * cm)]
    for para in body.split("\n\n"):
        para = " ".join(para.split())
        if not para:
            continue
        if para.startswith("## "):
            story.append(Paragraph(escape(para[3:]), styles["Heading2"]))
        else:
            story.append(Paragraph(escape(para), styles["BodyText"]))
    doc = SimpleDocTemplate(str(out), pagesize=A4, title=title, author=author,
                            leftMargin=2.2 * cm, rightMargin=2.2 * cm, topMargin=2 * cm, bottomMargin=2 * cm)
    doc.build(story)


def main() -> None:
    for src in sorted((HERE / "pdf-src").glob("*.txt")):
        out = HERE / "articles" / f"{src.stem}.pdf"
        build(src, out)
        print(f"wrote {out.relative_to(HERE)}")


if __name__ == "__main__":
    main()
