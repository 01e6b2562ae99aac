"""Intake staff working leads: the list, one lead, status, notes, spam, resend, erasure."""

from __future__ import annotations

import html as htmllib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from spine_site import lead_list, privacy
from spine_site.extensions import db
from spine_site.models import (
    AuditEvent,
    EmailStatus,
    GuideDownload,
    Lead,
    LeadStatus,
    Note,
    OutboxEmail,
    Person,
    Suppression,
)
from tests.factories import make_download, make_lead, make_user
from tests.html_forms import post_form
from tests.support import login


def test_list_is_newest_first_with_counts_and_new_highlighted(app, staff_client):
    older = make_lead(app, email="patient1@example.com", first_name="Older", days_ago=2)
    newer = make_lead(app, email="patient2@example.com", first_name="Newer")
    html = staff_client.get("/staff/").get_data(as_text=True)
    assert html.index("Newer") < html.index("Older")
    assert f'href="/staff/leads/{newer}"' in html and f'href="/staff/leads/{older}"' in html
    assert 'class="is-new"' in html
    assert 'New <span class="count">2</span>' in html
    assert "Sciatica" in html  # intake staff see the reason


def test_filters_by_form_status_date_and_spam(app, staff_client):
    guide = make_lead(app, "guide", email="patient1@example.com", first_name="Guidey")
    appt = make_lead(app, email="patient2@example.com", first_name="Appty", days_ago=10)
    spam = make_lead(app, email="patient3@example.com", first_name="Spammy", spam=True)
    with app.app_context():
        db.session.get(Lead, appt).status = LeadStatus.CONTACTED
        db.session.commit()

    def names(query: str) -> set[str]:
        page = staff_client.get("/staff/?" + query).get_data(as_text=True)
        return {n for n in ("Guidey", "Appty", "Spammy") if f">{n} " in page or f">{n}<" in page}

    assert names("") == {"Guidey", "Appty"}
    assert names("form=guide") == {"Guidey"}
    assert names("status=contacted") == {"Appty"}
    today = datetime.now(UTC).date()
    assert names(f"date_from={(today - timedelta(days=3)).isoformat()}") == {"Guidey"}
    assert names(f"date_to={(today - timedelta(days=5)).isoformat()}") == {"Appty"}
    assert names("spam=only") == {"Spammy"}
    assert names("spam=include") == {"Guidey", "Appty", "Spammy"}
    assert names("status=bogus&form=nope&date_from=yesterday") == {"Guidey", "Appty"}
    assert guide and spam


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("lovelace", 2),
        ("patient1@", 1),
        ("867-5309", 2),
        ("3128675309", 2),
        ("Ada patient2", 1),
        ("nobody", 0),
        ("%", 0),
        ("_", 0),
    ],
)
def test_search_by_name_email_and_phone(app, staff_client, query, expected):
    make_lead(app, email="patient1@example.com")
    make_lead(app, email="patient2@example.com")
    make_lead(app, "guide", email="patient3@example.com", first_name="Grace")
    with app.app_context():
        f = lead_list.LeadFilter(q=query)
        assert lead_list.list_leads(f, 1, 50).total == expected
    assert staff_client.get("/staff/", query_string={"q": query}).status_code == 200


def test_pagination(app_factory):
    app = app_factory(STAFF_PAGE_SIZE=2)
    make_user(app, "intake@clinic.example", "staff")
    client = app.test_client()
    login(client, "intake@clinic.example")
    ids = [make_lead(app, email=f"patient{i}@example.com") for i in range(5)]
    page1 = client.get("/staff/").get_data(as_text=True)
    page3 = client.get("/staff/?page=3").get_data(as_text=True)
    assert "Page 1 of 3" in page1 and f"/staff/leads/{ids[4]}" in page1
    assert f"/staff/leads/{ids[0]}" in page3 and f"/staff/leads/{ids[4]}" not in page3
    assert client.get("/staff/?page=999").status_code == 200


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
        "phone",
        "morning",
        "Sciatica",
        "Pain down my left leg",
        "2026-11-contact-v1",
        "/schedule (page)",
        "appointment confirmation",
        "queued",
    ):
        assert text in html, text
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


def test_marketing_sees_the_list_without_medical_details(app, marketing_client):
    lead_id = make_lead(
        app, email="patient1@example.com", reason="sciatica", message="Private symptoms here"
    )
    html = marketing_client.get("/staff/").get_data(as_text=True)
    assert "Lovelace" in html
    assert "Sciatica" not in html and "Private symptoms" not in html
    assert f'href="/staff/leads/{lead_id}"' not in html
    assert marketing_client.get(f"/staff/leads/{lead_id}").status_code == 403


XSS = '<script>alert("x")</script>'
XSS_SHORT = "<script>x()</script>"  # fits the 20-character columns


def test_script_in_every_field_is_shown_escaped_on_every_staff_page(app, admin_client):
    lead_id = make_lead(
        app, email="patient1@example.com", first_name=XSS, last_name=XSS, message=XSS
    )
    with app.app_context():
        lead = db.session.get(Lead, lead_id)
        long_columns = (
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "utm_term",
            "utm_content",
            "referrer",
            "landing_page",
            "source_page",
            "spam_reason",
            "reason",
        )
        for column in long_columns:
            setattr(lead, column, XSS)
        for column in ("placement", "contact_method", "best_time"):
            setattr(lead, column, XSS_SHORT)
        lead.emails[0].last_error = XSS
        db.session.commit()
    post_form(admin_client, f"/staff/leads/{lead_id}", f"/staff/leads/{lead_id}/notes", body=XSS)
    with app.app_context():
        from spine_site import audit

        audit.record("login_failed", actor=XSS, detail={"x": XSS})
        db.session.commit()
    pages = [
        "/staff/",
        "/staff/?spam=include",
        f"/staff/leads/{lead_id}",
        "/staff/audit",
        f"/staff/leads/{lead_id}/erase",
        "/staff/users",
        f"/staff/?q={XSS}",
    ]
    for page in pages:
        html = admin_client.get(page).get_data(as_text=True)
        assert "<script>alert" not in html and "<script>x()" not in html, page
    detail = admin_client.get(f"/staff/leads/{lead_id}").get_data(as_text=True)
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in detail
