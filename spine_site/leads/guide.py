"""The free guide: its Markdown source under content/ built into a tagged PDF, once per process
and language.

WeasyPrint lays out templates/guide/guide.html and tags the PDF for screen readers; the
HTML's lang (TAGS) becomes the PDF's /Lang, which screen readers pick a voice by. It needs
Debian's Pango; where Pango is missing, the plainer fpdf2 build serves instead, and one
warning says what to install. The template's words are translated under `force_locale`, so
a CLI build is in the language asked for too. The download names (DOWNLOAD_NAMES) are plain
ASCII, so the Content-Disposition header needs no encoding.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from fpdf import FPDF, TextStyle
from markdown_it import MarkdownIt
from markupsafe import Markup

from spine_site.articles.render import CONTENT_DIR, markdown_parser, split_front_matter
from spine_site.config import clinic_details
from spine_site.web.i18n import DEFAULT, LANGUAGES, PREFIXES, TAGS
from spine_site.web.templating import tel

log = logging.getLogger(__name__)

GUIDE_SOURCES: dict[str, Path] = {
    "en": CONTENT_DIR / "guide.md",
    "es": CONTENT_DIR / "guide.es.md",
}
GUIDE_TEMPLATE = "guide/guide.html"
DOWNLOAD_NAMES: dict[str, str] = {
    "en": "patients-guide-to-non-surgical-spine-care.pdf",
    "es": "guia-para-pacientes-cuidado-de-la-columna-sin-cirugia.pdf",
}
PANGO_PACKAGES = "libpango-1.0-0 libpangoft2-1.0-0"


@dataclass(frozen=True)
class GuideContact:
    """What the guide tells a reader about reaching the clinic (hashable: a cache key)."""

    name: str
    phone: str
    street: str
    city: str
    region: str
    postcode: str
    hours: str
    site_url: str
    # The guide's language: its words, and which pages of the site its links open.
    language: str = DEFAULT

    @classmethod
    def from_config(cls, config: Mapping[str, Any], language: str = DEFAULT) -> GuideContact:
        clinic = clinic_details(config, language)
        return cls(
            name=clinic["name"],
            phone=clinic["phone"],
            street=clinic["street"],
            city=clinic["city"],
            region=clinic["region"],
            postcode=clinic["postcode"],
            hours=clinic["hours_text"],
            site_url=str(config["SITE_URL"]).rstrip("/"),
            language=language if language in LANGUAGES else DEFAULT,
        )

    @property
    def address_lines(self) -> tuple[str, str]:
        return self.street, f"{self.city}, {self.region} {self.postcode}"

    @property
    def tel_url(self) -> str:
        return f"tel:{tel(self.phone)}"

    @property
    def schedule_path(self) -> str:
        # public.schedule, built by hand: the CLI has no request to build URLs from.
        return f"{PREFIXES[self.language]}/schedule"

    @property
    def schedule_url(self) -> str:
        return self.site_url + self.schedule_path

    @property
    def home_url(self) -> str:
        """The site's home page in the guide's language (/ or /es/)."""
        return f"{self.site_url}{PREFIXES[self.language]}/"

    @property
    def lang_tag(self) -> str:
        """The guide's language as `<html lang>` and the PDF's /Lang say it (en-US, es-US)."""
        return TAGS[self.language]

    @property
    def site_label(self) -> str:
        """The site as a reader of the printed page would type it: no scheme."""
        parts = urlsplit(self.site_url)
        return (parts.netloc + parts.path).rstrip("/") or self.site_url

    @property
    def schedule_label(self) -> str:
        return self.site_label + self.schedule_path


def guide_html(source: Path, contact: GuideContact) -> str:
    """The guide as one HTML page for print, from the Markdown source and the template, the
    template's words in the contact's language."""
    meta, body = split_front_matter(source.read_text(encoding="utf-8"), source.name)
    template = current_app.jinja_env.get_template(GUIDE_TEMPLATE)
    with force_locale(contact.language):
        return template.render(
            title=str(meta["title"]).strip(),
            subtitle=str(meta.get("subtitle", "")).strip(),
            edition=str(meta.get("edition", "")).strip(),
            body_html=Markup(markdown_parser().render(body)),
            contact=contact,
        )


def build_pdf(source: Path, contact: GuideContact) -> bytes:
    """Render the guide as tagged PDF/UA-1, or with fpdf2 where WeasyPrint cannot load."""
    weasyprint = _weasyprint()
    if weasyprint is None:
        with force_locale(contact.language):
            return _fpdf_pdf(source, contact)
    # No protocol is allowed: the guide has no images or remote styles, and a reference
    # slipped into a template must not make the server fetch anything.
    fetcher = weasyprint.URLFetcher(allowed_protocols=())
    html = weasyprint.HTML(string=guide_html(source, contact), url_fetcher=fetcher)
    return html.write_pdf(pdf_variant="pdf/ua-1", pdf_tags=True)


def forget_built() -> None:
    """Forget the built guide and whether WeasyPrint loaded: the next request builds again
    (after the fonts or Pango were installed into a running process, and between tests)."""
    _weasyprint.cache_clear()
    _cached.cache_clear()


@functools.cache
def _weasyprint() -> ModuleType | None:
    # Imported on first use, so a machine without Pango still starts the site.
    try:
        import weasyprint
    except OSError as exc:
        log.warning(
            "guide: WeasyPrint cannot load Pango (%s); serving the untagged fpdf2 guide. "
            "For the accessible guide: apt-get install %s",
            exc,
            PANGO_PACKAGES,
        )
        return None
    return weasyprint


@functools.lru_cache(maxsize=2 * len(LANGUAGES))
def _cached(source: Path, mtime_ns: int, contact: GuideContact) -> bytes:
    return build_pdf(source, contact)


def guide_pdf(contact: GuideContact, source: Path | None = None) -> bytes:
    """The guide's bytes for this contact (and so language), built on first use and again
    only when the source file changes."""
    source = source or GUIDE_SOURCES[contact.language]
    return _cached(source, source.stat().st_mtime_ns, contact)


# -- Without Pango: the same guide through fpdf2, untagged

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
        page = _("Page %(page)s of %(pages)s", page=self.page_no(), pages="{nb}")
        self.cell(0, 10, f"{self.clinic_line}    {_latin1(page)}", align="C")


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
        (_("Call %(phone)s", phone=contact.phone), contact.tel_url),
        (contact.site_label, contact.home_url),
        (_("Request an appointment"), contact.schedule_url),
    ):
        pdf.cell(0, 7, _latin1(text), link=url, new_x="LMARGIN", new_y="NEXT")


def _fpdf_pdf(source: Path, contact: GuideContact) -> bytes:
    """Render the guide with fpdf2: a cover page with the clinic's details, then the body
    (called under `force_locale(contact.language)`)."""
    meta, body = split_front_matter(source.read_text(encoding="utf-8"), source.name)
    pdf = _GuidePDF(format="letter", unit="mm")
    pdf.clinic_line = _latin1(f"{contact.name} - {contact.phone} - {contact.site_label}")
    pdf.set_title(_latin1(meta["title"]))
    pdf.set_subject(_latin1(meta.get("subtitle", "")))
    pdf.set_author(_latin1(contact.name))
    pdf.set_creator("spine_site")
    pdf.set_lang(contact.lang_tag)
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
