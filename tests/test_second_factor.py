"""Second factors through the pages: enrolment, authenticator codes, recovery codes, resets.

Passkeys in a real browser are in tests/browser/test_passkeys.py.
"""

from __future__ import annotations

import logging
import re
import time

import pyotp
import pytest
from sqlalchemy import select

from spine_site.accounts import mfa
from spine_site.extensions import db
from spine_site.models import AuditEvent, RecoveryCode, StaffSession, User
from tests.factories import STAFF_PASSWORD, TOTP_SECRET, make_user, totp_code
from tests.html_forms import form_posting_to
from tests.support import code_step, login, password_step

NEW = "new.admin@clinic.example"


def actions(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def secret_on(page: str) -> str:
    match = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page)
    assert match, "the key is shown as text"
    return match.group(1).replace(" ", "")


def post_code(client, path: str, code: str):
    fields = form_posting_to(client.get(path).get_data(as_text=True), "")
    return client.post(path, data={**fields, "code": code})


def make_recovery_codes(client) -> list[str]:
    page = client.get("/staff/security/recovery-codes").get_data(as_text=True)
    fields = form_posting_to(page, "")
    answer = client.post("/staff/security/recovery-codes", data=fields)
    return re.findall(r'<code class="secret">([A-Z0-9-]+)</code>', answer.get_data(as_text=True))


def test_a_new_admin_from_the_command_line_must_enrol_then_signs_in_with_a_code(app):
    created = app.test_cli_runner().invoke(
        args=["users", "create", NEW, "--role", "admin"], input=STAFF_PASSWORD + "\n"
    )
    assert created.exit_code == 0, created.output
    client = app.test_client()
    response = password_step(client, NEW)
    assert response.status_code == 303 and response.location.endswith("/staff/login/enrol")
    # Between the steps nothing in the staff area opens.
    for path in ("/staff/", "/staff/users", "/staff/security", "/staff/audit"):
        assert client.get(path).location.startswith("/staff/login"), path

    page = client.get("/staff/login/enrol").get_data(as_text=True)
    assert "<svg" in page and "otpauth://totp/" in page  # the QR code, drawn here
    secret = secret_on(page)
    assert client.get("/staff/login/enrol").get_data(as_text=True).count(secret[:4]) >= 1
    assert secret_on(client.get("/staff/login/enrol").get_data(as_text=True)) == secret

    wrong = post_code(client, "/staff/login/enrol", "123456")
    assert wrong.status_code == 422 and "not right" in wrong.get_data(as_text=True)
    done = post_code(client, "/staff/login/enrol", pyotp.TOTP(secret).now())
    assert done.status_code == 303 and done.location.endswith("/staff/security/recovery-codes")
    assert client.get("/staff/users").status_code == 200
    assert len(make_recovery_codes(client)) == 10

    # Next time: password, then the app's code.
    later = app.test_client()
    assert password_step(later, NEW).location.endswith("/staff/login/verify")
    assert later.get("/staff/").status_code == 302
    with app.app_context():
        db.session.execute(db.update(User).values(totp_last_step=None))  # a new step
        db.session.commit()
    signed = code_step(later, pyotp.TOTP(secret).now())
    assert signed.status_code == 303 and signed.location == "/staff/"
    assert later.get("/staff/").status_code == 200
    assert "mfa_totp_added" in actions(app) and "mfa_recovery_codes" in actions(app)


def test_the_enrolment_secret_never_sits_readable_in_the_cookie(app):
    make_user(app, NEW, "admin", totp=False)
    client = app.test_client()
    password_step(client, NEW)
    secret = secret_on(client.get("/staff/login/enrol").get_data(as_text=True))
    cookie = client.get_cookie("session").value
    from itsdangerous import URLSafeTimedSerializer

    payload = str(URLSafeTimedSerializer("x").loads_unsafe(cookie)[1])
    assert secret not in payload and secret.lower() not in payload.lower()


def test_a_code_works_once(app):
    make_user(app, NEW, "staff")
    first = app.test_client()
    code = totp_code(app, NEW)
    password_step(first, NEW)
    assert code_step(first, code).status_code == 303
    second = app.test_client()
    password_step(second, NEW)
    replay = code_step(second, code)
    assert replay.status_code == 401 and "not right" in replay.get_data(as_text=True)


