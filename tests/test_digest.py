"""The intake desk's morning summary (`flask leads digest`): what it counts, what its email
says and never says, and how the command ends when it cannot send."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from spine_site.clock import clinic_today, day_start, utcnow
from spine_site.desk import digest
from spine_site.extensions import db
from spine_site.models import Lead, LeadStatus, OutboxEmail
from tests.factories import make_lead
from tests.support import free_port

CHICAGO = ZoneInfo("America/Chicago")  # the default CLINIC_TIMEZONE
# Details no summary may carry: each would be a patient's name, contact or health detail.
PATIENT = {
    "first_name": "Zebedee",
    "last_name": "Quillfeather",
    "email": "zebedee.quill@example.net",
    "phone": "+13125550199",
    "message": "Numbness in both feet since the fall",
}


@pytest.fixture(autouse=True)
def command_lines(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="spine_site.cli")


def said(caplog: pytest.LogCaptureFixture, level: int = logging.INFO) -> list[str]:
    """What the command logged at exactly this level (it logs, for the journal)."""
    return [
        r.getMessage() for r in caplog.records if r.name == "spine_site.cli" and r.levelno == level
    ]


def local(text: str) -> datetime:
    """A wall-clock time in the clinic's zone, as the aware UTC instant stored."""
    return datetime.fromisoformat(text).replace(tzinfo=CHICAGO).astimezone(UTC)


def lead(fields: dict[str, object] | None = None, **columns: object) -> int:
    """An appointment request (as a patient's form would make it, with these `fields`),
    then its columns set as the story needs: timestamps, status, spam."""
    spam = bool(columns.pop("spam", False))
    lead_id = make_lead(spam=spam, **(fields or {}))
    db.session.execute(update(Lead).where(Lead.id == lead_id).values(**columns))
    db.session.commit()
    return lead_id


def test_the_counts_follow_the_queue_definitions_in_business_minutes(app):
    # Monday 2025-06-09, 08:45 at the clinic (hours Mo-Fr 08:00-17:00, target 60 minutes):
    # a request waits more than 60 business minutes if it came before Friday 16:45.
    now = local("2025-06-09T08:45")
    tried = {"first_attempt_at": local("2025-06-05T10:00")}
    with app.test_request_context():
        # Waiting. 55 business minutes (Friday 16:50, 64 hours on the wall): not overdue.
        lead(created_at=local("2025-06-06T16:50"))
        # Waiting and overdue: 20 minutes on Friday and 45 this morning.
        lead(created_at=local("2025-06-06T16:40"))
        # Waiting, overdue, and given a follow-up time now past: counted once in each.
        lead(created_at=local("2025-06-05T09:00"), next_follow_up_at=local("2025-06-09T08:00"))
        # Tried, follow-up later today: due today, not overdue, not waiting.
        lead(
            created_at=local("2025-06-05T09:00"),
            next_follow_up_at=local("2025-06-09T11:00"),
            **tried,
        )
        # Contacted, follow-up past: overdue and due today.
        lead(
            status=LeadStatus.CONTACTED,
            created_at=local("2025-06-04T09:00"),
            next_follow_up_at=local("2025-06-09T08:30"),
            **tried,
        )
        # Due at 23:30 tonight: still today in the clinic's day.
        lead(status=LeadStatus.CONTACTED, next_follow_up_at=local("2025-06-09T23:30"), **tried)
        # Not counted: tomorrow's follow-up, spam, a closed and a scheduled request with a
        # past follow-up time, a new request already tried.
        lead(status=LeadStatus.CONTACTED, next_follow_up_at=local("2025-06-10T08:00"), **tried)
        lead(spam=True, created_at=local("2025-06-02T09:00"))
        past = local("2025-06-06T09:00")
        lead(status=LeadStatus.CLOSED, created_at=past, next_follow_up_at=past)
        lead(status=LeadStatus.SCHEDULED, created_at=past, next_follow_up_at=past, **tried)
        lead(created_at=local("2025-06-02T09:00"), **tried)

        counts = digest.desk_counts(now)
    assert (counts.waiting, counts.overdue, counts.follow_ups_today) == (3, 3, 4)
    assert counts.day.isoformat() == "2025-06-09" and counts.target_minutes == 60


def test_the_target_is_a_setting(app_factory):
    app = app_factory(FIRST_CONTACT_TARGET_MINUTES=30)
    with app.test_request_context():
        lead(created_at=local("2025-06-06T16:40"))  # 65 business minutes by Monday 08:45
        lead(created_at=local("2025-06-09T08:10"))  # 35
        lead(created_at=local("2025-06-09T08:20"))  # 25
        counts = digest.desk_counts(local("2025-06-09T08:45"))
    assert (counts.waiting, counts.overdue, counts.target_minutes) == (3, 2, 30)


def test_the_subject_counts_in_words():
    counts = digest.DeskCounts(date(2025, 6, 9), 4, 1, 3, 60)
    assert digest.subject(counts) == "Intake desk: 4 waiting, 1 overdue, 3 follow-ups today"
    one = digest.DeskCounts(date(2025, 6, 9), 0, 0, 1, 60)
    assert digest.subject(one) == "Intake desk: 0 waiting, 0 overdue, 1 follow-up today"


