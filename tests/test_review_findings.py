"""The security review's findings 2, 5, 6 and 7 (issue 11), each as the attacker tried it.

Findings 3 and 4 (the lockout) are in test_staff_auth.py, 1 in test_hostile_attribution.py.
"""

from __future__ import annotations

import base64
import json
import zlib

import pytest
from sqlalchemy import func, select

from spine_site import privacy
from spine_site.extensions import db
from spine_site.models import AuditEvent, Lead, NoteDraft, Person
from tests.factories import STAFF_PASSWORD, make_lead, make_user
from tests.html_forms import form_posting_to
from tests.support import login


def cookie_payload(client) -> str:
    """What anyone holding the browser can read in Flask's signed (not encrypted) cookie."""
    value = client.get_cookie("session").value
    compressed = value.startswith(".")
    data = value.lstrip(".").split(".")[0]
    raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    return (zlib.decompress(raw) if compressed else raw).decode()


# -- Finding 2: sign-out ends the session on the server ------------------------------------


def test_a_cookie_kept_from_before_sign_out_opens_nothing(app, staff_client):
    stolen = staff_client.get_cookie("session").value
    fields = form_posting_to(staff_client.get("/staff/").get_data(as_text=True), "/staff/logout")
    assert staff_client.post("/staff/logout", data=fields).status_code == 303
    replay = app.test_client()
    replay.set_cookie("session", stolen)
    response = replay.get("/staff/")
    assert response.status_code == 302 and response.location.startswith("/staff/login")


def test_signing_out_in_one_browser_leaves_the_others_signed_in(app, staff_client):
    laptop = app.test_client()
    assert login(laptop, "intake@clinic.example").status_code == 303
    fields = form_posting_to(staff_client.get("/staff/").get_data(as_text=True), "/staff/logout")
    staff_client.post("/staff/logout", data=fields)
    assert laptop.get("/staff/").status_code == 200


def test_a_timed_out_session_is_ended_on_the_server_too(app, staff_client):
    stolen = staff_client.get_cookie("session").value
    with staff_client.session_transaction() as session:
        session["staff_seen"] -= app.config["STAFF_IDLE_MINUTES"] * 60 + 1
    assert staff_client.get("/staff/").status_code == 302
    replay = app.test_client()
    replay.set_cookie("session", stolen)
    assert replay.get("/staff/").status_code == 302


# -- Finding 5: guessing the current password on /staff/password ----------------------------


def change_password(client, current: str, new: str = "a much better passphrase"):
    fields = form_posting_to(client.get("/staff/password").get_data(as_text=True), "")
    return client.post(
        "/staff/password", data={**fields, "current": current, "new": new, "confirm": new}
    )


def test_wrong_current_passwords_are_audited_and_end_the_session(app, staff_client):
    limit = app.config["LOGIN_MAX_FAILURES"]
    for _ in range(limit - 1):
        response = change_password(staff_client, "a guess at the password")
        assert response.status_code == 422
    last = change_password(staff_client, "one more guess at it")
    assert last.status_code == 303 and last.location.startswith("/staff/login")
    assert "too many wrong current passwords" in staff_client.get(last.location).get_data(
        as_text=True
    )
    assert staff_client.get("/staff/").status_code == 302
    with app.app_context():
        failed = db.session.scalar(
            select(func.count()).where(AuditEvent.action == "password_check_failed")
        )
        assert failed == limit
        assert db.session.scalar(
            select(func.count()).where(AuditEvent.action == "password_check_throttled")
        )
    # The right password, from the new session, still works.
    assert login(staff_client, "intake@clinic.example").status_code == 303
    assert change_password(staff_client, STAFF_PASSWORD).status_code == 303


# -- Finding 6: common and easily guessed passwords -----------------------------------------


WEAK = ["password1234", "aaaaaaaaaaaa", "123456789012", "qwertyuiop12", "valorspine2026"]


