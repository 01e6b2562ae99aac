"""Signing in and out, and changing one's own password."""

from __future__ import annotations

import time

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import login_user, logout_user

from .. import users
from ..models import User
from ..ratelimits import limited
from .access import TIMED_OUT, acting_user, bp, is_safe_next
from .forms import ActionForm, LoginForm, PasswordChangeForm


@bp.route("/login", methods=["GET", "POST"])
# Only failed sign-ins count: a good one answers 303.
@limited("RATELIMIT_LOGIN", count_when=lambda response: response.status_code != 303)
def login():
    form = LoginForm()
    next_url = request.args.get("next")
    status, error = 200, None
    if form.validate_on_submit():
        try:
            user = users.authenticate(form.email.data, form.password.data)
        except users.LoginThrottled:
            user, status = None, 429
            error = (
                "Too many failed sign-ins for this account. Wait "
                f"{current_app.config['LOGIN_LOCK_MINUTES']} minutes, or ask an admin."
            )
        if user is not None:
            _start_session(user)
            return redirect(next_url if is_safe_next(next_url) else url_for("staff.leads"), 303)
        if error is None:
            error, status = "That email and password don't match an active account.", 401
    elif form.is_submitted():
        status = 400 if form.csrf_token.errors else 422
        if form.csrf_token.errors:
            error = TIMED_OUT
    form.password.data = ""
    return render_template("staff/login.html", form=form, error=error), status


def _start_session(user: User) -> None:
    draft = session.get("note_draft")
    session.clear()  # a fresh session: nothing from before sign-in carries over...
    if isinstance(draft, dict) and draft.get("user") == user.id:
        session["note_draft"] = draft  # ...but the same person's unsaved note
    login_user(user)
    session["staff_login_at"] = session["staff_seen"] = time.time()


@bp.post("/logout")
def logout():
    if ActionForm().validate_on_submit():
        users.record_sign_out(acting_user())
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
        except users.UserError as exc:
            error = str(exc)
        else:
            login_user(user)  # the token changed: keep this session, end all others
            flash("Your password is changed. Other sessions are signed out.")
            return redirect(url_for("staff.leads"), 303)
    return render_template("staff/password.html", form=form, error=error), (422 if error else 200)
