"""Who may use each staff route, checked by requests as each role.

The expected table is written out here, on purpose, rather than read from
spine_site/staff/access.py (ACCESS) or docs/staff.md: a role changed in the code must fail
this test until someone changes the table below too, knowingly. A new staff route fails it
until it is added here.

Allowed means the role table let the request through (anything but 403, and the session is
still signed in); denied means 403. A visitor who is not signed in is sent to the sign-in
page from every route that is not part of signing in.
"""

from __future__ import annotations

import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient
from sqlalchemy import select

from spine_site.extensions import db
from spine_site.models import ArticleRecord, EmailKind, Lead, OutboxEmail
from tests.factories import make_lead, make_user, totp_code
from tests.html_forms import forms_in
from tests.support import code_step, password_step, signed_in

A, S, M, E = "admin", "staff", "marketing", "editor"
ROLES = (A, S, M, E)
EVERYONE = frozenset(ROLES)
# Editors write articles and never see a lead.
LEADS = frozenset({A, S, M})

# Part of signing in: open before sign-in (each view checks the step it belongs to).
SIGN_IN_STEPS = frozenset(
    {
        "staff.login",
        "staff.login_verify",
        "staff.passkey_login_options",
        "staff.passkey_login",
        "staff.enrol",
    }
)
# Adding a passkey is also open before sign-in, to someone enrolling their first factor;
# signed in, the role table applies as to any other route.
OPEN_WHILE_ENROLLING = frozenset({"staff.passkey_register_options", "staff.passkey_register"})

EXPECTED: dict[str, frozenset[str]] = {
    # Everyone signed in: their own account. Everyone but editors: the lead list and its
    # exports (marketing's leave out medical free text; tests/test_export.py checks that).
    "staff.logout": EVERYONE,
    "staff.password": EVERYONE,
    "staff.security": EVERYONE,
    "staff.totp_setup": EVERYONE,
    "staff.totp_remove": EVERYONE,
    "staff.passkey_register_options": EVERYONE,
    "staff.passkey_register": EVERYONE,
    "staff.passkey_remove": EVERYONE,
    "staff.recovery_codes": EVERYONE,
    "staff.leads": LEADS,
    "staff.export": LEADS,
    "staff.export_xlsx": LEADS,
    # Intake: one lead, with its health details, and what is done to it.
    "staff.lead": frozenset({A, S}),
    "staff.lead_status": frozenset({A, S}),
    "staff.lead_note": frozenset({A, S}),
    "staff.lead_spam": frozenset({A, S}),
    "staff.email_resend": frozenset({A, S}),
    "staff.lead_attempt": frozenset({A, S}),
    "staff.lead_follow_up": frozenset({A, S}),
    "staff.lead_owner": frozenset({A, S}),
    "staff.person": frozenset({A, S}),
    # Admin only: erasure, accounts and their factors, the audit log.
    "staff.erase": frozenset({A}),
    "staff.users": frozenset({A}),
    "staff.user_role": frozenset({A}),
    "staff.user_active": frozenset({A}),
    "staff.user_reset": frozenset({A}),
    "staff.user_mfa_reset": frozenset({A}),
    "staff.audit_log": frozenset({A}),
    # Marketing's numbers (and admin's).
    "staff.analytics": frozenset({A, M}),
    "staff.analytics_csv": frozenset({A, M}),
    # Articles: editors (and admins) write, publish and upload images; marketing reads.
    "staff.articles": frozenset({A, E, M}),
    "staff.article": frozenset({A, E, M}),
    "staff.article_preview": frozenset({A, E, M}),
    "staff.article_revisions": frozenset({A, E, M}),
    "staff.article_compare": frozenset({A, E, M}),
    "staff.article_new": frozenset({A, E}),
    "staff.article_save": frozenset({A, E}),
    "staff.article_submit": frozenset({A, E}),
    "staff.article_publish": frozenset({A, E}),
    "staff.article_unpublish": frozenset({A, E}),
    "staff.article_restore": frozenset({A, E}),
    "staff.images": frozenset({A, E}),
    "staff.image_upload": frozenset({A, E}),
}
# Denied, but sent somewhere useful instead of a 403: /staff/ is everyone's start page, and
# an editor's is the article list.
REDIRECTED = {(E, "staff.leads"): "/staff/articles"}

# Requests that end or unsettle the session go last, in this order.
LAST = ["staff.password", "staff.logout"]


def staff_routes(app: Flask) -> list[tuple[str, str]]:
    """(endpoint, method) for every staff route, GETs first, session-ending ones last."""
    routes = [
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("staff.")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
    ]

    def order(route: tuple[str, str]) -> tuple[int, int, str]:
        endpoint, method = route
        last = LAST.index(endpoint) + 1 if endpoint in LAST else 0
        return (last, method != "GET", endpoint)

    return sorted(routes, key=order)


@pytest.fixture
def setting(app: Flask) -> dict[str, int]:
    """Objects for the routes to act on: a lead with an email, a second lead to erase, an
    account that is not the one signed in, and the bundled article (its revision 1)."""
    lead = make_lead(app)
    to_erase = make_lead(app, "guide", email="erase.me@example.org")
    other = make_user(app, "other@clinic.example", "staff")
    with app.app_context():
        email = db.session.scalars(
            select(OutboxEmail.id).where(
                OutboxEmail.lead_id == lead,
                OutboxEmail.kind == EmailKind.APPOINTMENT_CONFIRMATION,
            )
        ).one()
        person = db.session.get(Lead, lead).person_id
        app.extensions["articles"].current()  # an empty database takes in the bundled ones
        article = db.session.scalars(select(ArticleRecord.id).order_by(ArticleRecord.id)).first()
        assert article is not None, "the bundled articles are in the database"
    return {
        "article_id": article,
        "number": 1,
        "lead_id": lead,
        "erase_lead_id": to_erase,
        "email_id": email,
        "user_id": other,
        "person_id": person,
    }