def test_one_step_of_clock_skew_either_way_and_no_more(app):
    make_user(app, NEW, "staff")
    totp = pyotp.TOTP(TOTP_SECRET)
    now = time.time()
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == NEW))
        for offset, accepted in ((-60, False), (-30, True), (30, True), (60, False)):
            user.totp_last_step = None
            db.session.commit()
            assert mfa.check_totp(user, totp.at(now + offset), now=now) is accepted, offset


def test_wrong_codes_are_throttled_for_the_account_from_every_address(app_factory):
    app = app_factory(TRUSTED_PROXIES=1)
    make_user(app, NEW, "staff")

    def client_at(ip: str):
        client = app.test_client()
        client.environ_base["HTTP_X_FORWARDED_FOR"] = ip
        password_step(client, NEW)
        return client

    for n in range(app.config["LOGIN_MAX_FAILURES"]):
        assert code_step(client_at(f"198.51.100.{n}"), "000000").status_code == 401
    refused = code_step(client_at("203.0.113.9"), totp_code(app, NEW))
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 60
    assert "Too many wrong codes" in refused.get_data(as_text=True)
    assert "mfa_throttled" in actions(app)


def test_recovery_codes_are_stored_hashed_and_work_once_each(app, admin_client):
    codes = make_recovery_codes(admin_client)
    assert len(codes) == 10 and len(set(codes)) == 10
    with app.app_context():
        stored = db.session.scalars(select(RecoveryCode.code_hash)).all()
    assert len(stored) == 10
    assert not {c.replace("-", "") for c in codes} & set(stored)
    for code in codes[:2]:
        client = app.test_client()
        password_step(client, "admin@clinic.example")
        # Typed loosely: lower case, spaces instead of dashes.
        assert code_step(client, code.lower().replace("-", " ")).status_code == 303
        again = app.test_client()
        password_step(again, "admin@clinic.example")
        assert code_step(again, code).status_code == 401
    with app.app_context():
        assert mfa.recovery_codes_left(db.session.scalar(select(User))) == 8
    # New codes replace the old ones.
    fresh = make_recovery_codes(admin_client)
    client = app.test_client()
    password_step(client, "admin@clinic.example")
    assert code_step(client, codes[5]).status_code == 401
    assert code_step(client, fresh[0]).status_code == 303


def test_in_development_a_second_factor_is_offered_not_forced(app_factory):
    app = app_factory(MFA_REQUIRED=False)
    make_user(app, NEW, "staff", totp=False)
    client = app.test_client()
    response = password_step(client, NEW)
    assert response.status_code == 303 and response.location == "/staff/"
    assert "Add a second factor" in client.get("/staff/").get_data(as_text=True)
    # Once factors are required, that session ends.
    app.config["MFA_REQUIRED"] = True
    assert client.get("/staff/").location.startswith("/staff/login")


def test_the_development_setting_follows_spine_env(monkeypatch, tmp_path):
    from spine_site.config import load_settings

    monkeypatch.setenv("SPINE_ENV", "development")
    assert load_settings(tmp_path)["MFA_REQUIRED"] is False
    monkeypatch.setenv("SPINE_ENV", "production")
    assert load_settings(tmp_path, {"SECRET_KEY": "k" * 40})["MFA_REQUIRED"] is True


def test_an_admin_sees_factors_and_resets_them_which_ends_sessions(app, admin_client):
    user_id = make_user(app, "intake@clinic.example", "staff")
    intake = app.test_client()
    assert login(intake, "intake@clinic.example").status_code == 303
    page = admin_client.get("/staff/users").get_data(as_text=True)
    assert "authenticator app" in page
    fields = form_posting_to(page, f"/staff/users/{user_id}/mfa-reset")
    done = admin_client.post(f"/staff/users/{user_id}/mfa-reset", data=fields)
    assert done.status_code == 200
    temporary = re.search(r'<code class="secret">([^<]+)</code>', done.get_data(as_text=True))
    assert temporary, "a new temporary password is shown once"
    assert intake.get("/staff/").status_code == 302, "their session ended"
    # The old password no longer opens the enrolment: whoever knew it must not enrol.
    assert password_step(app.test_client(), "intake@clinic.example").status_code == 401
    again = app.test_client()
    answer = password_step(again, "intake@clinic.example", temporary.group(1))
    assert answer.location.endswith("/staff/login/enrol")
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "mfa_reset"))
        assert event.actor == "admin@clinic.example" and event.target == f"user:{user_id}"
    page = admin_client.get("/staff/users").get_data(as_text=True)
    assert "sets one up at next sign-in" in page


