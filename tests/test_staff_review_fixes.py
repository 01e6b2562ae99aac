"""Staff-side cases found in review: timeouts that keep typed work, races, odd input."""

from __future__ import annotations

import threading
import time

from sqlalchemy import select

from spine_site import casework, lead_list
from spine_site.extensions import db
from spine_site.models import (
    AuditEvent,
    EmailKind,
    EmailStatus,
    Lead,
    LeadStatus,
    LeadStatusChange,
    OutboxEmail,
    User,
)
from tests.factories import STAFF_PASSWORD, make_lead, make_user
from tests.html_forms import GUIDE, fill, form_posting_to, post_form
from tests.support import login


def test_a_paused_export_download_does_not_block_patients(app, staff_client):
    for n in range(3):
        make_lead(app, email=f"patient{n}@example.com")
    response = staff_client.get("/staff/leads/export.csv?spam=include", buffered=False)
    chunks = iter(response.response)
    header = next(chunks)
    first_batch = next(chunks)  # rows were read from the database; the client stops reading
    # The patient is another request on another thread, as on a real server (in this thread
    # Flask would reuse the export's still-open context, and with it its transaction).
    results: list[tuple[int, float]] = []

    def patient_submits() -> None:
        patient = app.test_client()
        fields = form_posting_to(patient.get("/guide").get_data(as_text=True), "/guide")
        started = time.monotonic()
        status = patient.post("/guide", data=fill(fields, "guide", GUIDE)).status_code
        results.append((status, time.monotonic() - started))

    worker = threading.Thread(target=patient_submits)
    worker.start()
    worker.join(30)
    ((status, elapsed),) = results
    assert status == 303 and elapsed < 2
    rest = b"".join(chunks)
    response.close()
    assert header.count(b"\r\n") == 1
    assert (first_batch + rest).count(b"\r\n") == 3


def test_failed_sign_in_to_no_account_keeps_nothing_typed(app):
    response = login(app.test_client(), "Zelda Quixotic 3125550199")
    assert response.status_code in {401, 422}
    login(app.test_client(), "zelda@example.com", "her password maybe")
    with app.app_context():
        events = db.session.scalars(select(AuditEvent)).all()
        assert all(e.actor is None for e in events)
        assert "zelda" not in str([(e.actor, e.detail, e.target) for e in events]).lower()


def test_lockout_is_per_address_and_an_admin_reset_lifts_it(app_factory):
    app = app_factory(TRUSTED_PROXIES=1)
    user_id = make_user(app, "intake@clinic.example", "staff")

    def attempt(ip: str, password: str = "wrong password!!") -> int:
        client = app.test_client()
        client.environ_base["HTTP_X_FORWARDED_FOR"] = ip
        return login(client, "intake@clinic.example", password).status_code

    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert attempt("198.51.100.7") == 401
    assert attempt("198.51.100.7", STAFF_PASSWORD) == 429
    assert attempt("203.0.113.20", STAFF_PASSWORD) == 303, "the clinic's own address still works"
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        attempt("198.51.100.8")
    assert attempt("198.51.100.8", STAFF_PASSWORD) == 429
    with app.app_context():
        from spine_site import users

        users.set_password(db.session.get(User, user_id), "a fresh temporary password")
        db.session.commit()
    assert attempt("198.51.100.8", "a fresh temporary password") == 303


def test_successful_sign_ins_do_not_use_up_the_address_limit(app_factory):
    app = app_factory(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="3 per minute")
    make_user(app, "intake@clinic.example", "staff")
    for _ in range(5):
        assert login(app.test_client(), "intake@clinic.example").status_code == 303


def test_odd_numbers_and_dates_are_handled(app, admin_client):
    make_lead(app, email="patient1@example.com")
    for url in (
        "/staff/?page=%C2%B2",
        "/staff/?page=99999999999999999999",
        "/staff/?date_to=9999-12-31",
        "/staff/?date_from=0001-01-01",
        "/staff/audit?date_to=9999-12-31&page=%C2%B2",
        "/staff/leads/export.csv?date_to=9999-12-31",
    ):
        with admin_client.get(url) as response:
            assert response.status_code == 200, url
    for url in ("/staff/leads/3000000000", "/staff/leads/99999999999999999999", "/staff/leads/0"):
        assert admin_client.get(url).status_code == 404, url
    page = admin_client.get("/staff/users").get_data(as_text=True)
    fields = form_posting_to(page, "")
    assert (
        admin_client.post(
            "/staff/users/3000000000/role", data={**fields, "role": "staff"}
        ).status_code
        == 404
    )


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


def test_sign_in_page_left_open_too_long_says_so(app):
    make_user(app, "intake@clinic.example", "staff")
    response = app.test_client().post(
        "/staff/login",
        data={"csrf_token": "expired", "email": "intake@clinic.example", "password": "x"},
    )
    assert response.status_code == 400
    assert "sat open too long" in response.get_data(as_text=True)


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


def test_phone_search_accepts_any_common_format(app):
    make_lead(app, email="patient1@example.com")
    with app.app_context():
        for q in ("+1 312 867 5309", "(312) 867-5309", "312.867.5309", "8675309"):
            assert lead_list.list_leads(lead_list.LeadFilter(q=q), 1, 50).total == 1, q


def test_cells_starting_with_an_apostrophe_round_trip(app, staff_client):
    from spine_site.export import neutralize

    assert neutralize("'t Hooft") == "''t Hooft"
    make_lead(app, email="patient1@example.com", last_name="'t Hooft")
    body = staff_client.get("/staff/leads/export.csv").get_data().decode("utf-8-sig")
    assert ",''t Hooft," in body


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


def test_head_requests_leave_no_audit_trail(app, staff_client):
    lead_id = make_lead(app, email="patient1@example.com")
    staff_client.head(f"/staff/leads/{lead_id}")
    staff_client.head("/staff/leads/export.csv")
    with app.app_context():
        actions = db.session.scalars(select(AuditEvent.action)).all()
        assert "lead_view" not in actions and "export" not in actions


def test_audit_pages_keep_the_date_filter(app, admin_client):
    with app.app_context():
        from spine_site import audit

        for _ in range(105):
            audit.record("logout", actor="someone@clinic.example")
        db.session.commit()
    html = admin_client.get("/staff/audit?date_from=2020-01-01").get_data(as_text=True)
    assert "date_from=2020-01-01" in html.split('class="pager"')[1]
