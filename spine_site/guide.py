"""The free guide: its Markdown source under content/ built into a PDF, once per process."""

from __future__ import annotations

import functools
from pathlib import Path

from fpdf import FPDF, TextStyle
from markdown_it import MarkdownIt

from .articles import CONTENT_DIR, split_front_matter

GUIDE_SOURCE = CONTENT_DIR / "guide.md"
DOWNLOAD_NAME = "patients-guide-to-non-surgical-spine-care.pdf"
# The PDF core fonts cover Latin-1 only; typographic marks an editor types are mapped to it.
_TO_LATIN1 = str.maketrans(
    {
        "\u2014": "-",
        "\u2013": "-",
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2026": "...",
        "\u2022": "-",
    }
)


class _GuidePDF(FPDF):
    clinic_line = ""

    def footer(self) -> None:
        if self.page_no() == 1:
            return
        self.set_y(-15)
        self.set_font("Helvetica", size=9)
        self.set_text_color(90, 90, 90)
        self.cell(0, 10, f"{self.clinic_line}    Page {self.page_no()} of {{nb}}", align="C")


def build_pdf(source: Path, clinic_name: str, clinic_phone: str) -> bytes:
    """Render the guide: a cover page, then the body; the title goes in the PDF metadata."""
    meta, body = split_front_matter(source.read_text(encoding="utf-8"), source.name)
    title = str(meta["title"]).translate(_TO_LATIN1)
    subtitle = str(meta.get("subtitle", "")).translate(_TO_LATIN1)
    edition = str(meta.get("edition", "")).translate(_TO_LATIN1)

    pdf = _GuidePDF(format="letter", unit="mm")
    pdf.clinic_line = f"{clinic_name} - {clinic_phone}".translate(_TO_LATIN1)
    pdf.set_title(title)
    pdf.set_subject("Non-surgical spine care: preparing for a visit, questions, care pathway")
    pdf.set_author(clinic_name)
    pdf.set_creator("spine_site")
    pdf.set_lang("en-US")
    pdf.set_margins(22, 22, 22)
    pdf.set_auto_page_break(auto=True, margin=22)

    pdf.add_page()
    pdf.set_y(80)
    pdf.set_font("Helvetica", "B", 26)
    pdf.set_text_color(18, 74, 110)
    pdf.multi_cell(0, 12, title, align="L")
    pdf.ln(4)
    pdf.set_font("Helvetica", size=14)
    pdf.set_text_color(40, 40, 40)
    pdf.multi_cell(0, 8, subtitle)
    pdf.ln(20)
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(0, 6, f"{clinic_name}\n{clinic_phone}\n{edition}".translate(_TO_LATIN1))

    html = MarkdownIt("commonmark").render(body).translate(_TO_LATIN1)
    pdf.add_page()
    pdf.set_text_color(20, 20, 20)
    pdf.write_html(
        html,
        font_family="Helvetica",
        tag_styles={
            "h2": TextStyle(font_style="B", font_size_pt=17, color=(18, 74, 110)),
            "h3": TextStyle(font_style="B", font_size_pt=13, color=(18, 74, 110)),
        },
        li_prefix_color=(18, 74, 110),
    )
    return bytes(pdf.output())


@functools.lru_cache(maxsize=4)
def _cached(source: Path, mtime_ns: int, clinic_name: str, clinic_phone: str) -> bytes:
    return build_pdf(source, clinic_name, clinic_phone)


def guide_pdf(clinic_name: str, clinic_phone: str, source: Path = GUIDE_SOURCE) -> bytes:
    """The guide's bytes, built on first use and again only when the source file changes."""
    return _cached(source, source.stat().st_mtime_ns, clinic_name, clinic_phone)