def test_an_admin_cannot_reset_their_own_factors_from_the_page(app, admin_client):
    with app.app_context():
        admin_id = db.session.scalar(select(User.id))
    token = form_posting_to(admin_client.get("/staff/users").get_data(as_text=True), "")
    admin_client.post(
        f"/staff/users/{admin_id}/mfa-reset", data={"csrf_token": token["csrf_token"]}
    )
    with app.app_context():
        assert mfa.has_totp(db.session.get(User, admin_id))


def test_reset_mfa_command_for_a_locked_out_admin(app):
    make_user(app, NEW, "admin")
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["users", "reset-mfa", "New.Admin@clinic.example"],
        input="lantern orbit pickle meadow\n",
    )
    assert result.exit_code == 0, result.output
    assert "enrol again" in result.output
    assert password_step(app.test_client(), NEW).status_code == 401
    fresh = password_step(app.test_client(), NEW, "lantern orbit pickle meadow")
    assert fresh.location.endswith("/staff/login/enrol")
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "mfa_reset"))
        assert event.actor == "command line"
    weak = runner.invoke(args=["users", "reset-mfa", NEW], input="password1234\n")
    assert weak.exit_code != 0 and "harder to guess" in weak.output
    missing = runner.invoke(args=["users", "reset-mfa", "nobody@clinic.example"])
    assert missing.exit_code != 0 and "No account" in missing.output


def test_the_totp_secret_is_encrypted_at_rest(app):
    make_user(app, NEW, "staff")
    with app.app_context():
        stored = db.session.scalar(select(User.totp_secret))
    assert TOTP_SECRET not in stored and TOTP_SECRET.lower() not in stored.lower()


def test_a_secret_key_rotation_with_the_old_key_as_fallback_keeps_codes_working(app_factory):
    old_key = "old-secret-key-that-is-long-enough-0123456789"
    app = app_factory(SECRET_KEY=old_key)
    make_user(app, NEW, "staff")
    app.config.update(
        SECRET_KEY="new-secret-key-that-is-long-enough-987654321", SECRET_KEY_FALLBACKS=[old_key]
    )
    with app.app_context():
        before = db.session.scalar(select(User.totp_secret))
    assert login(app.test_client(), NEW).status_code == 303
    # Re-encrypted with the new key at that use: the old key can now go.
    app.config["SECRET_KEY_FALLBACKS"] = []
    with app.app_context():
        assert db.session.scalar(select(User.totp_secret)) != before
    assert login(app.test_client(), NEW).status_code == 303


def test_a_rotation_without_the_old_key_loses_codes_but_not_recovery(app_factory):
    app = app_factory(SECRET_KEY="old-secret-key-that-is-long-enough-0123456789")
    make_user(app, NEW, "staff")
    with app.app_context():
        codes = mfa.new_recovery_codes(db.session.scalar(select(User)), by=None)
    app.config["SECRET_KEY"] = "new-secret-key-that-is-long-enough-987654321"
    client = app.test_client()
    password_step(client, NEW)
    assert code_step(client, totp_code(app, NEW)).status_code == 401
    assert code_step(client, codes[0]).status_code == 303
    result = app.test_cli_runner().invoke(args=["users", "reencrypt"])
    assert result.exit_code != 0 and "1 could not be read" in result.output


def test_reencrypt_command_moves_secrets_to_the_new_key(app_factory):
    old_key = "old-secret-key-that-is-long-enough-0123456789"
    app = app_factory(SECRET_KEY=old_key)
    make_user(app, NEW, "staff")
    app.config.update(
        SECRET_KEY="new-secret-key-that-is-long-enough-987654321", SECRET_KEY_FALLBACKS=[old_key]
    )
    result = app.test_cli_runner().invoke(args=["users", "reencrypt"])
    assert result.exit_code == 0 and "re-encrypted 1" in result.output
    app.config["SECRET_KEY_FALLBACKS"] = []
    assert login(app.test_client(), NEW).status_code == 303


def test_the_last_factor_cannot_be_removed_where_factors_are_required(app, admin_client):
    page = admin_client.get("/staff/security").get_data(as_text=True)
    fields = form_posting_to(page, "/staff/security/totp/remove")
    admin_client.post("/staff/security/totp/remove", data=fields)
    assert "Keep at least one" in admin_client.get("/staff/security").get_data(as_text=True)
    with app.app_context():
        assert mfa.has_totp(db.session.scalar(select(User)))


