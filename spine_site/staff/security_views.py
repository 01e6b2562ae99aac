"""Second factors: enrolment right after the password, and the Security page.

Enrolment (staff.enrol and the passkey registration endpoints before sign-in) is open only
to a browser whose password step just passed for an account with no factor yet; the first
factor added starts the session. Signed in, anyone manages their own factors here.
"""

from __future__ import annotations

import json
import time
from typing import Any

from flask import (
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, logout_user

from spine_site.accounts import mfa, passkeys, signin
from spine_site.models import User
from spine_site.staff.access import JSON_ENDPOINTS, acting_user, bp, took
from spine_site.staff.auth_views import AGAIN, finish_sign_in, pending_sign_in
from spine_site.staff.factor_pages import keep_challenge, passkey_page, take_challenge
from spine_site.staff.forms import ActionForm, CodeForm

TOTP_NEW = "totp_new"
# Changing one's second factors needs a sign-in this recent (ASVS 5.0 V7.5: re-authenticate
# before changing authentication factors), so a session left open or stolen cannot quietly
# add the thief's own passkey.
REAUTH_MINUTES = 15
FACTOR_CHANGES = {
    "staff.totp_setup",
    "staff.totp_remove",
    "staff.passkey_register_options",
    "staff.passkey_register",
    "staff.passkey_remove",
    "staff.recovery_codes",
}


@bp.before_request
def recent_sign_in_for_factor_changes():
    if (
        request.method != "POST"
        or request.endpoint not in FACTOR_CHANGES
        or not current_user.is_authenticated
    ):
        return None
    signed_in_at = session.get("staff_login_at")
    if isinstance(signed_in_at, float | int) and time.time() - signed_in_at <= REAUTH_MINUTES * 60:
        return None
    signin.end_session(acting_user(), reason="reauth")
    logout_user()
    session.clear()
    flash(
        f"To change your second factors, sign in again: it has been more than {REAUTH_MINUTES} "
        "minutes since you did."
    )
    target = url_for("staff.login", next=url_for("staff.security"))
    if request.endpoint in JSON_ENDPOINTS:
        return jsonify(redirect=target)
    return redirect(target, 303)


def _enrolling() -> User | None:
    """Who may add a factor now: the signed-in person, or a first enrolment in progress."""
    if current_user.is_authenticated:
        return acting_user()
    user = pending_sign_in()
    return user if user is not None and not mfa.has_factor(user) else None


def _new_secret() -> str:
    """The secret being set up: the same one across reloads of the page until confirmed,
    kept sealed in the session (the cookie shows nothing of it)."""
    sealed = session.get(TOTP_NEW)
    secret = mfa.unseal(sealed) if isinstance(sealed, str) else None
    if secret is None:
        secret, sealed = mfa.new_totp_secret()
        session[TOTP_NEW] = sealed
    return secret


def _totp_context(user: User, form: CodeForm) -> dict[str, Any]:
    form.code.label.text = "6-digit code from the app"
    secret = _new_secret()
    uri = mfa.totp_uri(secret, user.email)
    spaced = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    return {"form": form, "secret": spaced, "uri": uri, "qr": mfa.qr_svg(uri)}


def _confirm(user: User, form: CodeForm) -> bool:
    secret = _new_secret()
    if not mfa.confirm_totp(user, secret, form.code.data or "", by=user):
        return False
    session.pop(TOTP_NEW, None)
    return True


@bp.route("/login/enrol", methods=["GET", "POST"])
def enrol():
    """Required outside development: an account with no second factor adds one here before
    anything else opens."""
    user = pending_sign_in()
    if user is None:
        flash(AGAIN, "error")
        return redirect(url_for("staff.login"), 303)
    if mfa.has_factor(user):
        return redirect(url_for("staff.login_verify"), 303)
    form = CodeForm()
    error, status = None, 200
    if form.validate_on_submit():
        if _confirm(user, form):
            response = finish_sign_in(user, "enrolment")
            flash("Your authenticator app is set up. Now make your recovery codes.")
            response.location = url_for("staff.recovery_codes")
            return response
        error, status = "That code is not right. Check the app's current code and try again.", 422
    elif form.is_submitted():
        status = 400 if form.csrf_token.errors else 422
    form.code.data = ""
    return passkey_page(
        "staff/enrol.html", status, error=error, email=user.email, **_totp_context(user, form)
    )


@bp.post("/passkeys/options")
def passkey_register_options():
    user = _enrolling()
    if user is None:
        return jsonify(error=AGAIN), 401
    options, challenge = passkeys.registration_options(user)
    keep_challenge(challenge, "register")
    return Response(options, mimetype="application/json")


@bp.post("/passkeys")
def passkey_register():
    user = _enrolling()
    if user is None:
        return jsonify(error=AGAIN), 401
    challenge = take_challenge("register")
    body = request.get_json(silent=True)
    if challenge is None or not isinstance(body, dict):
        return jsonify(error="That took too long. Please try again."), 400
    first = not mfa.has_factor(user)
    try:
        passkeys.add_passkey(
            user,
            json.dumps(body.get("credential")),
            challenge,
            str(body.get("name") or ""),
            by=user,
        )
    except mfa.FactorError as exc:
        return jsonify(error=str(exc)), 400
    if not current_user.is_authenticated:
        finish_sign_in(user, "enrolment")
    if first:
        flash("Your passkey is set up. Now make your recovery codes.")
        return jsonify(redirect=url_for("staff.recovery_codes"))
    flash("Passkey added.")
    return jsonify(redirect=url_for("staff.security"))


@bp.get("/security")
def security():
    user = acting_user()
    return passkey_page(
        "staff/security.html",
        user=user,
        has_totp=mfa.has_totp(user),
        codes_left=mfa.recovery_codes_left(user),
        action_form=ActionForm(),
    )


@bp.route("/security/totp", methods=["GET", "POST"])
def totp_setup():
    user = acting_user()
    form = CodeForm()
    error, status = None, 200
    if form.validate_on_submit():
        if _confirm(user, form):
            flash("Your authenticator app is set up.")
            if not mfa.recovery_codes_left(user):
                return redirect(url_for("staff.recovery_codes"), 303)
            return redirect(url_for("staff.security"), 303)
        error, status = "That code is not right. Check the app's current code and try again.", 422
    form.code.data = ""
    return render_template(
        "staff/totp.html", error=error, replacing=mfa.has_totp(user), **_totp_context(user, form)
    ), status


@bp.post("/security/totp/remove")
def totp_remove():
    if ActionForm().validate_on_submit() and took(
        lambda: mfa.remove_totp(acting_user(), by=acting_user()), mfa.FactorError
    ):
        flash("The authenticator app is removed from your account.")
    return redirect(url_for("staff.security"), 303)


@bp.post("/passkeys/<int:passkey_id>/remove")
def passkey_remove(passkey_id: int):
    if ActionForm().validate_on_submit() and took(
        lambda: passkeys.remove_passkey(acting_user(), passkey_id, by=acting_user()),
        mfa.FactorError,
    ):
        flash("Passkey removed.")
    return redirect(url_for("staff.security"), 303)


@bp.route("/security/recovery-codes", methods=["GET", "POST"])
def recovery_codes():
    """New codes are made by a POST and shown in its answer, once; nothing keeps them."""
    user = acting_user()
    form = ActionForm()
    codes = None
    if form.validate_on_submit():
        if not mfa.has_factor(user):
            abort(409)
        codes = mfa.new_recovery_codes(user, by=user)
    return render_template(
        "staff/recovery_codes.html",
        form=form,
        codes=codes,
        codes_left=mfa.recovery_codes_left(user),
    )
