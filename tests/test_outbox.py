"""Email through the transactional outbox, delivered to a real SMTP server on loopback."""

from __future__ import annotations

import logging
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select, update

from spine_site.extensions import db
from spine_site.mail import outbox
from spine_site.mail.transports import FileTransport
from spine_site.models import EmailKind, EmailStatus, Lead, OutboxEmail
from tests.factories import make_lead
from tests.html_forms import GUIDE, SCHEDULE, fill, form_posting_to, submit_public_form
from tests.support import deliver, free_port, start_smtp


def emails(app) -> list[OutboxEmail]:
    with app.app_context():
        rows = db.session.scalars(select(OutboxEmail).order_by(OutboxEmail.id)).all()
        for row in rows:
            db.session.expunge(row)
        return rows


def make_due_now(app) -> None:
    """Skip the backoff wait: the retry schedule itself is tested on its own."""
    with app.app_context():
        db.session.execute(update(OutboxEmail).values(next_attempt_at=datetime.now(UTC)))
        db.session.commit()


def test_appointment_emails_reach_smtp_with_both_parts_and_headers(smtp_app, smtp):
    make_lead(smtp_app)  # Ada Lovelace's appointment request
    assert deliver(smtp_app) == 2
    (patient,) = smtp.inbox.to("Ada.Lovelace@example.com")
    assert patient["From"] == "Valor Spine <care@clinic.example>"
    assert patient["Reply-To"] == "frontdesk@clinic.example"
    assert patient["Message-ID"].endswith("@clinic.example>")
    assert patient["Date"]
    assert "appointment request" in patient["Subject"]
    assert patient.get_body(("plain",)).get_content().startswith("Hello Ada,")
    assert "<p>Hello Ada,</p>" in patient.get_body(("html",)).get_content()
    assert [e.status for e in emails(smtp_app)] == [EmailStatus.SENT, EmailStatus.SENT]
    assert smtp.inbox.envelopes[0][0] == "care@clinic.example"


def test_staff_notification_carries_a_link_and_no_personal_or_health_details(smtp_app, smtp):
    make_lead(smtp_app)
    deliver(smtp_app)
    (note,) = smtp.inbox.to("intake@clinic.example")
    # The headers people see and both bodies (not the MIME boundary, whose random digits
    # could match a phone number by chance).
    text = "\n".join(
        [
            note["Subject"],
            note["To"],
            note.get_body(("plain",)).get_content(),
            note.get_body(("html",)).get_content(),
        ]
    )
    with smtp_app.app_context():
        lead = db.session.scalars(select(Lead)).one()
        assert f"https://clinic.example/staff/leads/{lead.id}" in text
    for private in ("Ada", "Lovelace", "867", "5309", "ciatica", "left leg", "example.com"):
        assert private not in text, private


def test_no_staff_notification_without_a_staff_address(app_factory, smtp):
    app = app_factory(**smtp.config(), STAFF_NOTIFY_EMAIL=None)
    make_lead(app)
    assert [e.kind for e in emails(app)] == [EmailKind.APPOINTMENT_CONFIRMATION]


def test_guide_email_has_signed_link_and_one_click_unsubscribe(smtp_app, smtp):
    make_lead(smtp_app, "guide")  # Grace's guide request
    deliver(smtp_app)
    (msg,) = smtp.inbox.to("grace@example.org")
    assert msg["List-Unsubscribe"].strip().startswith("<https://clinic.example/unsubscribe/")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    plain = msg.get_body(("plain",)).get_content()
    link = next(line for line in plain.splitlines() if "/guide/download/" in line).strip()
    assert link.startswith("https://clinic.example/guide/download/")
    assert link in msg.get_body(("html",)).get_content()
    response = smtp_app.test_client().get(link.removeprefix("https://clinic.example"))
    assert response.status_code == 200 and response.mimetype == "application/pdf"


# Queueing fails after the lead row is flushed: at the patient's email, or at the desk's
# notice with the patient's already in the session.
@pytest.mark.parametrize("failing", [1, 2])
def test_lead_and_its_emails_commit_together_or_not_at_all(app, monkeypatch, failing):
    queued: list[object] = []
    queue = outbox.queue

    def breaking(*args, **kwargs):
        queued.append(args)
        if len(queued) == failing:
            raise RuntimeError("template exploded")
        return queue(*args, **kwargs)

    monkeypatch.setattr(outbox, "queue", breaking)
    client = app.test_client()
    response = submit_public_form(client, "schedule", SCHEDULE)
    assert response.status_code == 500 and len(queued) == failing
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Lead)) == 0
        assert db.session.scalar(select(func.count()).select_from(OutboxEmail)) == 0


