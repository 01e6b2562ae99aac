"""The guide built with fpdf2, for a machine without Pango (WeasyPrint cannot load there).

Untagged and plainer than the WeasyPrint build, but the same text, the clinic's contact
details and working links: a fresh clone with only Python installed still serves a guide.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fpdf import FPDF, TextStyle
from markdown_it import MarkdownIt

from .articles import split_front_matter

if TYPE_CHECKING:
    from .guide import GuideContact

# The PDF core fonts cover Latin-1 only; typographic marks in the source are mapped to it.
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
        "\u00b7": "-",
    }
)
_BLUE = (18, 74, 110)


class _GuidePDF(FPDF):
    clinic_line = ""

    def footer(self) -> None:
        if self.page_no() == 1:
            return
        self.set_y(-15)
        self.set_font("Helvetica", size=9)
        self.set_text_color(90, 90, 90)
        self.cell(0, 10, f"{self.clinic_line}    Page {self.page_no()} of {{nb}}", align="C")


def _latin1(text: object) -> str:
    return str(text).translate(_TO_LATIN1).encode("latin-1", "replace").decode("latin-1")


def _cover(pdf: _GuidePDF, meta: dict, contact: GuideContact) -> None:
    pdf.add_page()
    pdf.set_y(70)
    pdf.set_font("Helvetica", "B", 26)
    pdf.set_text_color(*_BLUE)
    pdf.multi_cell(0, 12, _latin1(meta["title"]), align="L")
    pdf.ln(4)
    pdf.set_font("Helvetica", size=14)
    pdf.set_text_color(40, 40, 40)
    pdf.multi_cell(0, 8, _latin1(meta.get("subtitle", "")))
    pdf.ln(16)
    pdf.set_font("Helvetica", size=11)
    lines = [contact.name, *contact.address_lines, contact.hours, str(meta.get("edition", ""))]
    pdf.multi_cell(0, 6, _latin1("\n".join(lines)))
    pdf.ln(2)
    pdf.set_text_color(*_BLUE)
    for text, url in (
        (f"Call {contact.phone}", contact.tel_url),
        (contact.site_label, contact.site_url),
        ("Request an appointment", contact.schedule_url),
    ):
        pdf.cell(0, 7, _latin1(text), link=url, new_x="LMARGIN", new_y="NEXT")


def build_pdf(source: Path, contact: GuideContact) -> bytes:
    """Render the guide: a cover page with the clinic's details, then the body."""
    meta, body = split_front_matter(source.read_text(encoding="utf-8"), source.name)
    pdf = _GuidePDF(format="letter", unit="mm")
    pdf.clinic_line = _latin1(f"{contact.name} - {contact.phone} - {contact.site_label}")
    pdf.set_title(_latin1(meta["title"]))
    pdf.set_subject(_latin1(meta.get("subtitle", "")))
    pdf.set_author(_latin1(contact.name))
    pdf.set_creator("spine_site")
    pdf.set_lang("en-US")
    pdf.set_margins(22, 22, 22)
    pdf.set_auto_page_break(auto=True, margin=22)
    _cover(pdf, meta, contact)

    html = _latin1(MarkdownIt("commonmark").render(body))
    pdf.add_page()
    pdf.set_text_color(20, 20, 20)
    pdf.write_html(
        html,
        font_family="Helvetica",
        tag_styles={
            "h2": TextStyle(font_style="B", font_size_pt=17, color=_BLUE, t_margin=8, b_margin=0),
            "h3": TextStyle(font_style="B", font_size_pt=13, color=_BLUE, t_margin=5, b_margin=0),
        },
        li_prefix_color=_BLUE,
    )
    return bytes(pdf.output())
