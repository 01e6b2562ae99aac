"""Intake staff working one lead: its page, status, notes, spam, and resending its emails."""

from __future__ import annotations

import html as htmllib

from sqlalchemy import func, select

from spine_site.desk import casework
from spine_site.extensions import db
from spine_site.models import (
    AuditEvent,
    EmailKind,
    EmailStatus,
    Lead,
    LeadStatus,
    LeadStatusChange,
    Note,
    OutboxEmail,
    User,
)
from tests.factories import make_download, make_lead
from tests.html_forms import form_posting_to, post_form
from tests.support import login


def test_detail_shows_every_field_and_is_audited(app, staff_client):
    earlier = make_lead(app, "guide", email="patient1@example.com")
    lead_id = make_lead(app, email="patient1@example.com")
    make_download(app, earlier)
    html = htmllib.unescape(staff_client.get(f"/staff/leads/{lead_id}").get_data(as_text=True))
    for text in (
        "Ada",
        "Lovelace",
        "patient1@example.com",
        "(312) 867-5309",
        "Phone call",  # labels, never the stored codes
        "Morning",
        "Sciatica",
        "Pain down my left leg",
        "2026-11-contact-v1",
        "/schedule (page)",
        "Appointment confirmation",
        "queued",
    ):
        assert text in html, text
    assert ">phone<" not in html and ">morning<" not in html
    assert f'href="/staff/leads/{earlier}"' in html  # the same person's earlier request
    with app.app_context():
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "lead_view")).one()
        assert event.target == f"lead:{lead_id}" and event.actor == "intake@clinic.example"


def test_status_changes_record_who_and_when(app, staff_client):
    lead_id = make_lead(app, email="patient1@example.com")
    page = f"/staff/leads/{lead_id}"
    response = post_form(staff_client, page, f"/staff/leads/{lead_id}/status", status="contacted")
    assert response.status_code == 303
    post_form(staff_client, page, f"/staff/leads/{lead_id}/status", status="scheduled")
    html = staff_client.get(page).get_data(as_text=True)
    assert "New &rarr; Contacted by intake@clinic.example" in html
    assert "Contacted &rarr; Scheduled" in html
    with app.app_context():
        assert db.session.get(Lead, lead_id).status is LeadStatus.SCHEDULED
    bad = post_form(staff_client, page, f"/staff/leads/{lead_id}/status", status="deleted")
    assert bad.status_code == 303
    with app.app_context():
        assert db.session.get(Lead, lead_id).status is LeadStatus.SCHEDULED


def test_concurrent_status_changes_never_record_a_step_that_did_not_happen(app, staff_client):
    lead_id = make_lead(app, email="patient1@example.com")
    with app.app_context():
        lead = db.session.get(Lead, lead_id)
        user = db.session.scalar(select(User))
        assert casework.change_status(lead, LeadStatus.CONTACTED, seen=LeadStatus.NEW, by=user)
        # A second person, whose page still showed "new":
        lead = db.session.get(Lead, lead_id)
        assert not casework.change_status(lead, LeadStatus.CLOSED, seen=LeadStatus.NEW, by=user)
        steps = db.session.scalars(select(LeadStatusChange)).all()
        assert [(s.from_status, s.to_status) for s in steps] == [
            (LeadStatus.NEW, LeadStatus.CONTACTED)
        ]
        assert db.session.get(Lead, lead_id).status is LeadStatus.CONTACTED
    # Through the page: a stale form says so instead of recording a false step.
    page = f"/staff/leads/{lead_id}"
    fields = form_posting_to(staff_client.get(page).get_data(as_text=True), f"{page}/status")
    fields["seen"] = "new"
    response = staff_client.post(f"{page}/status", data={**fields, "status": "closed"})
    assert "Someone else changed" in staff_client.get(response.headers["Location"]).get_data(
        as_text=True
    )


def test_notes_are_appended_with_author_and_time(app, staff_client):
    lead_id = make_lead(app, email="patient1@example.com")
    page = f"/staff/leads/{lead_id}"
    post_form(staff_client, page, f"/staff/leads/{lead_id}/notes", body="Left a voicemail.")
    post_form(staff_client, page, f"/staff/leads/{lead_id}/notes", body="Booked for Tuesday.")
    post_form(staff_client, page, f"/staff/leads/{lead_id}/notes", body="   ")
    with app.app_context():
        notes = db.session.scalars(select(Note).order_by(Note.id)).all()
        assert [n.body for n in notes] == ["Left a voicemail.", "Booked for Tuesday."]
        assert all(n.author.email == "intake@clinic.example" for n in notes)
    html = staff_client.get(page).get_data(as_text=True)
    assert html.index("Left a voicemail.") < html.index("Booked for Tuesday.")


