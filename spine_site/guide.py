"""The free guide: its Markdown source under content/ built into a tagged PDF, once per process.

WeasyPrint lays out templates/guide/guide.html (print stylesheet beside it) and tags the PDF
for screen readers. It needs Debian's Pango; where Pango is missing, the plainer fpdf2 build
in guide_fallback.py serves instead, and one warning says what to install.
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
from markupsafe import Markup

from . import guide_fallback
from .articles import CONTENT_DIR, markdown_parser, split_front_matter
from .config import clinic_details
from .templating import tel

log = logging.getLogger(__name__)

GUIDE_SOURCE = CONTENT_DIR / "guide.md"
GUIDE_TEMPLATE = "guide/guide.html"
DOWNLOAD_NAME = "patients-guide-to-non-surgical-spine-care.pdf"
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

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> GuideContact:
        clinic = clinic_details(config)
        return cls(
            name=clinic["name"],
            phone=clinic["phone"],
            street=clinic["street"],
            city=clinic["city"],
            region=clinic["region"],
            postcode=clinic["postcode"],
            hours=clinic["hours_text"],
            site_url=str(config["SITE_URL"]).rstrip("/"),
        )

    @property
    def address_lines(self) -> tuple[str, str]:
        return self.street, f"{self.city}, {self.region} {self.postcode}"

    @property
    def tel_url(self) -> str:
        return f"tel:{tel(self.phone)}"

    @property
    def schedule_url(self) -> str:
        # public.schedule; built by hand because the CLI has no request to build URLs from.
        return f"{self.site_url}/schedule"

    @property
    def site_label(self) -> str:
        """The site as a reader of the printed page would type it: no scheme."""
        parts = urlsplit(self.site_url)
        return (parts.netloc + parts.path).rstrip("/") or self.site_url

    @property
    def schedule_label(self) -> str:
        return f"{self.site_label}/schedule"


def guide_html(source: Path, contact: GuideContact) -> str:
    """The guide as one HTML page for print, from the Markdown source and the template."""
    meta, body = split_front_matter(source.read_text(encoding="utf-8"), source.name)
    template = current_app.jinja_env.get_template(GUIDE_TEMPLATE)
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
        return guide_fallback.build_pdf(source, contact)
    # No protocol is allowed: the guide has no images or remote styles, and a reference
    # slipped into a template must not make the server fetch anything.
    fetcher = weasyprint.URLFetcher(allowed_protocols=())
    html = weasyprint.HTML(string=guide_html(source, contact), url_fetcher=fetcher)
    return html.write_pdf(pdf_variant="pdf/ua-1", pdf_tags=True)


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


@functools.lru_cache(maxsize=4)
def _cached(source: Path, mtime_ns: int, contact: GuideContact) -> bytes:
    return build_pdf(source, contact)


def guide_pdf(contact: GuideContact, source: Path = GUIDE_SOURCE) -> bytes:
    """The guide's bytes, built on first use and again only when the source file changes."""
    return _cached(source, source.stat().st_mtime_ns, contact)
