"""Staff accounts on the admin's page: creating them, roles, password resets."""

from __future__ import annotations

import re

from sqlalchemy import select

from spine_site.extensions import db
from spine_site.models import AuditEvent, Role, User
from tests.factories import make_user
from tests.html_forms import form_posting_to
from tests.support import login


def test_admin_creates_an_account_and_sees_its_temporary_password_once(app, admin_client):
    fields = form_posting_to(admin_client.get("/staff/users").get_data(as_text=True), "")
    response = admin_client.post(
        "/staff/users", data={**fields, "email": "New.Person@Clinic.example", "role": "marketing"}
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    password = re.search(r'<code class="secret">([^<]+)</code>', html).group(1)
    assert len(password) >= 16
    assert login(app.test_client(), "new.person@clinic.example", password).status_code == 303
    assert password not in admin_client.get("/staff/users").get_data(as_text=True)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "new.person@clinic.example"))
        assert user.role is Role.MARKETING
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "user_create")
        ).one()
        assert event.detail == {"role": "marketing"} and password not in str(event.detail)


def test_duplicate_or_bad_email_is_refused_plainly(app, admin_client):
    fields = form_posting_to(admin_client.get("/staff/users").get_data(as_text=True), "")
    dup = admin_client.post(
        "/staff/users", data={**fields, "email": "admin@clinic.example", "role": "staff"}
    )
    assert dup.status_code == 422 and "already exists" in dup.get_data(as_text=True)
    bad = admin_client.post(
        "/staff/users", data={**fields, "email": "not-an-email", "role": "staff"}
    )
    assert bad.status_code == 422


def test_admin_changes_a_role_and_resets_a_password(app, admin_client):
    user_id = make_user(app, "intake@clinic.example", "staff")
    page = admin_client.get("/staff/users").get_data(as_text=True)
    fields = form_posting_to(page, f"/staff/users/{user_id}/role")
    admin_client.post(f"/staff/users/{user_id}/role", data={**fields, "role": "marketing"})
    with app.app_context():
        assert db.session.get(User, user_id).role is Role.MARKETING

    intake = app.test_client()
    login(intake, "intake@clinic.example")
    fields = form_posting_to(
        admin_client.get("/staff/users").get_data(as_text=True), f"/staff/users/{user_id}/reset"
    )
    html = admin_client.post(f"/staff/users/{user_id}/reset", data=fields).get_data(as_text=True)
    password = re.search(r'<code class="secret">([^<]+)</code>', html).group(1)
    assert intake.get("/staff/").status_code == 302, "the reset ended their session"
    assert login(app.test_client(), "intake@clinic.example", password).status_code == 303


def test_admin_cannot_lock_themselves_out(app, admin_client):
    with app.app_context():
        admin_id = db.session.scalar(select(User.id))
    page = admin_client.get("/staff/users").get_data(as_text=True)
    admin_client.post(
        f"/staff/users/{admin_id}/active",
        data=form_posting_to(page, f"/staff/users/{admin_id}/active"),
    )
    admin_client.post(
        f"/staff/users/{admin_id}/role",
        data={**form_posting_to(page, f"/staff/users/{admin_id}/role"), "role": "staff"},
    )
    with app.app_context():
        admin = db.session.get(User, admin_id)
        assert admin.active and admin.role is Role.ADMIN
    assert admin_client.get("/staff/users").status_code == 200
