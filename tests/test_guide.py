"""The free guide: a tagged PDF a screen reader can follow, with the clinic's details and
working links; a signed expiring link, downloads recorded, fresh links sent.

The tagged-PDF tests need Pango (WeasyPrint loads it): on a laptop without it they skip and
say what to install; in CI (CI=true) they fail, since .ci/run installs it.
"""

from __future__ import annotations

import io
import logging
import sys
from datetime import UTC, datetime, timedelta

import pikepdf
import pytest
from flask import url_for
from pypdf import PdfReader
from sqlalchemy import select

from spine_site import tokens
from spine_site.extensions import db
from spine_site.leads import guide
from spine_site.leads.guide import GUIDE_SOURCES, GuideContact, build_pdf, guide_html
from spine_site.models import EmailKind, GuideDownload, OutboxEmail
from tests.factories import make_lead
from tests.html_forms import form_posting_to
from tests.support import IN_CI

TITLE = "A Patient\u2019s Guide to Non-Surgical Spine Care"


def guide_lead(app) -> int:
    """Grace's guide request (grace@example.org), with its guide email queued."""
    return make_lead(app, "guide")


def link_for(app, lead_id: int, issued_at: datetime | None = None) -> str:
    with app.test_request_context():
        return f"/guide/download/{tokens.guide_token(lead_id, issued_at)}"


def built_guide(app) -> bytes:
    with app.app_context():
        return build_pdf(GUIDE_SOURCES["en"], GuideContact.from_config(app.config))


@pytest.fixture
def fresh_guide_caches():
    """Forget the built guide and the WeasyPrint import, before and after the test."""
    guide.forget_built()
    yield
    guide.forget_built()


@pytest.fixture
def tagged_guide(app) -> pikepdf.Pdf:
    """The guide as WeasyPrint builds it, opened with pikepdf."""
    try:
        import weasyprint  # noqa: F401
    except OSError as exc:
        if IN_CI:
            pytest.fail(f"WeasyPrint cannot load Pango in CI ({exc}): .ci/run installs it")
        pytest.skip(f"no Pango ({exc}): apt-get install {guide.PANGO_PACKAGES}")
    return pikepdf.open(io.BytesIO(built_guide(app)))


def structure_types(pdf: pikepdf.Pdf) -> list[str]:
    """Every structure element's type (/H1, /P, /L ...), in reading order."""
    found = []

    def walk(node) -> None:
        if isinstance(node, pikepdf.Array):
            for kid in node:
                walk(kid)
        elif isinstance(node, pikepdf.Dictionary) and "/S" in node:
            found.append(str(node.S))
            walk(node.get("/K"))

    walk(pdf.Root.StructTreeRoot.K)
    return found


def link_targets(pdf: pikepdf.Pdf) -> set[str]:
    return {
        str(annot.A.URI)
        for page in pdf.pages
        for annot in page.get("/Annots", [])
        if annot.Subtype == "/Link" and "/URI" in annot.get("/A", {})
    }


def test_guide_pdf_is_multi_page_with_title_and_the_required_sections(app):
    reader = PdfReader(io.BytesIO(built_guide(app)))
    assert len(reader.pages) >= 4
    assert reader.metadata.title == TITLE
    text = " ".join(page.extract_text() for page in reader.pages)
    for section in (
        "What to bring to your first visit",
        "Questions to ask",
        "non-surgical care pathway",
        "Red-flag symptoms",
    ):
        assert section.lower() in text.lower(), section
    assert "bladder" in text and "911" in text


def test_download_serves_the_pdf_and_records_each_download(app):
    lead_id = guide_lead(app)
    client = app.test_client()
    link = link_for(app, lead_id)
    for _ in range(2):
        response = client.get(link)
        assert response.status_code == 200
        assert response.mimetype == "application/pdf"
        assert response.data.startswith(b"%PDF-")
        assert "no-store" in response.headers["Cache-Control"]
    with app.app_context():
        downloads = db.session.scalars(select(GuideDownload)).all()
        assert [d.lead_id for d in downloads] == [lead_id, lead_id]


def test_tampered_link_is_a_friendly_404_and_records_nothing(app):
    lead_id = guide_lead(app)
    client = app.test_client()
    good = link_for(app, lead_id)
    for bad in (good[:-3] + "abc", "/guide/download/not-a-token", good + "x"):
        response = client.get(bad)
        assert response.status_code == 404
        assert "link doesn" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(GuideDownload)).all() == []


def test_a_token_of_another_kind_is_refused(app):
    lead_id = guide_lead(app)
    with app.test_request_context():
        unsubscribe = tokens.unsubscribe_token(lead_id)
    assert app.test_client().get(f"/guide/download/{unsubscribe}").status_code == 404


def test_expired_link_offers_a_fresh_one_that_is_emailed(app):
    lead_id = guide_lead(app)
    client = app.test_client()
    old = link_for(app, lead_id, datetime.now(UTC) - timedelta(days=15))
    response = client.get(old)
    assert response.status_code == 410
    html = response.get_data(as_text=True)
    assert "expired" in html
    fields = form_posting_to(html, f"{old}/resend")
    resent = client.post(f"{old}/resend", data=fields)
    assert resent.status_code == 303
    with app.app_context():
        guides = db.session.scalars(
            select(OutboxEmail).where(OutboxEmail.kind == EmailKind.GUIDE)
        ).all()
        assert len(guides) == 2
        assert guides[1].to_addr == "grace@example.org"
        assert db.session.scalars(select(GuideDownload)).all() == []
        fresh = next(
            line for line in guides[1].body_text.splitlines() if "/guide/download/" in line
        )
    # The emailed link is a fresh one: it downloads.
    assert client.get(fresh.strip().removeprefix("https://clinic.example")).status_code == 200