def path_for(app: Flask, endpoint: str, ids: dict[str, int]) -> str:
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    args = {}
    for name in rule.arguments:
        key = "erase_lead_id" if endpoint == "staff.erase" else name
        # A passkey that does not exist: the role check comes before the lookup.
        args[name] = ids.get(key, 999_999 if name == "passkey_id" else None)
        assert args[name] is not None, f"no object for <{name}> in {endpoint}; add one above"
    with app.test_request_context():
        return url_for(endpoint, **args)


def csrf_token(client: FlaskClient) -> str:
    """The signed-in session's form token, from a page every role may open."""
    for form in forms_in(client.get("/staff/security").get_data(as_text=True)):
        if "csrf_token" in form["fields"]:
            return form["fields"]["csrf_token"]
    raise AssertionError("no CSRF token on /staff/security")


def send(client: FlaskClient, method: str, path: str, token: str) -> tuple[int, str]:
    """The status and Location of one request, its body read to the end (a streamed export
    holds its request open until then)."""
    if method == "GET":
        response = client.get(path)
    else:
        response = client.post(path, data={"csrf_token": token}, headers={"X-CSRFToken": token})
    response.get_data()
    response.close()
    return response.status_code, response.location or ""


def test_the_table_names_every_staff_route(app):
    routes = {endpoint for endpoint, _ in staff_routes(app)}
    listed = set(EXPECTED) | SIGN_IN_STEPS
    assert routes - listed == set(), "staff routes missing from EXPECTED: add each with its roles"
    assert listed - routes == set(), "EXPECTED names routes that no longer exist"


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_exactly_its_routes(app, setting, role):
    client = signed_in(app, f"{role}@clinic.example", role)
    token = csrf_token(client)
    wrong = []
    for endpoint, method in staff_routes(app):
        if endpoint in SIGN_IN_STEPS:
            continue  # not role-checked; the anonymous test covers them
        status, location = send(client, method, path_for(app, endpoint, setting), token)
        allowed = role in EXPECTED.get(endpoint, frozenset())
        redirected = REDIRECTED.get((role, endpoint))
        if redirected is not None:
            if (status, location) != (302, redirected):
                wrong.append(f"{method} {endpoint}: {status} {location}, expected {redirected}")
            continue
        # Sent to sign in again: the session was lost, and the check proved nothing (signing
        # out is the one route that is meant to).
        lost = location.startswith("/staff/login") and endpoint != "staff.logout"
        if allowed and (status == 403 or lost or status >= 500):
            wrong.append(f"{method} {endpoint}: {status} {location}, expected allowed")
        elif not allowed and status != 403:
            wrong.append(f"{method} {endpoint}: {status} {location}, expected 403")
    assert wrong == []


def test_a_visitor_not_signed_in_is_sent_to_sign_in_everywhere_else(app, setting):
    client = app.test_client()
    token = csrf_token_for_visitor(client)
    wrong = []
    for endpoint, method in staff_routes(app):
        status, location = send(client, method, path_for(app, endpoint, setting), token)
        to_sign_in = status in (302, 303) and location.startswith("/staff/login?next=")
        if endpoint in SIGN_IN_STEPS or endpoint in OPEN_WHILE_ENROLLING:
            if to_sign_in or status == 403 or status >= 500:
                wrong.append(f"{method} {endpoint}: {status} {location}, expected open")
        elif not to_sign_in:
            wrong.append(f"{method} {endpoint}: {status} {location}, expected sign-in")
    assert wrong == []


def csrf_token_for_visitor(client: FlaskClient) -> str:
    for form in forms_in(client.get("/staff/login").get_data(as_text=True)):
        if "csrf_token" in form["fields"]:
            return form["fields"]["csrf_token"]
    raise AssertionError("no CSRF token on the sign-in page")


# Pages of the sign-in itself, which a browser between its two steps may see.
SIGN_IN_PAGES = frozenset({"staff.login", "staff.login_verify", "staff.enrol"})


@pytest.mark.parametrize("has_factor", [True, False], ids=["second factor", "must enrol"])
@pytest.mark.parametrize("role", ROLES)
def test_after_the_password_alone_nothing_in_staff_opens(app, setting, role, has_factor):
    email = f"{role}@clinic.example"
    make_user(app, email, role, totp=has_factor)
    client = app.test_client()
    step = password_step(client, email)
    second = "/staff/login/verify" if has_factor else "/staff/login/enrol"
    assert (step.status_code, step.location) == (303, second), "the password leads to step two"

    gets = [endpoint for endpoint, method in staff_routes(app) if method == "GET"]
    assert len(gets) > 20, "the walk covers the staff area's pages"
    opened = []
    for endpoint in gets:
        status, location = send(client, "GET", path_for(app, endpoint, setting), "")
        if endpoint in SIGN_IN_PAGES:
            if status >= 500:
                opened.append(f"{endpoint}: {status}")
        elif not (status in (302, 303) and location.startswith("/staff/login")):
            opened.append(f"{endpoint}: {status} {location}")
    assert opened == []

    # The walk left the sign-in under way: the second step still finishes it.
    if has_factor:
        assert code_step(client, totp_code(app, email)).status_code == 303
        home = "/staff/articles" if role == E else "/staff/"
        assert client.get(home).status_code == 200