@pytest.mark.parametrize("weak", WEAK)
def test_the_command_line_refuses_a_weak_password(app, weak):
    result = app.test_cli_runner().invoke(
        args=["users", "create", "new@clinic.example", "--role", "staff"], input=weak + "\n"
    )
    assert result.exit_code != 0 and "harder to guess" in result.output


@pytest.mark.parametrize("weak", WEAK[:3])
def test_the_password_page_refuses_a_weak_password_and_says_why(staff_client, weak):
    page = staff_client.get("/staff/password").get_data(as_text=True)
    assert "not easy to guess" in page and "Common passwords" in page
    response = change_password(staff_client, STAFF_PASSWORD, weak)
    assert response.status_code == 422
    assert "harder to guess" in response.get_data(as_text=True)


def test_a_strong_password_is_accepted(app):
    result = app.test_cli_runner().invoke(
        args=["users", "create", "new@clinic.example", "--role", "staff"],
        input="lantern orbit pickle meadow\n",
    )
    assert result.exit_code == 0, result.output


# -- Finding 7: an unsaved note is kept on the server, never in the cookie ----------------------


def time_out_while_writing(app, client, lead_id: int, body: str) -> None:
    page = f"/staff/leads/{lead_id}"
    fields = form_posting_to(client.get(page).get_data(as_text=True), f"{page}/notes")
    with client.session_transaction() as session:
        session["staff_seen"] -= app.config["STAFF_IDLE_MINUTES"] * 60 + 1
    client.post(f"{page}/notes", data={**fields, "body": body})


def test_a_timed_out_note_is_not_in_the_cookie(app, staff_client):
    lead_id = make_lead(app)
    time_out_while_writing(app, staff_client, lead_id, "Sciatica worse since Monday")
    assert "Sciatica" not in cookie_payload(staff_client)
    assert "note_draft" not in cookie_payload(staff_client)
    with app.app_context():
        (draft,) = db.session.scalars(select(NoteDraft)).all()
        assert draft.body == "Sciatica worse since Monday" and draft.lead_id == lead_id


def test_a_note_from_an_expired_form_is_not_in_the_cookie(app, staff_client):
    lead_id = make_lead(app)
    staff_client.post(
        f"/staff/leads/{lead_id}/notes", data={"csrf_token": "expired", "body": "Numb left foot"}
    )
    assert "Numb" not in cookie_payload(staff_client)


def test_only_its_author_gets_the_draft_back(app, staff_client):
    lead_id = make_lead(app)
    time_out_while_writing(app, staff_client, lead_id, "Prefers mornings")
    make_user(app, "colleague@clinic.example", "staff")
    colleague = app.test_client()
    login(colleague, "colleague@clinic.example")
    assert "Prefers mornings" not in colleague.get(f"/staff/leads/{lead_id}").get_data(as_text=True)
    login(staff_client, "intake@clinic.example")
    assert "Prefers mornings" in staff_client.get(f"/staff/leads/{lead_id}").get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(NoteDraft)) == 0


def test_erasing_the_person_deletes_the_draft(app, staff_client):
    lead_id = make_lead(app)
    time_out_while_writing(app, staff_client, lead_id, "Prefers mornings")
    with app.app_context():
        person = db.session.get(Lead, lead_id).person
        privacy.erase_person(person, by=None)
        assert db.session.scalar(select(func.count()).select_from(NoteDraft)) == 0
        assert db.session.scalar(select(func.count()).select_from(Person)) == 0


def test_the_session_cookie_holds_no_health_details_after_a_day_of_work(app, staff_client):
    lead_id = make_lead(app)
    page = f"/staff/leads/{lead_id}"
    fields = form_posting_to(staff_client.get(page).get_data(as_text=True), f"{page}/notes")
    staff_client.post(f"{page}/notes", data={**fields, "body": "Herniated disc at L5"})
    payload = cookie_payload(staff_client)
    assert "Herniated" not in payload and "Lovelace" not in payload
    json.loads(payload)  # it is the plain JSON Flask signs: readable by whoever has it