def test_smtp_down_request_succeeds_then_mail_goes_out_once_smtp_is_back(app_factory):
    port = free_port()  # nothing listens here yet
    app = app_factory(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_TIMEOUT=2)
    client = app.test_client()
    response = submit_public_form(client, "guide", GUIDE)
    assert response.status_code == 303
    deliver(app)
    (email,) = emails(app)
    assert email.status is EmailStatus.QUEUED and email.attempts == 1
    assert "ConnectionRefused" in email.last_error
    assert email.next_attempt_at > datetime.now(UTC) + timedelta(seconds=20)
    assert deliver(app) == 0, "not retried before its backoff"

    server = start_smtp(port)
    try:
        make_due_now(app)
        assert deliver(app) == 1
        make_due_now(app)
        assert deliver(app) == 0
        assert len(server.inbox.messages) == 1
        (email,) = emails(app)
        assert email.status is EmailStatus.SENT and email.attempts == 2
    finally:
        server.controller.stop()


@pytest.fixture
def silent_smtp():
    """An SMTP server that accepts connections and never says a word."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
                accepted.append(conn)
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    sock.close()


def test_request_does_not_wait_for_a_hanging_smtp_server(app_factory, silent_smtp):
    # The in-process sender is on, as in production; SMTP would hold it for MAIL_TIMEOUT.
    app = app_factory(
        MAIL_SERVER="127.0.0.1", MAIL_PORT=silent_smtp, MAIL_TIMEOUT=3, OUTBOX_IN_PROCESS=True
    )
    client = app.test_client()
    fields = form_posting_to(client.get("/schedule").get_data(as_text=True), "/schedule")
    started = time.monotonic()
    response = client.post("/schedule", data=fill(fields, "appt", SCHEDULE))
    elapsed = time.monotonic() - started
    assert response.status_code == 303
    # Far below the 3 s the hanging server would cost if the request talked to SMTP.
    assert elapsed < 1.5
    # While the sender thread waits on SMTP, other patients can still submit: the sender
    # holds no database transaction (on SQLite, no write lock) during the send.
    time.sleep(0.5)
    for n in range(3):
        fields = form_posting_to(client.get("/guide").get_data(as_text=True), "/guide")
        started = time.monotonic()
        later = client.post("/guide", data=fill(fields, "guide", {**GUIDE, "email": f"p{n}@x.org"}))
        assert later.status_code == 303
        assert time.monotonic() - started < 1.5
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        first = emails(app)[0]
        if first.attempts >= 1 and first.status is EmailStatus.QUEUED:
            break
        time.sleep(0.2)
    # The hanging server cost the sender a timeout, recorded for a retry; nothing was sent.
    assert "timed out" in (first.last_error or "").lower(), first.last_error
    assert all(e.status is not EmailStatus.SENT for e in emails(app))
    app.extensions["outbox_sender"].stop()


def test_last_failure_marks_email_failed_and_resend_requeues_it(app_factory):
    app = app_factory(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(), OUTBOX_MAX_ATTEMPTS=3)
    make_lead(app, "guide")
    for _ in range(3):
        make_due_now(app)
        deliver(app)
    (email,) = emails(app)
    assert email.status is EmailStatus.FAILED and email.attempts == 3
    make_due_now(app)
    assert deliver(app) == 0, "a failed email is not retried by itself"
    server = start_smtp()
    try:
        app.config.update(MAIL_PORT=server.port)
        with app.app_context():
            outbox.resend(db.session.get(OutboxEmail, email.id))
            db.session.commit()
        assert deliver(app) == 1
        assert len(server.inbox.messages) == 1
    finally:
        server.controller.stop()


def test_backoff_doubles_and_is_capped():
    assert outbox.backoff(1, 30) == timedelta(seconds=30)
    assert outbox.backoff(2, 30) == timedelta(seconds=60)
    assert outbox.backoff(4, 30) == timedelta(seconds=240)
    assert outbox.backoff(30, 30) == timedelta(hours=6)


def test_concurrent_senders_send_each_email_once(app_factory, smtp):
    app = app_factory(**smtp.config())
    for i in range(10):
        make_lead(app, "guide", email=f"patient{i}@example.org")
    barrier = threading.Barrier(4)
    results: list[int] = []

    def sender() -> None:
        with app.app_context():
            barrier.wait()
            results.append(outbox.deliver_due())
            db.session.remove()

    threads = [threading.Thread(target=sender) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results) == 10
    assert len(smtp.inbox.messages) == 10
    assert len({m["Message-ID"] for m in smtp.inbox.messages}) == 10


def test_claim_is_exclusive(app):
    make_lead(app, "guide")
    with app.app_context():
        email_id = db.session.scalar(select(OutboxEmail.id))
        now = datetime.now(UTC)
        assert outbox.claim(email_id, now, 60) is not None
        assert outbox.claim(email_id, now, 60) is None
        # A sender that died keeps its claim only until the lease runs out.
        message = outbox.claim(email_id, now + timedelta(seconds=61), 60)
        assert message is not None and message["To"] == "grace@example.org"


def test_in_process_sender_delivers_within_seconds_with_nothing_else_started(app_factory, smtp):
    app = app_factory(**smtp.config(), OUTBOX_IN_PROCESS=True, OUTBOX_POLL_SECONDS=30)
    # A patient's request starts the sender (lazily, in the serving process) and wakes it.
    submit_public_form(app.test_client(), "guide", GUIDE)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not smtp.inbox.messages:
        time.sleep(0.05)
    # Woken by the commit, not by the 30 s poll.
    assert len(smtp.inbox.to("grace@example.org")) == 1


def test_outbox_work_command_delivers(app_factory, smtp, caplog):
    caplog.set_level(logging.INFO, logger="spine_site.cli")
    app = app_factory(**smtp.config())
    make_lead(app)
    result = app.test_cli_runner().invoke(args=["outbox", "work", "--once"])
    assert result.exit_code == 0, result.output
    assert "outbox: sent 2 emails" in [r.getMessage() for r in caplog.records]
    assert len(smtp.inbox.messages) == 2


def test_outbox_work_loop_stops_cleanly(app_factory, smtp):
    app = app_factory(**smtp.config())
    make_lead(app, "guide")
    stop = threading.Event()
    worker = threading.Thread(target=outbox.work_forever, args=(app, 0.05, stop))
    worker.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not smtp.inbox.messages:
        time.sleep(0.05)
    stop.set()
    worker.join(2)
    assert not worker.is_alive()
    assert len(smtp.inbox.messages) == 1


def test_without_mail_server_mail_is_written_as_eml_and_links_logged(app, caplog, tmp_path):
    caplog.set_level("INFO", logger="spine_site.mail.outbox")
    make_lead(app, "guide")
    assert deliver(app) == 1
    (eml,) = (tmp_path / "mail").glob("*.eml")
    assert b"grace@example.org" in eml.read_bytes()
    assert any("/guide/download/" in r.getMessage() for r in caplog.records)


def test_spam_gets_no_email(app, smtp):
    make_lead(app, spam=True)  # quarantined, as a filled-in honeypot is
    assert emails(app) == []


def test_the_file_transport_logs_only_the_sites_own_links(caplog, tmp_path):
    # Any other link in a mail stays out of the log. (Patient emails never echo a "first
    # name" holding a URL, test_patient_email_text, so the message is made here.)
    caplog.set_level("INFO", logger="spine_site.mail.outbox")
    msg = EmailMessage()
    msg["Subject"], msg["Message-ID"] = "Your guide", "<1.2@clinic.example>"
    msg.set_content(
        "Win at https://evil.example/prize now\n\nhttps://clinic.example/guide/download/t"
    )
    FileTransport(tmp_path / "mail", "https://clinic.example").send(msg)
    (eml,) = (tmp_path / "mail").glob("*.eml")
    assert b"evil.example" in eml.read_bytes()  # the mail itself is as sent
    logged = [r.getMessage() for r in caplog.records]
    assert any("https://clinic.example/guide/download/" in line for line in logged)
    assert not any("evil.example" in line for line in logged)