def test_link_still_works_on_day_thirteen(app):
    lead_id = guide_lead(app)
    link = link_for(app, lead_id, datetime.now(UTC) - timedelta(days=13))
    assert app.test_client().get(link).status_code == 200


def test_resend_without_csrf_token_asks_again_and_sends_nothing(app):
    lead_id = guide_lead(app)
    old = link_for(app, lead_id, datetime.now(UTC) - timedelta(days=30))
    response = app.test_client().post(f"{old}/resend", data={})
    assert response.status_code == 400
    with app.app_context():
        assert len(db.session.scalars(select(OutboxEmail)).all()) == 1


def test_link_of_an_erased_lead_is_404(app):
    lead_id = guide_lead(app)
    link = link_for(app, lead_id + 999)
    assert app.test_client().get(link).status_code == 404


def test_guide_build_command_writes_the_pdf(app, tmp_path):
    out = tmp_path / "guide.pdf"
    result = app.test_cli_runner().invoke(args=["guide", "build", str(out)])
    assert result.exit_code == 0, result.output
    assert PdfReader(str(out)).metadata.title == TITLE


def test_resend_is_only_for_expired_links_and_capped_per_day(app):
    lead_id = guide_lead(app)
    client = app.test_client()
    fresh = link_for(app, lead_id)
    old = link_for(app, lead_id, datetime.now(UTC) - timedelta(days=20))
    fields = form_posting_to(client.get(old).get_data(as_text=True), f"{old}/resend")
    assert client.post(f"{fresh}/resend", data=fields).status_code == 404
    statuses = [client.post(f"{old}/resend", data=fields).status_code for _ in range(3)]
    # The first guide email plus two fresh links make three today; the third is refused.
    assert statuses == [303, 303, 429]
    with app.app_context():
        assert len(db.session.scalars(select(OutboxEmail)).all()) == 3


def test_head_request_does_not_count_as_a_download(app):
    lead_id = guide_lead(app)
    assert app.test_client().head(link_for(app, lead_id)).status_code == 200
    with app.app_context():
        assert db.session.scalars(select(GuideDownload)).all() == []


def test_guide_is_tagged_for_screen_readers_in_reading_order(tagged_guide):
    root = tagged_guide.Root
    assert root.MarkInfo.Marked is True
    assert str(root.Lang).startswith("en")
    assert root.ViewerPreferences.DisplayDocTitle is True
    with tagged_guide.open_metadata() as meta:
        assert meta["dc:title"] == TITLE
    tags = structure_types(tagged_guide)
    assert {"/H1", "/H2", "/H3", "/P", "/L", "/LI"} <= set(tags)
    # The title comes first, then the sections; the last heading is the contact section.
    headings = [t for t in tags if t in ("/H1", "/H2", "/H3")]
    assert headings[0] == "/H1" and headings.count("/H1") == 1
    assert headings[-1] == "/H2"


def test_guide_links_dial_the_clinic_and_open_the_site_and_the_schedule_form(app, tagged_guide):
    with app.test_request_context():
        schedule_path = url_for("public.schedule")
    assert link_targets(tagged_guide) >= {
        "tel:+12175550134",
        "https://clinic.example/",  # the home page
        "https://clinic.example" + schedule_path,
    }


def test_guide_gives_the_clinic_address_hours_and_phone(app, tagged_guide):
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(built_guide(app))).pages)
    for detail in (
        "100 Example Avenue, Suite 200",
        "Springfield, IL 62701",
        "Monday to Friday, 8 am to 5 pm",
        "(217) 555-0134",
        "Contact us",
        "Page 2 of",
    ):
        assert detail in text, detail


def test_guide_html_names_nothing_to_fetch(app):
    with app.app_context():
        html = guide_html(GUIDE_SOURCES["en"], GuideContact.from_config(app.config))
    assert "src=" not in html and "url(" not in html and "@import" not in html
    assert 'lang="en-US"' in html


class _NoPango:
    """An import hook that fails to import weasyprint the way a machine without Pango does."""

    def find_spec(self, name, path=None, target=None):
        if name == "weasyprint":
            raise OSError("cannot load library 'libpango-1.0-0': no such file")
        return None


def test_without_pango_the_guide_still_downloads_as_the_plain_pdf(
    app, monkeypatch, caplog, fresh_guide_caches
):
    monkeypatch.delitem(sys.modules, "weasyprint", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_NoPango(), *sys.meta_path])
    lead_id = guide_lead(app)
    with caplog.at_level(logging.WARNING, logger="spine_site.leads.guide"):
        response = app.test_client().get(link_for(app, lead_id))
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    reader = PdfReader(io.BytesIO(response.data))
    assert reader.metadata.title == TITLE.replace("\u2019", "'")
    assert "WeasyPrint" not in (reader.metadata.producer or "")
    text = " ".join(page.extract_text() for page in reader.pages)
    assert "Red-flag symptoms" in text and "Springfield, IL 62701" in text
    warnings = [r.getMessage() for r in caplog.records if r.name == "spine_site.leads.guide"]
    assert len(warnings) == 1
    assert "apt-get install libpango-1.0-0 libpangoft2-1.0-0" in warnings[0]
