"""The staff blueprint and who may use what: deny by default.

ACCESS names the roles for every endpoint, and the blueprint's before_request refuses
anything not listed there. Also the small request helpers every staff view shares.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from typing import TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, logout_user
from flask_wtf.csrf import CSRFError

from spine_site.accounts import signin
from spine_site.desk import casework
from spine_site.extensions import csrf, db
from spine_site.models import Role, User
from spine_site.staff.forms import LoginForm
from spine_site.web.urls import MAX_ID

bp = Blueprint("staff", __name__, url_prefix="/staff")

EVERYONE = frozenset(Role)
# Everyone who works with leads: editors write articles and see no patient's details.
LEADS = frozenset({Role.ADMIN, Role.STAFF, Role.MARKETING})
INTAKE = frozenset({Role.ADMIN, Role.STAFF})
MARKETING = frozenset({Role.ADMIN, Role.MARKETING})
ADMIN = frozenset({Role.ADMIN})
# Articles: editors (and admins) write and publish; marketing may read.
EDITORS = frozenset({Role.ADMIN, Role.EDITOR})
ARTICLE_READERS = frozenset({Role.ADMIN, Role.EDITOR, Role.MARKETING})
# The role x route table (docs/staff.md shows the same; a test keeps them in step).
ACCESS: dict[str, frozenset[Role]] = {
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
    "staff.lead": INTAKE,
    "staff.lead_status": INTAKE,
    "staff.lead_note": INTAKE,
    "staff.lead_spam": INTAKE,
    "staff.email_resend": INTAKE,
    "staff.lead_attempt": INTAKE,
    "staff.lead_follow_up": INTAKE,
    "staff.lead_owner": INTAKE,
    "staff.person": INTAKE,
    "staff.erase": ADMIN,
    "staff.users": ADMIN,
    "staff.user_role": ADMIN,
    "staff.user_active": ADMIN,
    "staff.user_reset": ADMIN,
    "staff.user_mfa_reset": ADMIN,
    "staff.audit_log": ADMIN,
    "staff.analytics": MARKETING,
    "staff.analytics_csv": MARKETING,
    "staff.articles": ARTICLE_READERS,
    "staff.article_new": EDITORS,
    "staff.article": ARTICLE_READERS,
    "staff.article_save": EDITORS,
    "staff.article_preview": ARTICLE_READERS,
    "staff.article_submit": EDITORS,
    "staff.article_publish": EDITORS,
    "staff.article_unpublish": EDITORS,
    "staff.article_revisions": ARTICLE_READERS,
    "staff.article_compare": ARTICLE_READERS,
    "staff.article_restore": EDITORS,
    "staff.images": EDITORS,
    "staff.image_upload": EDITORS,
}
PUBLIC = {"staff.login"}
# The second step of signing in: open to a browser whose password step just passed (each
# view checks that itself); nothing in them shows or changes anything else.
SECOND_STEP = {
    "staff.login_verify",
    "staff.passkey_login_options",
    "staff.passkey_login",
    "staff.enrol",
}
# What static/js/passkey.js calls: they answer in JSON, errors included.
JSON_ENDPOINTS = {
    "staff.passkey_login_options",
    "staff.passkey_login",
    "staff.passkey_register_options",
    "staff.passkey_register",
}
# Adding a passkey: signed in, or as the first factor during enrolment.
ENROLMENT = {"staff.passkey_register_options", "staff.passkey_register"}
TIMED_OUT = "The sign-in page sat open too long. Please sign in again."


@bp.before_request
def guard():
    """Deny by default: signed in, the role table, idle and absolute timeouts, and only then
    the CSRF check, so a refused request never reaches what a failed check does."""
    endpoint = request.endpoint or ""
    enrolling = not current_user.is_authenticated and endpoint in ENROLMENT
    if endpoint in PUBLIC or endpoint in SECOND_STEP or enrolling:
        csrf.protect()
        return None
    if not current_user.is_authenticated:
        target = request.full_path if request.method == "GET" else url_for("staff.leads")
        return redirect(url_for("staff.login", next=target.rstrip("?")))
    if current_user.role not in ACCESS.get(endpoint, frozenset()):
        if endpoint == "staff.leads":
            # /staff/ is everyone's start page; an editor's is the articles.
            return redirect(url_for("staff.articles"))
        abort(403)
    now = time.time()
    config = current_app.config
    idle = now - session.get("staff_seen", now)
    age = now - session.get("staff_login_at", now)
    if idle > config["STAFF_IDLE_MINUTES"] * 60 or age > config["STAFF_SESSION_HOURS"] * 3600:
        return _sign_out_and_return(
            "You were signed out after a period of inactivity. Please sign in again."
        )
    if config["MFA_REQUIRED"] and current_user.session_factor == "none":
        # A session opened without a second factor (in development) ends once they are
        # required.
        return _sign_out_and_return("Sign in again: a second factor is now required.")
    session["staff_seen"] = now
    csrf.protect()
    return None


def _sign_out_and_return(message: str) -> Response:
    user = acting_user()
    back = page_to_return_to()
    stash_note_draft(user)
    signin.end_session(user, reason="timeout")
    logout_user()
    session.clear()
    flash(message)
    return redirect(url_for("staff.login", next=back))


@bp.after_request
def no_store(response: Response) -> Response:
    # Patient details must not linger in a shared computer's cache. Search engines are told
    # to keep out here, rather than robots.txt advertising where the staff area is.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


@bp.errorhandler(CSRFError)
def after_csrf_failure(exc: CSRFError):
    """A staff form whose security token expired: say so plainly and keep what was typed."""
    if request.endpoint in JSON_ENDPOINTS:
        # The passkey script reads JSON; a redirect would land it on an HTML page.
        return jsonify(error="This page sat open too long. Reload it and try again."), 400
    if request.endpoint == "staff.login":
        form = LoginForm()
        form.password.data = ""
        return render_template("staff/login.html", form=form, error=TIMED_OUT), 400
    if current_user.is_authenticated:
        stash_note_draft(acting_user())
    flash("That page sat open too long for our security check. Please try again.", "error")
    return redirect(page_to_return_to(), 303)


def acting_user() -> User:
    """The signed-in staff member, as the domain functions take them."""
    return current_user._get_current_object()


def page_to_return_to() -> str:
    """Where to go after signing in again: this page, or for a POST the lead it was about."""
    if request.method == "GET":
        return request.full_path.rstrip("?")
    lead_id = (request.view_args or {}).get("lead_id")
    return url_for("staff.lead", lead_id=lead_id) if lead_id else url_for("staff.leads")


def stash_note_draft(user: User) -> None:
    """Keep a note that could not be saved (timed out) on the server, for its author to
    find on the lead's page after signing in again. Never in the cookie: it may hold health
    details."""
    lead_id = (request.view_args or {}).get("lead_id")
    body = request.form.get("body", "").strip()
    if request.endpoint == "staff.lead_note" and body and isinstance(lead_id, int):
        casework.keep_draft(user, lead_id, body[:5000])


def took(step: Callable[[], object], refusal: type[Exception]) -> bool:
    """Whether a domain step was taken; when it is refused, its plain reason is flashed."""
    try:
        step()
    except refusal as exc:
        flash(str(exc), "error")
        return False
    return True


def is_safe_next(target: str | None) -> bool:
    """Only a path inside the staff area: never another host, scheme or odd form of one."""
    if not target or any(ord(ch) < 32 or ch == "\\" for ch in target):
        return False
    try:
        parts = urlsplit(target)
    except ValueError:  # e.g. a malformed IPv6 host
        return False
    return (
        not parts.scheme
        and not parts.netloc
        and target.startswith("/staff")
        and not target.startswith("//")
    )


def parse_date(value: str | None) -> date | None:
    """A yyyy-mm-dd filter date; anything else (or an absurd year) means no filter."""
    try:
        parsed = date.fromisoformat(value) if value else None
    except ValueError:
        return None
    return parsed if parsed is not None and 1900 <= parsed.year <= 9000 else None


def page_number(value: str | None) -> int:
    text = value or ""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 6 else 1


_M = TypeVar("_M")


def get_or_404(model: type[_M], object_id: int) -> _M:
    found = db.session.get(model, object_id) if 0 < object_id <= MAX_ID else None
    if found is None:
        abort(404)
    return found