def test_the_command_emails_counts_and_the_queue_link_and_no_patient_details(
    smtp_app, smtp, caplog
):
    with smtp_app.test_request_context():
        # Waiting and overdue: ten days old, never tried.
        lead(PATIENT, created_at=utcnow() - timedelta(days=10))
        # Waiting, just in: nobody is late for it yet.
        make_lead(**{**PATIENT, "email": "second.patient@example.net", "phone": "+13125550123"})
        # A follow-up due in the last second of the clinic's today.
        end_of_today = day_start(clinic_today() + timedelta(days=1))
        lead(
            {**PATIENT, "email": "third.patient@example.net"},
            status=LeadStatus.CONTACTED,
            first_attempt_at=utcnow() - timedelta(days=1),
            next_follow_up_at=end_of_today - timedelta(seconds=1),
        )
        queued_before = db.session.scalar(select(func.count(OutboxEmail.id)))

    result = smtp_app.test_cli_runner().invoke(args=["leads", "digest"])

    assert result.exit_code == 0, result.output
    expected_subject = "Intake desk: 2 waiting, 1 overdue, 1 follow-up today"
    assert said(caplog) == [f"digest: sent to intake@clinic.example: {expected_subject}"]
    (message,) = smtp.inbox.messages
    assert message["To"] == "intake@clinic.example"
    assert message["From"] == "Valor Spine <care@clinic.example>"
    assert message["Subject"] == expected_subject
    assert message["Auto-Submitted"] == "auto-generated"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert text.startswith("Intake desk summary for ")
    assert "2 requests wait for a first contact." in text
    assert "1 overdue (no first try within 60 business minutes" in text
    assert "1 follow-up is due today." in text
    assert "https://clinic.example/staff/" in text.splitlines()
    assert 'href="https://clinic.example/staff/"' in html
    # Nothing a patient typed, in any part or header, in any case or spelling of the phone.
    raw = message.as_string().lower()
    for value in (*PATIENT.values(), "second.patient", "third.patient", "5550199", "550-0199"):
        assert value.lower() not in raw, value
    assert "sciatica" not in raw and "lovelace" not in raw
    # Sent at once, not left in the outbox.
    with smtp_app.app_context():
        assert db.session.scalar(select(func.count(OutboxEmail.id))) == queued_before


def test_without_staff_notify_email_the_command_fails_and_says_what_to_set(
    app_factory, smtp, caplog
):
    app = app_factory(**smtp.config(), STAFF_NOTIFY_EMAIL=None)
    result = app.test_cli_runner().invoke(args=["leads", "digest"])
    assert result.exit_code == 1
    assert "STAFF_NOTIFY_EMAIL is not set" in said(caplog, logging.ERROR)[0]
    assert smtp.inbox.messages == []
    # A closed day does not hide the missing setting.
    caplog.clear()
    closed = app.test_cli_runner().invoke(args=["leads", "digest", "--open-days-only"])
    assert closed.exit_code == 1 and "STAFF_NOTIFY_EMAIL" in said(caplog, logging.ERROR)[0]


def test_when_the_mail_server_cannot_be_reached_the_command_fails(app_factory, caplog):
    app = app_factory(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(), MAIL_TIMEOUT=2)
    result = app.test_cli_runner().invoke(args=["leads", "digest"])
    assert result.exit_code == 1
    (error,) = said(caplog, logging.ERROR)
    assert "the summary could not be sent: ConnectionRefusedError" in error


def test_a_refusal_by_the_mail_server_fails_the_command(app_factory, smtp, caplog):
    app = app_factory(**smtp.config(), STAFF_NOTIFY_EMAIL="nobody@invalid.example")

    async def refuse(server, session, envelope, address, options):
        return "550 5.1.1 no such mailbox"

    smtp.inbox.handle_RCPT = refuse  # type: ignore[attr-defined]
    result = app.test_cli_runner().invoke(args=["leads", "digest"])
    assert result.exit_code == 1
    (error,) = said(caplog, logging.ERROR)
    # The reply's code and a fixed explanation (mail/transports.py), as staff see it.
    assert "Rejected: SMTP 550: the receiving mail server refused the address" in error
    assert smtp.inbox.messages == []


def test_open_days_only_sends_on_open_days_and_skips_holidays(app_factory, smtp, caplog):
    always = "Mo-Su 00:00-24:00"
    open_app = app_factory(**smtp.config(), CLINIC_HOURS=always)
    sent = open_app.test_cli_runner().invoke(args=["leads", "digest", "--open-days-only"])
    assert sent.exit_code == 0
    assert said(caplog)[0].startswith("digest: sent to intake@clinic.example")
    assert len(smtp.inbox.messages) == 1

    with open_app.app_context():
        today = clinic_today().isoformat()
    holiday_app = app_factory(**smtp.config(), CLINIC_HOURS=always, CLINIC_HOLIDAYS=today)
    caplog.clear()
    skipped = holiday_app.test_cli_runner().invoke(args=["leads", "digest", "--open-days-only"])
    assert skipped.exit_code == 0
    assert said(caplog) == ["digest: the clinic is closed today: no summary sent"]
    assert len(smtp.inbox.messages) == 1
    # Without the flag the summary goes out on a closed day too.
    forced = holiday_app.test_cli_runner().invoke(args=["leads", "digest"])
    assert forced.exit_code == 0 and len(smtp.inbox.messages) == 2
