"""Erasing a person on request (everything but a hashed opt-out), and purging old leads."""

from __future__ import annotations

from sqlalchemy import func, select

from spine_site import privacy
from spine_site.extensions import db
from spine_site.models import (
    AuditEvent,
    GuideDownload,
    Lead,
    Note,
    OutboxEmail,
    Person,
    Suppression,
)
from tests.factories import make_download, make_lead
from tests.html_forms import post_form


def test_admin_erases_a_person_everywhere_but_keeps_the_opt_out(app, admin_client):
    first = make_lead(app, "guide", email="patient1@example.com", opt_in=True)
    second = make_lead(app, email="patient1@example.com")
    other = make_lead(app, email="patient2@example.com")
    page = f"/staff/leads/{second}"
    post_form(admin_client, page, f"/staff/leads/{second}/notes", body="Called back.")
    make_download(app, first)
    confirm = admin_client.get(f"/staff/leads/{second}/erase").get_data(as_text=True)
    assert "all 2 request(s)" in confirm
    response = post_form(
        admin_client, f"/staff/leads/{second}/erase", f"/staff/leads/{second}/erase"
    )
    assert response.status_code == 303
    with app.app_context():
        remaining = db.session.scalars(select(Lead.id)).all()
        assert remaining == [other]
        assert db.session.scalars(select(Person.email_normalized)).all() == ["patient2@example.com"]
        assert db.session.scalars(select(Note)).all() == []
        assert db.session.scalars(select(GuideDownload)).all() == []
        assert {e.to_addr for e in db.session.scalars(select(OutboxEmail))} == {
            "patient2@example.com",
            "intake@clinic.example",
        }
        assert db.session.scalar(select(func.count()).select_from(Suppression)) == 1
        assert "PATIENT1@example.com" in privacy.suppressed_since(["PATIENT1@example.com"])
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "erasure")).one()
        assert event.detail == {"leads": 2} and "patient1" not in str(event.detail)


def test_purge_command_deletes_old_leads_spam_first(app):
    old_spam = make_lead(app, email="patient1@example.com", spam=True, days_ago=40)
    old = make_lead(app, email="patient2@example.com", days_ago=40)
    recent = make_lead(app, email="patient3@example.com", days_ago=5)
    result = app.test_cli_runner().invoke(args=["leads", "purge", "--older-than", "30"])
    assert result.exit_code == 0, result.output
    assert "purged 1 spam and 1 other leads" in result.output
    assert "2 people" in result.output
    with app.app_context():
        assert db.session.scalars(select(Lead.id)).all() == [recent]
        assert db.session.scalar(select(func.count()).select_from(OutboxEmail)) == 2
    assert old_spam and old
