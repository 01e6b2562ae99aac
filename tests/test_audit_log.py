"""The audit log: what is recorded (and what is not), and the admin's page of it."""

from __future__ import annotations

from sqlalchemy import select

from spine_site.extensions import db
from spine_site.models import AuditEvent
from tests.factories import make_lead, make_user
from tests.support import login


def test_audit_log_lists_and_filters_events(app, admin_client):
    make_user(app, "intake@clinic.example", "staff")
    login(app.test_client(), "intake@clinic.example", "not the password!")
    html = admin_client.get("/staff/audit").get_data(as_text=True)
    assert "Failed sign-in" in html and "Signed in" in html
    only_failed = admin_client.get("/staff/audit?action=login_failed").get_data(as_text=True)
    assert "intake@clinic.example" in only_failed
    assert "admin@clinic.example" not in only_failed.split("<tbody>")[1]
    by_actor = admin_client.get("/staff/audit?actor=admin@").get_data(as_text=True)
    assert "intake@clinic.example" not in by_actor.split("<tbody>")[1]
    assert (
        admin_client.get("/staff/audit?date_from=2999-01-01")
        .get_data(as_text=True)
        .count("Nothing matches")
        == 1
    )
    assert admin_client.get("/staff/audit?action=<script>&page=x").status_code == 200


def test_audit_pages_keep_the_date_filter(app, admin_client):
    with app.app_context():
        from spine_site.accounts import audit

        for _ in range(105):
            audit.record("logout", actor="someone@clinic.example")
        db.session.commit()
    html = admin_client.get("/staff/audit?date_from=2020-01-01").get_data(as_text=True)
    assert "date_from=2020-01-01" in html.split('class="pager"')[1]


def test_head_requests_leave_no_audit_trail(app, staff_client):
    lead_id = make_lead(app, email="patient1@example.com")
    staff_client.head(f"/staff/leads/{lead_id}")
    staff_client.head("/staff/leads/export.csv")
    with app.app_context():
        actions = db.session.scalars(select(AuditEvent.action)).all()
        assert "lead_view" not in actions and "export" not in actions