def test_a_note_survives_the_idle_timeout(app, staff_client):
    lead_id = make_lead(app, email="patient1@example.com")
    page = f"/staff/leads/{lead_id}"
    fields = form_posting_to(
        staff_client.get(page).get_data(as_text=True), f"/staff/leads/{lead_id}/notes"
    )
    with staff_client.session_transaction() as session:
        session["staff_seen"] -= app.config["STAFF_IDLE_MINUTES"] * 60 + 1
    response = staff_client.post(
        f"/staff/leads/{lead_id}/notes", data={**fields, "body": "Spoke to her daughter."}
    )
    assert "/staff/login" in response.headers["Location"]
    assert "next=/staff/leads/" in response.headers["Location"]
    response = login(staff_client, "intake@clinic.example", next=page)
    assert response.headers["Location"] == page
    html = staff_client.get(page).get_data(as_text=True)
    assert "Spoke to her daughter." in html and "unsaved note" in html
    # Shown once, then gone; nothing was stored without the person pressing the button.
    assert "Spoke to her daughter." not in staff_client.get(page).get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Lead, lead_id).notes == []


def test_a_note_survives_an_expired_security_token(app, staff_client):
    lead_id = make_lead(app, email="patient1@example.com")
    response = staff_client.post(
        f"/staff/leads/{lead_id}/notes", data={"csrf_token": "expired", "body": "Call back Friday."}
    )
    assert response.status_code == 303
    html = staff_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "sat open too long" in html and "Call back Friday." in html


def test_releasing_a_lead_from_quarantine_queues_its_emails(app, staff_client):
    lead_id = make_lead(app, email="patient1@example.com", spam=True)
    page = f"/staff/leads/{lead_id}"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OutboxEmail)) == 0
    post_form(staff_client, page, f"/staff/leads/{lead_id}/spam", spam="0")
    with app.app_context():
        lead = db.session.get(Lead, lead_id)
        assert not lead.is_spam and len(lead.emails) == 2
    post_form(staff_client, page, f"/staff/leads/{lead_id}/spam", spam="1")
    post_form(staff_client, page, f"/staff/leads/{lead_id}/spam", spam="0")
    with app.app_context():
        assert len(db.session.get(Lead, lead_id).emails) == 2, "released twice, emailed once"


def test_failed_email_is_shown_and_can_be_resent(app, staff_client):
    lead_id = make_lead(app, email="patient1@example.com")
    with app.app_context():
        email = db.session.get(Lead, lead_id).emails[0]
        email.status, email.attempts, email.last_error = EmailStatus.FAILED, 8, "SMTP 550 nope"
        db.session.commit()
        email_id = email.id
    html = staff_client.get(f"/staff/leads/{lead_id}").get_data(as_text=True)
    assert "badge-failed" in html and "SMTP 550 nope" in html
    post_form(staff_client, f"/staff/leads/{lead_id}", f"/staff/emails/{email_id}/resend")
    with app.app_context():
        email = db.session.get(OutboxEmail, email_id)
        assert email.status is EmailStatus.QUEUED and email.attempts == 0


def test_staff_resend_of_a_guide_email_sends_a_fresh_link(app, staff_client):
    lead_id = make_lead(app, "guide", email="patient1@example.com")
    with app.app_context():
        old = db.session.scalars(select(OutboxEmail)).one()
        old.body_text = old.body_text.replace("/guide/download/", "/guide/download/OLD")
        old.status = EmailStatus.SENT
        db.session.commit()
        old_id = old.id
    post_form(staff_client, f"/staff/leads/{lead_id}", f"/staff/emails/{old_id}/resend")
    with app.app_context():
        guides = db.session.scalars(
            select(OutboxEmail).where(OutboxEmail.kind == EmailKind.GUIDE).order_by(OutboxEmail.id)
        ).all()
        assert len(guides) == 2 and "/guide/download/OLD" not in guides[1].body_text
