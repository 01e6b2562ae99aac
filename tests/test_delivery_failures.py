"""When delivery goes wrong: a mail server that refuses for good or for now (a real aiosmtpd
on loopback), and a database that drops while a send is being recorded.
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import event, select, update

from spine_site.extensions import db
from spine_site.mail.transports import Rejected, failure_summary, permanent_refusal
from spine_site.models import EmailStatus, OutboxEmail
from tests.factories import make_lead, make_user
from tests.support import Inbox, deliver, free_port, login, the_email


class RefusingInbox(Inbox):
    """An inbox that answers RCPT (or DATA) with the reply it is given."""

    def __init__(self, rcpt_reply: str | None = None, data_reply: str | None = None) -> None:
        super().__init__()
        self.rcpt_reply, self.data_reply = rcpt_reply, data_reply
        self.rcpt_tries = 0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        self.rcpt_tries += 1
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            return self.data_reply
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def refusing_server() -> Iterator[Any]:
    controllers: list[Controller] = []

    def start(**replies: str) -> tuple[dict[str, Any], RefusingInbox]:
        inbox, port = RefusingInbox(**replies), free_port()
        controller = Controller(inbox, hostname="127.0.0.1", port=port)
        controller.start()
        controllers.append(controller)
        return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": port, "MAIL_TIMEOUT": 5}, inbox

    yield start
    for controller in controllers:
        controller.stop()


def make_due_now(app) -> None:
    with app.app_context():
        db.session.execute(update(OutboxEmail).values(next_attempt_at=datetime.now(UTC)))
        db.session.commit()


# -- The mail server refuses ---------------------------------------------------------------


# What a remote server says is text anyone who runs a mail server chooses: a refusal can
# read like a message from the clinic. Staff see its code and a fixed explanation; the
# server's own words go to the log only.
HOSTILE_REFUSAL = "550 5.1.1 <grace@example.org> disabled: call billing at 555-0100 or https://evil.example/verify"
ADDRESS_REFUSED = "SMTP 550: the receiving mail server refused the address"


def test_no_such_mailbox_fails_the_email_at_once_with_a_fixed_explanation(
    app_factory, refusing_server, caplog
):
    caplog.set_level("WARNING", logger="spine_site.mail.outbox")
    settings, inbox = refusing_server(rcpt_reply=HOSTILE_REFUSAL)
    app = app_factory(**settings)
    make_lead(app, "guide")
    assert deliver(app) == 0
    email = the_email(app)
    assert email.status is EmailStatus.FAILED and email.attempts == 1
    assert email.last_error == f"Refused by the mail server, not retried: {ADDRESS_REFUSED}"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "call billing at 555-0100 or https://evil.example/verify" in logged
    assert "grace@example.org" not in logged, "the patient's address stays out of the log"
    make_due_now(app)
    assert deliver(app) == 0
    assert inbox.rcpt_tries == 1, "a refused address is not asked again"


def test_staff_see_the_refusals_code_and_explanation_not_the_servers_words(
    app_factory, refusing_server
):
    settings, _ = refusing_server(rcpt_reply=HOSTILE_REFUSAL)
    app = app_factory(**settings)
    lead_id = make_lead(app, "guide")
    deliver(app)
    make_user(app, "intake@clinic.example", "staff")
    client = app.test_client()
    assert login(client, "intake@clinic.example").status_code == 303
    page = client.get(f"/staff/leads/{lead_id}").get_data(as_text=True)
    assert f"Refused by the mail server, not retried: {ADDRESS_REFUSED}" in page
    assert "failed" in page and "Resend" in page
    for echoed in ("billing", "555-0100", "evil.example", "5.1.1"):
        assert echoed not in page, echoed


def test_refused_content_fails_at_once(app_factory, refusing_server):
    settings, _ = refusing_server(data_reply="554 5.6.0 Message content rejected, see evil.example")
    app = app_factory(**settings)
    make_lead(app, "guide")
    assert deliver(app) == 0
    email = the_email(app)
    assert email.status is EmailStatus.FAILED and email.attempts == 1
    assert email.last_error == (
        "Refused by the mail server, not retried: "
        "SMTP 554: the receiving mail server refused the message"
    )


def test_a_temporary_refusal_is_retried_later(app_factory, refusing_server):
    settings, inbox = refusing_server(rcpt_reply="450 4.2.1 Mailbox busy, see evil.example")
    app = app_factory(**settings)
    make_lead(app, "guide")
    assert deliver(app) == 0
    email = the_email(app)
    assert email.status is EmailStatus.QUEUED and email.attempts == 1
    assert email.last_error == (
        "SMTP 450: the receiving mail server could not take the address for now"
    )
    assert email.next_attempt_at > datetime.now(UTC) + timedelta(seconds=20)
    inbox.rcpt_reply = None  # the mailbox has room again
    make_due_now(app)
    assert deliver(app) == 1
    assert the_email(app).status is EmailStatus.SENT


def refused(*replies: tuple[int, bytes]) -> smtplib.SMTPRecipientsRefused:
    return smtplib.SMTPRecipientsRefused({f"p{n}@x.org": r for n, r in enumerate(replies)})


@pytest.mark.parametrize(
    ("error", "permanent"),
    [
        (refused((550, b"5.1.1 No such user")), True),
        (refused((452, b"4.2.2 Over quota")), False),
        # Mixed replies: some address may still get it, so try again.
        (refused((550, b"5.1.1 No such user"), (451, b"4.3.0 Later")), False),
        # "Sign in / STARTTLS first": the settings, not this message.
        (refused((530, b"5.7.0 Authentication required")), False),
        (smtplib.SMTPDataError(552, b"5.3.4 Message too big"), True),
        (smtplib.SMTPDataError(451, b"4.3.0 Try later"), False),
        # The sender and the sign-in are the same for every message: retried.
        (smtplib.SMTPSenderRefused(553, b"5.7.1 Sender not owned", "care@clinic.example"), False),
        (smtplib.SMTPAuthenticationError(535, b"5.7.8 Bad credentials"), False),
    ],
)
def test_only_a_refusal_of_this_message_counts_as_permanent(error, permanent):
    assert permanent_refusal(error) is permanent


EVIL = b"5.7.1 Call billing at 555-0100: https://evil.example/verify"


@pytest.mark.parametrize(
    ("error", "summary"),
    [
        (refused((550, EVIL)), "SMTP 550: the receiving mail server refused the address"),
        (
            refused((452, EVIL)),
            "SMTP 452: the receiving mail server could not take the address for now",
        ),
        (
            refused((550, EVIL), (451, EVIL)),
            "SMTP 451, 550: the receiving mail server could not take the address for now",
        ),
        (
            refused((530, EVIL)),
            "SMTP 530: the mail server asks for STARTTLS or a sign-in first (the MAIL_ settings)",
        ),
        (
            Rejected(smtplib.SMTPDataError(552, EVIL)),
            "SMTP 552: the receiving mail server refused the message",
        ),
        (
            smtplib.SMTPDataError(451, EVIL),
            "SMTP 451: the receiving mail server could not take the message for now",
        ),
        (
            smtplib.SMTPSenderRefused(553, EVIL, "care@clinic.example"),
            "SMTP 553: the mail server refused the sender address (MAIL_DEFAULT_SENDER)",
        ),
        (
            smtplib.SMTPAuthenticationError(535, EVIL),
            "SMTP 535: the mail server refused the sign-in (MAIL_USERNAME, MAIL_PASSWORD)",
        ),
        (smtplib.SMTPConnectError(554, EVIL), "SMTP 554: the mail server refused the connection"),
        (smtplib.SMTPHeloError(421, EVIL), "SMTP 421: the mail server refused the connection"),
        (smtplib.SMTPResponseException(454, EVIL), "SMTP 454: the mail server refused, for now"),
        (smtplib.SMTPResponseException(502, EVIL), "SMTP 502: the mail server refused"),
        # No reply from a server: the error's own words, which this machine wrote.
        (
            ConnectionRefusedError(111, "Connection refused"),
            "ConnectionRefusedError: [Errno 111] Connection refused",
        ),
        (
            smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
            "SMTPServerDisconnected: Connection unexpectedly closed",
        ),
    ],
)
def test_what_staff_see_of_a_failure_is_a_code_and_a_fixed_explanation(error, summary):
    assert failure_summary(error) == summary


# -- The database drops while a send is being recorded --------------------------------------


class DatabaseDrop:
    """Makes the statement that records a send fail as a dropped connection would, `times`
    times (None: until stopped), with the driver's own OperationalError."""

    def __init__(self, app, times: int | None) -> None:
        with app.app_context():
            self.engine = db.engine
        self.times, self.failed = times, 0
        self.error = self.engine.dialect.loaded_dbapi.OperationalError
        event.listen(self.engine, "before_cursor_execute", self.drop)

    def drop(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        recording = statement.lstrip().upper().startswith("UPDATE OUTBOX_EMAIL")
        if (
            recording
            and "sent_at" in statement
            and (self.times is None or self.failed < self.times)
        ):
            self.failed += 1
            raise self.error("server closed the connection unexpectedly")

    def stop(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self.drop)


def test_a_short_database_drop_while_recording_a_send_is_waited_out(smtp_app, smtp):
    make_lead(smtp_app, "guide")
    drop = DatabaseDrop(smtp_app, times=2)
    try:
        assert deliver(smtp_app) == 1
    finally:
        drop.stop()
    assert drop.failed == 2, "the recording failed twice, then went through"
    email = the_email(smtp_app)
    assert email.status is EmailStatus.SENT and email.attempts == 1
    assert email.last_error is None
    # Recorded as sent, so never sent again: not after a retry, nor after its lease.
    with smtp_app.app_context():
        db.session.execute(
            update(OutboxEmail).values(claimed_until=datetime.now(UTC) - timedelta(hours=1))
        )
        db.session.commit()
    make_due_now(smtp_app)
    assert deliver(smtp_app) == 0
    assert len(smtp.inbox.messages) == 1


def test_a_long_database_drop_leaves_the_email_to_its_lease_not_failed(app_factory, smtp):
    # Past half the lease the sender stops waiting. The send cannot be recorded, so the
    # email is neither failed nor forgotten: its lease runs out and it goes again. Sent twice
    # beats never sent (at least once, the design).
    app = app_factory(**smtp.config(), OUTBOX_LEASE_SECONDS=2)
    make_lead(app, "guide")
    drop = DatabaseDrop(app, times=None)
    try:
        with pytest.raises(Exception, match="server closed the connection") as raised:
            deliver(app)
        assert "OperationalError" in type(raised.value).__name__
    finally:
        drop.stop()
    assert drop.failed >= 2, "it kept trying while the lease allowed"
    email = the_email(app)
    assert email.status is EmailStatus.SENDING and email.last_error is None
    with app.app_context():
        db.session.execute(
            update(OutboxEmail).values(claimed_until=datetime.now(UTC) - timedelta(seconds=1))
        )
        db.session.commit()
    assert deliver(app) == 1
    assert the_email(app).status is EmailStatus.SENT
    assert len(smtp.inbox.messages) == 2
    with app.app_context():
        assert db.session.scalars(select(OutboxEmail.attempts)).one() == 2
