"""The free guide: a real PDF, a signed expiring link, downloads recorded, fresh links sent."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from pypdf import PdfReader
from sqlalchemy import select

from spine_site import tokens
from spine_site.extensions import db
from spine_site.guide import GUIDE_SOURCE, build_pdf
from spine_site.models import EmailKind, GuideDownload, OutboxEmail
from tests.factories import make_lead
from tests.html_forms import form_posting_to


def guide_lead(app) -> int:
    """Grace's guide request (grace@example.org), with its guide email queued."""
    return make_lead(app, "guide")


def link_for(app, lead_id: int, issued_at: datetime | None = None) -> str:
    with app.test_request_context():
        return f"/guide/download/{tokens.guide_token(lead_id, issued_at)}"


def test_guide_pdf_is_multi_page_with_title_and_the_required_sections():
    reader = PdfReader(io.BytesIO(build_pdf(GUIDE_SOURCE, "Valor Spine", "(217) 555-0134")))
    assert len(reader.pages) >= 4
    assert reader.metadata.title == "A Patient's Guide to Non-Surgical Spine Care"
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
    assert PdfReader(str(out)).metadata.title.startswith("A Patient's Guide")


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
