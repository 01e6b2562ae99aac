"""A battery of nasty input through every public form field and the staff fields, and
staff pages that show whatever was stored (or typed into a URL) safely.

The rule for every case: never a 500, never a partial write, and each value either stored
exactly (as the patient would see it: trimmed, line breaks as \\n) or refused in plain words.
"""

from __future__ import annotations

import html as htmllib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from spine_site.extensions import db
from spine_site.models import Lead, Note, OutboxEmail
from spine_site.public.forms import GuideForm, ScheduleForm
from tests.factories import make_lead, make_user
from tests.html_forms import GUIDE, SCHEDULE, fill, form_posting_to, post_form
from tests.support import login

NASTY = {
    "over_long": "x" * 10_000,
    "rtl_override": "Ada\u202eecalevol",
    "zero_width": "A\u200bda",
    "nul": "Ada\x00",
    "crlf_header": "Ada\r\nBcc: everyone@example.com",
    "lf": "Ada\nLovelace",
    "script": "<script>alert(1)</script>",
    "sql": "'; DROP TABLE lead; --",
    "formula": "=cmd|' /C calc'!A0",
    "plus_formula": "+SUM(1,2)",
    "emoji": "Ada 🙂",
    "accents": "Zoë Ångström-Núñez",
    "cjk": "山田 花子",
    "rtl_name": "محمد",
    "replacement_char": "Ada\ufffd",
    "only_spaces": "    ",
    "percent_encoded": "%00%0d%0a",
    "backslashes": "C:\\Windows\\system32",
    "long_unicode": "é" * 101,
}
SCHEDULE_FIELDS = list(ScheduleForm.field_order)
GUIDE_FIELDS = list(GuideForm.field_order)


def counts(app) -> tuple[int, int]:
    with app.app_context():
        leads = db.session.scalar(select(func.count()).select_from(Lead))
        emails = db.session.scalar(select(func.count()).select_from(OutboxEmail))
        return leads, emails


def expected_stored(field: str, value: str) -> str | None:
    if field == "message":
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    return value.strip() or None  # an optional field left blank is stored as empty (NULL)


def check_one(app, form: str, field: str, value: str) -> None:
    client = app.test_client()
    prefix, base = ("appt", SCHEDULE) if form == "schedule" else ("guide", GUIDE)
    fields = form_posting_to(client.get(f"/{form}").get_data(as_text=True), f"/{form}")
    before = counts(app)
    response = client.post(f"/{form}", data=fill(fields, prefix, {**base, field: value}))
    after = counts(app)
    assert response.status_code in {303, 400, 413, 422}, (field, value, response.status_code)
    if response.status_code == 303:
        new_leads = after[0] - before[0]
        assert new_leads == 1
        assert after[1] - before[1] == (2 if form == "schedule" else 1), "lead without its mail"
        with app.app_context():
            lead = db.session.scalars(select(Lead).order_by(Lead.id.desc())).first()
            stored = getattr(lead, field, None)
        if field in {"first_name", "last_name", "message"}:
            assert stored == expected_stored(field, value), (field, value, stored)
    else:
        assert after == before, "a refused submission wrote something"
        page = htmllib.unescape(response.get_data(as_text=True))
        assert 'class="error-summary"' in page


@pytest.mark.parametrize("name", sorted(NASTY))
@pytest.mark.parametrize("field", SCHEDULE_FIELDS)
def test_schedule_form_battery(app, field, name):
    check_one(app, "schedule", field, NASTY[name])


@pytest.mark.parametrize("name", sorted(NASTY))
@pytest.mark.parametrize("field", GUIDE_FIELDS)
def test_guide_form_battery(app, field, name):
    check_one(app, "guide", field, NASTY[name])


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    field=st.sampled_from(["first_name", "last_name", "message"]),
    value=st.text(max_size=120),
)
def test_any_text_is_stored_exactly_or_refused(app, field, value):
    check_one(app, "schedule", field, value)


