"""Signing in (password, then a second factor, or enrolment), signing out, own password.

Between the two steps the session holds only the account's id and when its password was
right (SIGNIN), for PENDING_SECONDS: nothing in the staff area opens until the second step
starts a real session (signin.start_session).
"""

from __future__ import annotations

import time
from typing import Any

from flask import (
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import login_user, logout_user

from spine_site.accounts import mfa, passkeys, signin, users
from spine_site.models import User
from spine_site.staff.access import TIMED_OUT, acting_user, bp, is_safe_next, page_to_return_to
from spine_site.staff.factor_pages import keep_challenge, passkey_page, take_challenge
from spine_site.staff.forms import ActionForm, CodeForm, LoginForm, PasswordChangeForm
from spine_site.web.ratelimits import limited

SIGNIN = "signin"
PENDING_SECONDS = 600
AGAIN = "Please sign in again: the sign-in was not finished within 10 minutes."


def _failed(response: Response) -> bool:
    return response.status_code not in (200, 303)


@bp.route("/login", methods=["GET", "POST"])
# Only failures count: a right password answers 303.
@limited("RATELIMIT_LOGIN", count_when=lambda response: response.status_code != 303)
def login():
    form = LoginForm()
    next_url = request.args.get("next")
    status, error = 200, None
    headers: dict[str, str] = {}
    if form.validate_on_submit():
        try:
            user = signin.check_password(form.email.data, form.password.data)
        except signin.SignInThrottled as exc:
            user, status = None, 429
            headers["Retry-After"] = str(exc.retry_after)
            error = (
                "Too many failed sign-ins from here. Wait "
                f"{_minutes(exc.retry_after)} and try again."
            )
        if user is not None:
            return _after_password(user, next_url if is_safe_next(next_url) else None)
        if error is None:
            error, status = "That email and password don't match an active account.", 401
    elif form.is_submitted():
        status = 400 if form.csrf_token.errors else 422
        if form.csrf_token.errors:
            error = TIMED_OUT
    form.password.data = ""
    return render_template("staff/login.html", form=form, error=error), status, headers


def _minutes(seconds: int) -> str:
    minutes = max(1, -(-seconds // 60))
    return "a minute" if minutes == 1 else f"{minutes} minutes"


def _after_password(user: User, next_url: str | None):
    session.clear()  # a fresh session: nothing from before sign-in carries over
    has_factor = mfa.has_factor(user)
    if not has_factor and not current_app.config["MFA_REQUIRED"]:
        flash("Add a second factor under Security: outside development it is required.")
        return finish_sign_in(user, "none", next_url)
    session[SIGNIN] = {"user": user.id, "at": time.time(), "next": next_url}
    return redirect(url_for("staff.login_verify" if has_factor else "staff.enrol"), 303)


def pending_sign_in() -> User | None:
    """The account whose password was right a moment ago in this browser, if any."""
    data: Any = session.get(SIGNIN)
    if not isinstance(data, dict) or not isinstance(data.get("at"), float | int):
        return None
    if time.time() - data["at"] > PENDING_SECONDS:
        return None
    return signin.pending_user(data.get("user"), data["at"])


def finish_sign_in(user: User, factor: str, next_url: str | None = None) -> Response:
    """Start the real session and go where the person was headed."""
    if next_url is None:
        next_url = (session.get(SIGNIN) or {}).get("next")
    flashes = session.get("_flashes")  # messages for the page the person lands on
    session.clear()
    if flashes:
        session["_flashes"] = flashes
    signin.start_session(user, factor)
    login_user(user)
    session["staff_login_at"] = session["staff_seen"] = time.time()
    target = next_url if is_safe_next(next_url) else url_for("staff.leads")
    return redirect(target, 303)


def _back_to_login() -> Response:
    session.pop(SIGNIN, None)
    flash(AGAIN, "error")
    return redirect(url_for("staff.login"), 303)


@bp.route("/login/verify", methods=["GET", "POST"])
@limited("RATELIMIT_LOGIN", count_when=_failed)
def login_verify():
    """The second step: a passkey (with JavaScript), or a code from the app or a recovery
    code (without)."""
    user = pending_sign_in()
    if user is None:
        return _back_to_login()
    if not mfa.has_factor(user):
        return redirect(url_for("staff.enrol"), 303)
    form = CodeForm()
    status, error = 200, None
    headers: dict[str, str] = {}
    if form.validate_on_submit():
        try:
            factor = signin.check_code(user, form.code.data)
        except signin.SignInThrottled as exc:
            factor, status = None, 429
            headers["Retry-After"] = str(exc.retry_after)
            error = f"Too many wrong codes. Wait {_minutes(exc.retry_after)}, or use a passkey."
        if factor == "recovery":
            left = mfa.recovery_codes_left(user)
            flash(
                f"You used a recovery code; {left} left. Make new ones under Security.",
                "error" if left < 3 else "message",
            )
        if factor:
            return finish_sign_in(user, factor)
        if error is None:
            error, status = "That code is not right. Check it and try again.", 401
    elif form.is_submitted():
        status = 400 if form.csrf_token.errors else 422
    form.code.data = ""
    return passkey_page(
        "staff/verify.html",
        status,
        headers,
        form=form,
        error=error,
        has_totp=mfa.has_totp(user),
        has_passkey=bool(user.passkeys),
    )


@bp.post("/login/passkey/options")
def passkey_login_options():
    user = pending_sign_in()
    if user is None or not user.passkeys:
        return jsonify(error=AGAIN), 401
    options, challenge = passkeys.authentication_options(user)
    keep_challenge(challenge, "login")
    return Response(options, mimetype="application/json")


@bp.post("/login/passkey")
@limited("RATELIMIT_LOGIN", count_when=_failed)
def passkey_login():
    user = pending_sign_in()
    if user is None:
        return jsonify(error=AGAIN), 401
    challenge = take_challenge("login")
    if challenge is None or not passkeys.check_passkey(
        user, request.get_data(as_text=True), challenge
    ):
        return jsonify(error="That passkey did not work. Try again, or use a code."), 400
    response = finish_sign_in(user, "passkey")
    return jsonify(redirect=response.location)


@bp.post("/logout")
def logout():
    if ActionForm().validate_on_submit():
        signin.end_session(acting_user())
        logout_user()
        session.clear()
    return redirect(url_for("staff.login"), 303)


@bp.route("/password", methods=["GET", "POST"])
def password():
    form = PasswordChangeForm()
    error = None
    if form.validate_on_submit():
        user = acting_user()
        try:
            users.change_own_password(user, form.current.data, form.new.data, form.confirm.data)
        except users.PasswordGuessing:
            logout_user()
            session.clear()
            flash("You were signed out after too many wrong current passwords.", "error")
            return redirect(url_for("staff.login", next=page_to_return_to()), 303)
        except users.UserError as exc:
            error = str(exc)
        else:
            flash("Your password is changed. Other sessions are signed out.")
            return redirect(url_for("staff.leads"), 303)
    return render_template(
        "staff/password.html", form=form, error=error, rule=users.PASSWORD_RULE
    ), (422 if error else 200)