def test_moving_the_app_to_a_new_phone_keeps_the_old_one_until_confirmed(app, admin_client):
    page = admin_client.get("/staff/security/totp").get_data(as_text=True)
    new_secret = secret_on(page)
    assert new_secret != TOTP_SECRET
    wrong = post_code(admin_client, "/staff/security/totp", pyotp.TOTP(TOTP_SECRET).now())
    assert wrong.status_code == 422, "the old app's code does not confirm the new one"
    ok = post_code(admin_client, "/staff/security/totp", pyotp.TOTP(new_secret).now())
    assert ok.status_code == 303
    assert "mfa_totp_replaced" in actions(app)


@pytest.mark.parametrize("path", ["/staff/login/verify", "/staff/login/enrol"])
def test_the_second_step_without_a_first_goes_back_to_sign_in(app, path):
    response = app.test_client().get(path)
    assert response.status_code == 303 and response.location == "/staff/login"


def test_the_second_step_expires(app):
    make_user(app, NEW, "staff")
    client = app.test_client()
    password_step(client, NEW)
    with client.session_transaction() as session:
        session["signin"] = {**session["signin"], "at": session["signin"]["at"] - 601}
    token = form_posting_to(client.get("/staff/login").get_data(as_text=True), "")["csrf_token"]
    late = client.post(
        "/staff/login/verify", data={"csrf_token": token, "code": totp_code(app, NEW)}
    )
    assert late.status_code == 303 and late.location == "/staff/login"
    assert client.get("/staff/").status_code == 302


def test_sign_in_sessions_are_rows_a_copy_of_the_table_cannot_use(app, staff_client):
    with app.app_context():
        (row,) = db.session.scalars(select(StaffSession)).all()
    cookie = staff_client.get_cookie("session").value
    assert row.key_hash not in cookie


# -- What the attack-minded review of this feature found ---------------------------------


def test_a_factor_reset_voids_a_sign_in_already_under_way(app, admin_client):
    """Someone with the password stops at the second step; an admin resets the factors;
    the half-finished sign-in must not turn into an enrolment of the attacker's factor."""
    user_id = make_user(app, "intake@clinic.example", "staff")
    attacker = app.test_client()
    assert password_step(attacker, "intake@clinic.example").location.endswith("/verify")
    page = admin_client.get("/staff/users").get_data(as_text=True)
    fields = form_posting_to(page, f"/staff/users/{user_id}/mfa-reset")
    admin_client.post(f"/staff/users/{user_id}/mfa-reset", data=fields)
    for path in ("/staff/login/verify", "/staff/login/enrol"):
        assert attacker.get(path).location == "/staff/login", path
    assert attacker.post("/staff/passkeys/options").status_code in {400, 401}


@pytest.mark.parametrize("change", ["password reset", "disable and enable"])
def test_an_account_change_voids_a_sign_in_under_way(app, change):
    from spine_site.accounts import users

    make_user(app, NEW, "staff")
    admin_id = make_user(app, "admin@clinic.example", "admin")
    client = app.test_client()
    password_step(client, NEW)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == NEW))
        admin = db.session.get(User, admin_id)
        if change == "password reset":
            users.reset_password(user, by=admin)
        else:
            users.set_active(user, False, by=admin)
            users.set_active(user, True, by=admin)
    assert client.get("/staff/login/verify").location == "/staff/login"
    token = form_posting_to(client.get("/staff/login").get_data(as_text=True), "")["csrf_token"]
    late = client.post("/staff/login/verify", data={"csrf_token": token, "code": "123456"})
    assert late.location == "/staff/login"


# Arabic-Indic, superscript and fullwidth digits: str.isdigit() says yes to each.
OTHER_DIGITS = [
    "\u0661\u0662\u0663\u0664\u0665\u0666",
    "\u00b9\u00b2\u00b3\u2074\u2075\u2076",
    "\uff11\uff12\uff13\uff14\uff15\uff16",
]


@pytest.mark.parametrize("code", OTHER_DIGITS)
def test_digits_from_other_scripts_are_a_wrong_code_not_an_error(app, code):
    make_user(app, NEW, "staff")
    client = app.test_client()
    password_step(client, NEW)
    assert code_step(client, code).status_code == 401
    make_user(app, "second@clinic.example", "staff", totp=False)
    other = app.test_client()
    password_step(other, "second@clinic.example")
    assert post_code(other, "/staff/login/enrol", code).status_code == 422