def test_duplicated_fields_take_the_first_value(app):
    client = app.test_client()
    fields = form_posting_to(client.get("/guide").get_data(as_text=True), "/guide")
    from werkzeug.datastructures import MultiDict

    data = MultiDict(list(fill(fields, "guide", GUIDE).items()))
    data.add("guide-first_name", "Second")
    assert client.post("/guide", data=data).status_code == 303
    with app.app_context():
        assert db.session.scalar(select(Lead.first_name)) == "Grace"


def test_missing_fields_are_errors_not_crashes(app):
    client = app.test_client()
    fields = form_posting_to(client.get("/schedule").get_data(as_text=True), "/schedule")
    for drop in [
        "appt-first_name",
        "appt-email",
        "appt-consent",
        "appt-form_token",
        "appt-contact_method",
    ]:
        data = {k: v for k, v in fill(fields, "appt", SCHEDULE).items() if k != drop}
        assert client.post("/schedule", data=data).status_code in {303, 400, 422}, drop


def test_invalid_utf8_never_crashes_or_stores_garbage(app):
    client = app.test_client()
    fields = form_posting_to(client.get("/guide").get_data(as_text=True), "/guide")
    good = {k: v for k, v in fill(fields, "guide", GUIDE).items() if k != "guide-first_name"}
    from urllib.parse import urlencode

    # Raw invalid bytes in a url-encoded body: Werkzeug cannot read the form at all.
    raw = urlencode(good).encode() + b"&guide-first_name=\xff\xfeAda"
    response = client.post("/guide", data=raw, content_type="application/x-www-form-urlencoded")
    assert response.status_code in {400, 422}
    # The same bytes in a multipart part arrive as U+FFFD, which is refused in plain words.
    boundary = "b0undary"
    parts = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in good.items()
    )
    parts += (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="guide-first_name"\r\n\r\n'
        ).encode()
        + b"\xff\xfeAda\r\n"
        + f"--{boundary}--\r\n".encode()
    )
    response = client.post(
        "/guide", data=parts, content_type=f"multipart/form-data; boundary={boundary}"
    )
    assert response.status_code == 422
    assert "couldn" in htmllib.unescape(response.get_data(as_text=True))
    assert counts(app) == (0, 0)


def test_multipart_body_works_like_a_form(app):
    client = app.test_client()
    fields = form_posting_to(client.get("/guide").get_data(as_text=True), "/guide")
    response = client.post(
        "/guide", data=fill(fields, "guide", GUIDE), content_type="multipart/form-data"
    )
    assert response.status_code == 303


@pytest.mark.parametrize("name", sorted(NASTY))
def test_staff_fields_battery(app, name):
    value = NASTY[name]
    make_user(app, "intake@clinic.example", "staff")
    staff = app.test_client()
    login(staff, "intake@clinic.example")
    make_lead(app, "guide")  # lead 1, for the pages below
    for query in (
        {"q": value},
        {"date_from": value},
        {"status": value},
        {"form": value},
        {"spam": value},
        {"page": value},
    ):
        assert staff.get("/staff/", query_string=query).status_code == 200, query
        with staff.get("/staff/leads/export.csv", query_string=query) as response:
            assert response.status_code == 200
    page = staff.get("/staff/leads/1").get_data(as_text=True)
    fields = form_posting_to(page, "/staff/leads/1/notes")
    response = staff.post("/staff/leads/1/notes", data={**fields, "body": value})
    assert response.status_code == 303
    with app.app_context():
        notes = db.session.scalars(select(Note.body)).all()
    assert notes in ([], [expected_stored("message", value)]) or len(value) > 5000
    status = form_posting_to(page, "/staff/leads/1/status")
    assert staff.post("/staff/leads/1/status", data={**status, "status": value}).status_code == 303
    assert staff.get(f"/staff/leads/{value[:20]}").status_code == 404
    assert login(app.test_client(), value[:300], value[:300]).status_code in {401, 422}


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
        from spine_site.accounts import audit

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
