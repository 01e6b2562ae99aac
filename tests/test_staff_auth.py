"""Staff sign-in, sessions, throttling, and the role x route table."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from spine_site.accounts import users
from spine_site.extensions import db
from spine_site.models import AuditEvent, Role, StaffSession, User
from spine_site.staff.access import ACCESS, ENROLMENT, PUBLIC, SECOND_STEP, is_safe_next
from tests.factories import STAFF_PASSWORD, make_user
from tests.html_forms import form_posting_to
from tests.support import login

ROOT = Path(__file__).resolve().parent.parent


def staff_rules(app):
    return [r for r in app.url_map.iter_rules() if r.rule.startswith("/staff")]


def concrete(rule) -> str:
    return re.sub(r"<(?:int:)?[a-z_]+>", "1", rule.rule)


def events(app, action: str) -> list[AuditEvent]:
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()
        for row in rows:
            db.session.expunge(row)
        return rows


def test_no_account_exists_until_one_is_created(app):
    with app.app_context():
        assert db.session.scalars(select(User)).all() == []


def test_every_staff_route_but_login_is_closed_without_a_session(app):
    client = app.test_client()
    # A real CSRF token, so it is the sign-in guard (not CSRF) that must refuse each POST.
    token = form_posting_to(client.get("/staff/login").get_data(as_text=True), "")["csrf_token"]
    rules = staff_rules(app)
    assert len(rules) >= 15
    for rule in rules:
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            data = {"csrf_token": token} if method == "POST" else None
            response = client.open(concrete(rule), method=method, data=data)
            if rule.endpoint in PUBLIC:
                assert response.status_code in {200, 422}, rule
                continue
            if rule.endpoint in SECOND_STEP | ENROLMENT and response.status_code == 401:
                # The passkey steps answer scripts in JSON: no sign-in in progress.
                assert response.is_json and "sign in again" in response.json["error"], rule
                continue
            assert response.status_code in {302, 303}, (rule.rule, method)
            assert response.headers["Location"].startswith("/staff/login"), rule


def test_every_staff_endpoint_is_in_the_access_table(app):
    endpoints = {r.endpoint for r in staff_rules(app)}
    assert endpoints - PUBLIC - SECOND_STEP == set(ACCESS)


def test_documented_role_table_matches_the_code():
    doc = (ROOT / "docs" / "staff.md").read_text()
    rows = re.findall(
        r"^\| `(staff\.[a-z_]+)` \|[^|]*\|([^|]*)\|([^|]*)\|([^|]*)\|([^|]*)\|$", doc, re.M
    )
    roles = (Role.ADMIN, Role.STAFF, Role.MARKETING, Role.EDITOR)
    documented = {
        endpoint: frozenset(role for role, cell in zip(roles, cells, strict=True) if "yes" in cell)
        for endpoint, *cells in rows
    }
    assert documented == ACCESS


@pytest.mark.parametrize("role", ["admin", "staff", "marketing"])
def test_roles_are_enforced_on_the_server(app, role):
    make_user(app, f"{role}@clinic.example", role)
    client = app.test_client()
    assert login(client, f"{role}@clinic.example").status_code == 303
    page = client.get("/staff/password").get_data(as_text=True)
    token = form_posting_to(page, "")["csrf_token"]
    for rule in staff_rules(app):
        if rule.endpoint in PUBLIC | SECOND_STEP or rule.endpoint == "staff.logout":
            continue
        method = "GET" if "GET" in rule.methods else "POST"
        # Closing matters: an unread streamed response (the CSV) keeps its context open.
        with client.open(concrete(rule), method=method, data={"csrf_token": token}) as response:
            status = response.status_code
        allowed = Role(role) in ACCESS[rule.endpoint]
        if allowed:
            assert status not in {403, 500}, (role, rule.rule)
        else:
            assert status == 403, (role, rule.rule)


def test_login_starts_a_fresh_session_and_logs_the_event(app):
    make_user(app, "intake@clinic.example", "staff")
    client = app.test_client()
    client.get("/staff/login")
    with client.session_transaction() as before:
        before["planted"] = "by whoever had this browser before"
    response = login(client, "Intake@Clinic.example")
    assert response.status_code == 303 and response.headers["Location"] == "/staff/"
    with client.session_transaction() as after:
        assert "planted" not in after and "_user_id" in after
    assert [e.actor for e in events(app, "login")] == ["intake@clinic.example"]
    assert client.get("/staff/").status_code == 200


def test_wrong_password_is_refused_and_audited(app):
    make_user(app, "intake@clinic.example", "staff")
    client = app.test_client()
    response = login(client, "intake@clinic.example", "wrong password here")
    assert response.status_code == 401
    assert "match an active account" in response.get_data(as_text=True)
    assert 'value="wrong password here"' not in response.get_data(as_text=True)
    assert client.get("/staff/").status_code == 302
    (failed,) = events(app, "login_failed")
    assert failed.actor == "intake@clinic.example" and failed.ip == "127.0.0.1"


def test_unknown_email_fails_the_same_way(app):
    response = login(app.test_client(), "nobody@clinic.example")
    assert response.status_code == 401


def test_repeated_failures_slow_this_address_for_this_email(app):
    make_user(app, "intake@clinic.example", "staff")
    client = app.test_client()
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert login(client, "intake@clinic.example", "wrong password!!").status_code == 401
    response = login(client, "intake@clinic.example")
    assert response.status_code == 429
    assert "Too many failed sign-ins from here" in response.get_data(as_text=True)
    assert int(response.headers["Retry-After"]) > 0


def test_the_throttle_does_not_tell_which_accounts_exist(app):
    """Finding 3: the same answers, in the same order, for a real account and for none."""
    make_user(app, "intake@clinic.example", "staff")

    def answers(email: str) -> list[tuple[int, str]]:
        client = app.test_client()
        found = []
        for _ in range(app.config["LOGIN_MAX_FAILURES"] + 2):
            response = login(client, email, "wrong password!!")
            body = response.get_data(as_text=True)
            message = re.search(r'role="alert"><p>(.*?)</p>', body)
            found.append((response.status_code, message.group(1) if message else ""))
        return found

    real, unknown = answers("intake@clinic.example"), answers("nobody@clinic.example")
    assert real == unknown
    assert real[-1][0] == 429


def test_per_ip_limit_on_sign_in(app_factory):
    app = app_factory(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="3 per minute")
    client = app.test_client()
    statuses = [login(client, f"u{i}@clinic.example", "x" * 12).status_code for i in range(4)]
    assert statuses == [401, 401, 401, 429]


def test_disabled_account_cannot_sign_in(app):
    user_id = make_user(app, "intake@clinic.example", "staff")
    admin_id = make_user(app, "admin@clinic.example", "admin")
    with app.app_context():
        admin = db.session.get(User, admin_id)
        users.set_active(db.session.get(User, user_id), False, by=admin)
    assert login(app.test_client(), "intake@clinic.example").status_code == 401


def test_disabling_ends_open_sessions(app, admin_client):
    user_id = make_user(app, "intake@clinic.example", "staff")
    intake = app.test_client()
    login(intake, "intake@clinic.example")
    assert intake.get("/staff/").status_code == 200
    page = admin_client.get("/staff/users").get_data(as_text=True)
    fields = form_posting_to(page, f"/staff/users/{user_id}/active")
    assert admin_client.post(f"/staff/users/{user_id}/active", data=fields).status_code == 303
    assert intake.get("/staff/").status_code == 302


def test_password_change_ends_other_sessions_but_keeps_this_one(app):
    make_user(app, "intake@clinic.example", "staff")
    desk, laptop = app.test_client(), app.test_client()
    login(desk, "intake@clinic.example")
    login(laptop, "intake@clinic.example")
    fields = form_posting_to(desk.get("/staff/password").get_data(as_text=True), "")
    new = "a much better passphrase"
    response = desk.post(
        "/staff/password",
        data={**fields, "current": STAFF_PASSWORD, "new": new, "confirm": new},
    )
    assert response.status_code == 303
    assert desk.get("/staff/").status_code == 200
    assert laptop.get("/staff/").status_code == 302
    assert login(app.test_client(), "intake@clinic.example", new).status_code == 303


def test_idle_timeout_signs_out(app, staff_client):
    with staff_client.session_transaction() as session:
        session["staff_seen"] -= app.config["STAFF_IDLE_MINUTES"] * 60 + 1
    response = staff_client.get("/staff/")
    assert response.status_code == 302 and "/staff/login" in response.headers["Location"]
    assert staff_client.get("/staff/").status_code == 302


def test_a_session_row_past_its_hours_signs_in_again_whatever_the_cookie_says(app, staff_client):
    """The server's own limit: the row's age counts, not only the login time the cookie
    keeps (a cookie can be kept fresh by whoever holds it)."""
    assert staff_client.get("/staff/").status_code == 200
    hours = app.config["STAFF_SESSION_HOURS"]
    with app.app_context():
        db.session.execute(
            update(StaffSession).values(
                created_at=datetime.now(UTC) - timedelta(hours=hours, minutes=1)
            )
        )
        db.session.commit()
    with staff_client.session_transaction() as session:
        assert time.time() - session["staff_login_at"] < 60, "the cookie's clock is fresh"
    response = staff_client.get("/staff/")
    assert response.status_code == 302 and response.location.startswith("/staff/login")
    assert staff_client.get("/staff/users").status_code == 302


def test_logout_is_post_only_and_ends_the_session(app, staff_client):
    assert staff_client.get("/staff/logout").status_code == 405
    page = staff_client.get("/staff/").get_data(as_text=True)
    fields = form_posting_to(page, "/staff/logout")
    assert staff_client.post("/staff/logout", data=fields).status_code == 303
    assert staff_client.get("/staff/").status_code == 302
    assert events(app, "logout")


def test_logout_without_csrf_token_does_nothing(staff_client):
    response = staff_client.post("/staff/logout")
    assert response.status_code == 303 and response.headers["Location"] == "/staff/"
    assert "sat open too long" in staff_client.get("/staff/").get_data(as_text=True)
    assert staff_client.get("/staff/").status_code == 200


def test_next_goes_to_a_staff_page_after_sign_in(app):
    make_user(app, "intake@clinic.example", "staff")
    client = app.test_client()
    response = login(client, "intake@clinic.example", next="/staff/?status=new")
    assert response.headers["Location"] == "/staff/?status=new"


# The strings Django's is_safe_url tests refuse (django/tests/utils_tests/test_http.py).
BAD_NEXT = [
    "http://example.com",
    "http:///example.com",
    "https://example.com",
    "ftp://example.com",
    r"\\example.com",
    r"\\\example.com",
    r"/\\/example.com",
    r"\\\example.com",
    r"\\//example.com",
    r"/\/example.com",
    r"\/example.com",
    r"/\example.com",
    "http:///example.com",
    r"http:/\//example.com",
    r"http:\/example.com",
    r"http:/\example.com",
    'javascript:alert("XSS")',
    "\njavascript:alert(x)",
    "\x08//example.com",
    r"http://otherserver\@example.com",
    r"http:\\testserver\@example.com",
    r"http://testserver\me:pass@example.com",
    r"http://testserver\@example.com",
    r"http:\\testserver\confirm\me@example.com",
    "http:999999999",
    "ftp:9999999999",
    "\n",
    "http://[2001:cdba:0000:0000:0000:0000:3257:9652/",
    "http://2001:cdba:0000:0000:0000:0000:3257:9652]/",
    "//example.com/staff",
    "/staff\\@example.com",
    "",
]


@pytest.mark.parametrize("target", BAD_NEXT)
def test_unsafe_next_is_ignored(target):
    assert is_safe_next(target) is False


def test_unsafe_next_lands_on_the_lead_list(app):
    make_user(app, "intake@clinic.example", "staff")
    for target in ("https://example.com", r"/\example.com", "//evil.example/staff"):
        response = login(app.test_client(), "intake@clinic.example", next=target)
        assert response.headers["Location"] == "/staff/"


def test_session_cookie_flags(app):
    make_user(app, "intake@clinic.example", "staff")
    response = login(app.test_client(), "intake@clinic.example")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_staff_pages_are_not_cached(staff_client):
    assert staff_client.get("/staff/").headers["Cache-Control"] == "no-store"


@pytest.mark.real_password_cost
def test_password_hash_is_argon2id_at_or_above_asvs(app):
    make_user(app, "intake@clinic.example", "staff")
    with app.app_context():
        stored = db.session.scalar(select(User.password_hash))
    params = dict(kv.split("=") for kv in stored.split("$")[3].split(","))
    assert stored.startswith("$argon2id$")
    assert int(params["m"]) >= 19 * 1024 and int(params["t"]) >= 2 and int(params["p"]) >= 1
    assert STAFF_PASSWORD not in stored


def test_users_create_command_reads_a_piped_password(app):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["users", "create", "New@Clinic.example", "--role", "marketing"],
        input=STAFF_PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    assert "created new@clinic.example (marketing)" in result.output
    assert login(app.test_client(), "new@clinic.example").status_code == 303
    again = runner.invoke(
        args=["users", "create", "new@clinic.example", "--role", "admin"],
        input=STAFF_PASSWORD + "\n",
    )
    assert again.exit_code != 0 and "already exists" in again.output
    short = runner.invoke(
        args=["users", "create", "x@clinic.example", "--role", "staff"], input="short\n"
    )
    assert short.exit_code != 0 and "at least 12" in short.output


def test_failed_sign_in_to_no_account_keeps_nothing_typed(app):
    response = login(app.test_client(), "Zelda Quixotic 3125550199")
    assert response.status_code in {401, 422}
    login(app.test_client(), "zelda@example.com", "her password maybe")
    with app.app_context():
        events = db.session.scalars(select(AuditEvent)).all()
        assert all(e.actor is None for e in events)
        assert "zelda" not in str([(e.actor, e.detail, e.target) for e in events]).lower()


def test_sign_in_page_left_open_too_long_says_so(app):
    make_user(app, "intake@clinic.example", "staff")
    response = app.test_client().post(
        "/staff/login",
        data={"csrf_token": "expired", "email": "intake@clinic.example", "password": "x"},
    )
    assert response.status_code == 400
    assert "sat open too long" in response.get_data(as_text=True)


def test_guesses_from_many_addresses_do_not_lock_the_account(app_factory):
    """Finding 4: 50 wrong passwords from 10 addresses; the right one from an 11th works,
    and a guessing address stays slowed down for that email."""
    app = app_factory(TRUSTED_PROXIES=1)
    make_user(app, "intake@clinic.example", "staff")

    def attempt(ip: str, password: str = "wrong password!!") -> int:
        client = app.test_client()
        client.environ_base["HTTP_X_FORWARDED_FOR"] = ip
        return login(client, "intake@clinic.example", password).status_code

    for n in range(10):
        for _ in range(app.config["LOGIN_MAX_FAILURES"]):
            assert attempt(f"198.51.100.{n}") == 401
    assert attempt("198.51.100.3", STAFF_PASSWORD) == 429
    assert attempt("203.0.113.20", STAFF_PASSWORD) == 303, "the clinic's own address still works"


def test_successful_sign_ins_do_not_use_up_the_address_limit(app_factory):
    app = app_factory(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="3 per minute")
    make_user(app, "intake@clinic.example", "staff")
    for _ in range(5):
        assert login(app.test_client(), "intake@clinic.example").status_code == 303