def test_a_recovery_code_still_gets_in_while_app_codes_wait(app):
    make_user(app, NEW, "staff")
    with app.app_context():
        codes = mfa.new_recovery_codes(db.session.scalar(select(User)), by=None)
    client = app.test_client()
    password_step(client, NEW)
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        code_step(client, "000000")
    assert code_step(client, totp_code(app, NEW)).status_code == 429
    assert code_step(client, codes[0]).status_code == 303


def test_a_right_password_is_in_the_audit_log_before_the_second_step(app):
    make_user(app, NEW, "staff")
    password_step(app.test_client(), NEW)
    assert actions(app)[-1] == "login_password"


def test_changing_factors_needs_a_recent_sign_in(app, admin_client):
    with admin_client.session_transaction() as session:
        session["staff_login_at"] -= 16 * 60
    page = admin_client.get("/staff/security/recovery-codes").get_data(as_text=True)
    answer = admin_client.post("/staff/security/recovery-codes", data=form_posting_to(page, ""))
    assert answer.status_code == 303
    assert answer.location.startswith("/staff/login?next=")
    assert "sign in again" in admin_client.get(answer.location).get_data(as_text=True)
    assert admin_client.get("/staff/").status_code == 302, "that session ended"
    with app.app_context():
        assert mfa.recovery_codes_left(db.session.scalar(select(User))) == 0
    # The script's endpoints get the same answer in JSON.
    assert login(admin_client, "admin@clinic.example").status_code == 303
    with admin_client.session_transaction() as session:
        session["staff_login_at"] -= 16 * 60
    token = form_posting_to(admin_client.get("/staff/password").get_data(as_text=True), "")
    reply = admin_client.post(
        "/staff/passkeys/options", headers={"X-CSRFToken": token["csrf_token"]}
    )
    assert reply.is_json and reply.json["redirect"].startswith("/staff/login?next=")


def test_an_expired_token_on_the_script_endpoints_answers_json(admin_client):
    reply = admin_client.post("/staff/passkeys/options", headers={"X-CSRFToken": "expired"})
    assert reply.status_code == 400 and reply.is_json and "Reload" in reply.json["error"]


def test_removing_an_app_that_is_not_there_says_so(app_factory):
    app = app_factory(MFA_REQUIRED=False)
    make_user(app, NEW, "staff", totp=False)
    client = app.test_client()
    password_step(client, NEW)
    page = client.get("/staff/security").get_data(as_text=True)
    token = form_posting_to(page, "/staff/logout")["csrf_token"]
    client.post("/staff/security/totp/remove", data={"csrf_token": token})
    assert "no authenticator app" in client.get("/staff/security").get_data(as_text=True)
    assert "mfa_totp_removed" not in actions(app)


def test_the_start_check_tells_secrets_on_a_fallback_key_from_those_no_key_opens(
    app_factory, caplog
):
    old_key = "old-secret-key-that-is-long-enough-0123456789"
    app = app_factory(SECRET_KEY=old_key)
    stale = make_user(app, NEW, "staff")  # sealed with the old key
    app.config.update(
        SECRET_KEY="new-secret-key-that-is-long-enough-987654321", SECRET_KEY_FALLBACKS=[old_key]
    )
    fresh = make_user(app, "fresh@clinic.example", "staff")  # sealed with the new one
    caplog.set_level(logging.INFO, logger="spine_site.accounts.mfa")

    found = mfa.warn_about_sealed_secrets(app)
    assert found == mfa.SealedSecrets(current=[fresh], fallback=[stale], unreadable=[])
    assert "1 authenticator secrets are still sealed with a key in SECRET_KEY_FALLBACKS" in (
        caplog.text
    )
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]

    # The old key dropped before `flask users reencrypt`: that person is locked out of the app.
    app.config["SECRET_KEY_FALLBACKS"] = []
    caplog.clear()
    found = mfa.warn_about_sealed_secrets(app)
    assert found == mfa.SealedSecrets(current=[fresh], fallback=[], unreadable=[stale])
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert f"AUTHENTICATOR SECRETS UNREADABLE: 1 staff accounts (ids {stale})" in warning
    assert NEW not in warning  # ids only in logs

    # Resetting that person's factors clears it.
    with app.app_context():
        mfa.reset_factors(db.session.get(User, stale), by=None)
    caplog.clear()
    assert mfa.warn_about_sealed_secrets(app).unreadable == []
    assert "UNREADABLE" not in caplog.text
