"""A passkey's challenge is answered once, whichever worker the answer reaches.

Each web worker keeps its own `memory://` rate-limit store, so nothing but the database can
say that a challenge was already answered. The story: someone captures a staff member's
cookie and passkey answer (a shared computer, a proxy's log) and sends them again to another
worker. The passkey is a software authenticator (tests/passkey_authenticator.py) driven the
way static/js/passkey.js drives the browser's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from spine_site import create_app
from spine_site.clock import utcnow
from spine_site.extensions import db
from spine_site.models import AuditEvent, WebAuthnChallenge
from tests.factories import make_user
from tests.passkey_authenticator import SoftAuthenticator
from tests.support import base_overrides, login, password_step

EMAIL = "intake@clinic.example"
# Two gunicorn workers, each with its own in-memory rate-limit store.
WORKER = {"RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://"}


@pytest.fixture
def workers(app_factory, tmp_path: Path) -> Iterator[tuple[Flask, Flask]]:
    first = app_factory(**WORKER)
    uri = first.config["SQLALCHEMY_DATABASE_URI"]
    second = create_app({**base_overrides(tmp_path / "second", uri), **WORKER})
    yield first, second
    with second.app_context():
        db.session.remove()
        db.engine.dispose()


def csrf_on(page: str) -> dict[str, str]:
    """The header passkey.js sends, from the passkey box's data-csrf."""
    match = re.search(r'data-passkey="[a-z]+"[^>]*data-csrf="([^"]+)"', page)
    assert match, "the page offers a passkey"
    return {"X-CSRFToken": match.group(1)}


def add_passkey(app: Flask) -> SoftAuthenticator:
    """A staff member signs in with their app's code and adds a passkey on the Security page."""
    make_user(app, EMAIL, "staff")
    client = app.test_client()
    assert login(client, EMAIL).status_code == 303
    headers = csrf_on(client.get("/staff/security").get_data(as_text=True))
    options = client.post("/staff/passkeys/options", headers=headers).get_json()
    authenticator = SoftAuthenticator(app.config["SITE_URL"])
    body = {"credential": authenticator.create(options), "name": "Laptop"}
    added = client.post("/staff/passkeys", json=body, headers=headers)
    assert added.status_code == 200, added.get_data(as_text=True)
    return authenticator


def passkey_answer(client: FlaskClient, authenticator: SoftAuthenticator) -> dict[str, Any]:
    """The password, then the passkey's answer to a fresh challenge (not yet sent), with
    the headers it goes with."""
    assert password_step(client, EMAIL).location.endswith("/staff/login/verify")
    headers = csrf_on(client.get("/staff/login/verify").get_data(as_text=True))
    options = client.post("/staff/login/passkey/options", headers=headers).get_json()
    return {"data": json.dumps(authenticator.get(options)), "headers": headers}


def send_answer(client: FlaskClient, answer: dict[str, Any]):
    return client.post(
        "/staff/login/passkey",
        data=answer["data"],
        headers=answer["headers"],
        content_type="application/json",
    )


def cookie_of(client: FlaskClient, app: Flask) -> str:
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    return cookie.value


def signed_in(client: FlaskClient) -> bool:
    return client.get("/staff/").status_code == 200


def test_a_captured_answer_replayed_on_another_worker_signs_nobody_in(workers):
    first, second = workers
    authenticator = add_passkey(first)
    staff = first.test_client()
    answer = passkey_answer(staff, authenticator)
    captured = cookie_of(staff, first)  # the cookie as it was when the answer was sent

    answered = send_answer(staff, answer)
    assert answered.status_code == 200 and answered.get_json()["redirect"] == "/staff/"
    assert signed_in(staff)

    for worker in (second, first):
        thief = worker.test_client()
        thief.set_cookie(worker.config["SESSION_COOKIE_NAME"], captured)
        replayed = send_answer(thief, answer)
        assert replayed.status_code == 400, replayed.get_data(as_text=True)
        assert "did not work" in replayed.get_json()["error"]
        assert not signed_in(thief)
    with first.app_context():
        logins = db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "login")
        )
        assert logins == 2, "the code sign-in to add the passkey, then the passkey once"


def test_an_expired_challenge_is_refused_and_cleared(workers):
    first, _ = workers
    authenticator = add_passkey(first)
    staff = first.test_client()
    answer = passkey_answer(staff, authenticator)
    with first.app_context():
        db.session.execute(
            update(WebAuthnChallenge).values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    assert send_answer(staff, answer).status_code == 400
    assert not signed_in(staff)
    # A new challenge is issued: expired ones go as it is kept.
    passkey_answer(first.test_client(), authenticator)
    with first.app_context():
        expires = db.session.scalars(select(WebAuthnChallenge.expires_at)).all()
        assert len(expires) == 1 and expires[0] > utcnow()


def test_a_challenge_answers_only_the_purpose_and_account_it_was_made_for(workers):
    first, _ = workers
    authenticator = add_passkey(first)
    staff = first.test_client()
    answer = passkey_answer(staff, authenticator)
    with first.app_context():
        db.session.execute(update(WebAuthnChallenge).values(purpose="register"))
        db.session.commit()
    assert send_answer(staff, answer).status_code == 400
    assert not signed_in(staff)
