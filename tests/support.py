"""What the tests run against: an app on a fresh migrated database, a real SMTP server on
loopback, and staff signed in through the real sign-in page.

TEST_DATABASE_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test) runs the whole
suite on that database instead of a SQLite file per test. The fixtures in conftest.py are
built from these; a test that needs its own app, server or session calls them directly.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text
from werkzeug.test import TestResponse

from spine_site import create_app
from spine_site.articles.files import seed_if_empty
from spine_site.extensions import db
from spine_site.mail import outbox
from spine_site.models import OutboxEmail
from tests.factories import STAFF_PASSWORD, make_user, totp_code
from tests.html_forms import form_posting_to

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")

STATIC_BUILD_DIR = Path(tempfile.gettempdir()) / f"spine-site-test-static-{os.getuid()}"


# -- The app ------------------------------------------------------------------------------


def base_overrides(tmp_path: Path, database_uri: str) -> dict[str, Any]:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
        "SQLALCHEMY_DATABASE_URI": database_uri,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "MAIL_FILE_DIR": str(tmp_path / "mail"),
        "SITE_URL": "https://clinic.example",
        "STAFF_NOTIFY_EMAIL": "intake@clinic.example",
        "MAIL_DEFAULT_SENDER": "Valor Spine <care@clinic.example>",
        "MAIL_REPLY_TO": "frontdesk@clinic.example",
        # Delivery is driven by each test unless it is about the in-process sender.
        "OUTBOX_IN_PROCESS": False,
        "FORM_MIN_FILL_SECONDS": 0,
        "RATELIMIT_ENABLED": False,
        # Content-addressed, so every test app can share one build of static/.
        "STATIC_BUILD_DIR": str(STATIC_BUILD_DIR),
        # Page views are added up when a test asks (the analytics page, or flush()).
        "ANALYTICS_FLUSH_SECONDS": 0,
        # Each request sees the articles as the database has them (a publish shows at once).
        "ARTICLES_CHECK_SECONDS": 0,
    }


def make_app(tmp_path: Path, migrated_template: str | None, **overrides: Any) -> Flask:
    """An app on a copy of the migrated template (SQLite), or on the emptied TEST_DATABASE_URL."""
    if TEST_DATABASE_URL:
        uri = TEST_DATABASE_URL
    else:
        assert migrated_template is not None
        path = tmp_path / "test.sqlite3"
        shutil.copy(migrated_template, path)
        uri = f"sqlite:///{path}"
    app = create_app({**base_overrides(tmp_path, uri), **overrides})
    if TEST_DATABASE_URL and app.config["SQLALCHEMY_DATABASE_URI"] == TEST_DATABASE_URL:
        with app.app_context():
            tables = ", ".join(t.name for t in db.metadata.sorted_tables)
            db.session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            db.session.commit()
            # The bundled articles, as the SQLite template has them (conftest.py): each test
            # starts from the same site on either database.
            seed_if_empty()
    return app


# -- A real SMTP server on loopback ------------------------------------------------------


@dataclass
class Inbox:
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    # The bytes as they arrived, for checks the parsed message would hide (header encoding).
    raw: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.original_content, policy=policy.default)
        with self.lock:
            self.messages.append(msg)  # type: ignore[arg-type]
            self.raw.append(envelope.original_content)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if m["To"] == address]


@dataclass
class SMTPServer:
    host: str
    port: int
    inbox: Inbox
    controller: Controller

    def config(self) -> dict[str, Any]:
        return {"MAIL_SERVER": self.host, "MAIL_PORT": self.port, "MAIL_TIMEOUT": 5}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_smtp(port: int | None = None) -> SMTPServer:
    inbox = Inbox()
    port = port or free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    return SMTPServer("127.0.0.1", port, inbox, controller)


# -- The outbox, driven by the test --------------------------------------------------------


def deliver(app: Flask) -> int:
    """One round of the outbox sender, as the worker runs it."""
    with app.app_context():
        return outbox.deliver_due()


def the_email(app: Flask) -> OutboxEmail:
    """The one email the test made, detached for reading after the context ends."""
    with app.app_context():
        email = db.session.scalars(select(OutboxEmail)).one()
        db.session.expunge(email)
        return email


# -- Staff signed in through the sign-in page ---------------------------------------------


def login(
    client: FlaskClient, email: str, password: str = STAFF_PASSWORD, next: str | None = None
) -> TestResponse:
    """Sign in through the pages: the password, then (when asked) the authenticator code.

    Returns the password step's answer when it does not lead to the code page (a refusal,
    enrolment), else the code step's answer (303 to where the person was going)."""
    response = password_step(client, email, password, next)
    if response.status_code != 303 or not response.location.endswith("/staff/login/verify"):
        return response
    return code_step(client, totp_code(client.application, email))


def password_step(
    client: FlaskClient, email: str, password: str = STAFF_PASSWORD, next: str | None = None
) -> TestResponse:
    fields = form_posting_to(client.get("/staff/login").get_data(as_text=True), "")
    url = "/staff/login" + (f"?next={quote(next, safe='')}" if next else "")
    return client.post(url, data={**fields, "email": email, "password": password})


def code_step(client: FlaskClient, code: str) -> TestResponse:
    page = client.get("/staff/login/verify").get_data(as_text=True)
    fields = form_posting_to(page, "")
    return client.post("/staff/login/verify", data={**fields, "code": code})


def signed_in(app: Flask, email: str, role: str) -> FlaskClient:
    """A new account of this role, and a client signed in as it."""
    make_user(app, email, role)
    client = app.test_client()
    assert login(client, email).status_code == 303
    return client


def export_rows(client: FlaskClient, path: str = "/staff/leads/export.csv") -> list[dict[str, str]]:
    """The leads CSV's rows, keyed by column code: its header row holds the labels people
    read, and COLUMNS pairs each label with its stable code."""
    import csv
    import io

    from spine_site.leads.export import COLUMNS

    code_of = {c.label: c.code for c in COLUMNS}
    body = client.get(path).get_data()
    assert body.startswith("\ufeff".encode()), "UTF-8 BOM so Excel reads it as UTF-8"
    rows = csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline=""))
    return [{code_of[label]: value for label, value in row.items()} for row in rows]
