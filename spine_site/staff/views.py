"""The staff area: sign-in, the lead list and detail, CSV export, accounts, audit log.

Access is denied by default: ACCESS below names the roles for every endpoint, and the
blueprint's before_request refuses anything not listed there.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypeVar
from urllib.parse import urlsplit

from argon2.exceptions import InvalidHashError, VerificationError
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)
from flask_login import current_user, login_user, logout_user
from sqlalchemy import func, select

from .. import analytics, analytics_chart, audit, leads, outbox, users
from ..export import ExportPlan, csv_document
from ..extensions import db, limiter
from ..models import (
    AuditEvent,
    EmailKind,
    EmailStatus,
    FormKind,
    Lead,
    LeadStatus,
    OutboxEmail,
    Role,
    User,
)
from ..public.forms import visible_only
from .forms import (
    STATUS_LABELS,
    ActionForm,
    LoginForm,
    NoteForm,
    PasswordChangeForm,
    RoleForm,
    StatusForm,
    UserCreateForm,
)

bp = Blueprint("staff", __name__, url_prefix="/staff")

EVERYONE = frozenset(Role)
INTAKE = frozenset({Role.ADMIN, Role.STAFF})
MARKETING = frozenset({Role.ADMIN, Role.MARKETING})
ADMIN = frozenset({Role.ADMIN})
# The role x route table (docs/staff.md shows the same; a test keeps them in step).
ACCESS: dict[str, frozenset[Role]] = {
    "staff.logout": EVERYONE,
    "staff.password": EVERYONE,
    "staff.leads": EVERYONE,
    "staff.export": EVERYONE,
    "staff.lead": INTAKE,
    "staff.lead_status": INTAKE,
    "staff.lead_note": INTAKE,
    "staff.lead_spam": INTAKE,
    "staff.email_resend": INTAKE,
    "staff.erase": ADMIN,
    "staff.users": ADMIN,
    "staff.user_role": ADMIN,
    "staff.user_active": ADMIN,
    "staff.user_reset": ADMIN,
    "staff.audit_log": ADMIN,
    "staff.analytics": MARKETING,
    "staff.analytics_csv": MARKETING,
}
PUBLIC = {"staff.login"}


@bp.before_request
def guard():
    """Deny by default: sign-in, idle and absolute timeouts, then the role table."""
    if request.endpoint in PUBLIC:
        return None
    if not current_user.is_authenticated:
        target = request.full_path if request.method == "GET" else url_for("staff.leads")
        return redirect(url_for("staff.login", next=target.rstrip("?")))
    now = time.time()
    config = current_app.config
    idle = now - session.get("staff_seen", now)
    age = now - session.get("staff_login_at", now)
    if idle > config["STAFF_IDLE_MINUTES"] * 60 or age > config["STAFF_SESSION_HOURS"] * 3600:
        user_id = current_user.id
        back = _page_to_return_to()
        logout_user()
        session.clear()
        stash_note_draft(user_id)
        flash("You were signed out after a period of inactivity. Please sign in again.")
        return redirect(url_for("staff.login", next=back))
    session["staff_seen"] = now
    if current_user.role not in ACCESS.get(request.endpoint or "", frozenset()):
        abort(403)
    return None


@bp.after_request
def no_store(response: Response) -> Response:
    # Patient details must not linger in a shared computer's cache.
    response.headers["Cache-Control"] = "no-store"
    return response


def _page_to_return_to() -> str:
    """Where to go after signing in again: this page, or for a POST the lead it was about."""
    if request.method == "GET":
        return request.full_path.rstrip("?")
    lead_id = (request.view_args or {}).get("lead_id")
    return url_for("staff.lead", lead_id=lead_id) if lead_id else url_for("staff.leads")


def stash_note_draft(user_id: int) -> None:
    """Keep a note that could not be saved (timed out) to show it again, for this user only."""
    if request.endpoint == "staff.lead_note" and request.form.get("body", "").strip():
        session["note_draft"] = {
            "user": user_id,
            "lead": (request.view_args or {}).get("lead_id"),
            "body": request.form["body"][:5000],
        }


def after_csrf_failure():
    """A staff form whose security token expired: say so plainly and keep what was typed."""
    if request.endpoint == "staff.login":
        form = LoginForm()
        form.password.data = ""
        error = "The sign-in page sat open too long. Please sign in again."
        return render_template("staff/login.html", form=form, error=error), 400
    if current_user.is_authenticated:
        stash_note_draft(current_user.id)
    flash("That page sat open too long for our security check. Please try again.", "error")
    return redirect(_page_to_return_to(), 303)


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


def login_limit() -> str:
    return current_app.config["RATELIMIT_LOGIN"]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(login_limit, methods=["POST"], deduct_when=lambda r: r.status_code != 303)
def login():
    form = LoginForm()
    next_url = request.args.get("next")
    status = 200
    error = None
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
            draft = session.get("note_draft")
            session.clear()  # a fresh session: nothing from before sign-in carries over...
            if isinstance(draft, dict) and draft.get("user") == user.id:
                session["note_draft"] = draft  # ...but the same person's unsaved note
            login_user(user)
            session["staff_login_at"] = session["staff_seen"] = time.time()
            return redirect(next_url if is_safe_next(next_url) else url_for("staff.leads"), 303)
        if error is None:
            error, status = "That email and password don't match an active account.", 401
    elif form.is_submitted():
        status = 400 if form.csrf_token.errors else 422
        if form.csrf_token.errors:
            error = "The sign-in page sat open too long. Please sign in again."
    form.password.data = ""
    return render_template("staff/login.html", form=form, error=error), status


@bp.post("/logout")
def logout():
    if ActionForm().validate_on_submit():
        audit.record("logout", user=current_user._get_current_object())
        db.session.commit()
        logout_user()
        session.clear()
    return redirect(url_for("staff.login"), 303)


@bp.route("/password", methods=["GET", "POST"])
def password():
    form = PasswordChangeForm()
    error = None
    if form.validate_on_submit():
        user = current_user._get_current_object()
        if not _password_matches(user, form.current.data):
            error = "The current password is not right."
        elif form.new.data != form.confirm.data:
            error = "The two new passwords are different."
        else:
            try:
                users.set_password(user, form.new.data)
            except users.UserError as exc:
                error = str(exc)
            else:
                audit.record("user_password", user=user, target=f"user:{user.id}")
                db.session.commit()
                login_user(user)  # the token changed: keep this session, end all others
                flash("Your password is changed. Other sessions are signed out.")
                return redirect(url_for("staff.leads"), 303)
    return render_template("staff/password.html", form=form, error=error), (422 if error else 200)


def _password_matches(user: User, password: str) -> bool:
    try:
        return users.hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# -- Leads ------------------------------------------------------------------------------


def _parse_date(value: str | None) -> date | None:
    """A yyyy-mm-dd filter date; anything else (or an absurd year) means no filter."""
    try:
        parsed = date.fromisoformat(value) if value else None
    except ValueError:
        return None
    return parsed if parsed is not None and 1900 <= parsed.year <= 9000 else None


def _page_number(value: str | None) -> int:
    text = value or ""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 6 else 1


_M = TypeVar("_M")
MAX_ID = 2**31 - 1  # ids past this are not ours (and overflow PostgreSQL's integer)


def _get_or_404(model: type[_M], object_id: int) -> _M:
    found = db.session.get(model, object_id) if 0 < object_id <= MAX_ID else None
    if found is None:
        abort(404)
    return found


def filter_from_request() -> leads.LeadFilter:
    """The list's filters from the query string; values that make no sense are ignored."""
    args = request.args
    form = args.get("form")
    status = args.get("status")
    spam = args.get("spam", "exclude")
    return leads.LeadFilter(
        form=FormKind(form) if form in {k.value for k in FormKind} else None,
        status=LeadStatus(status) if status in {s.value for s in LeadStatus} else None,
        date_from=_parse_date(args.get("date_from")),
        date_to=_parse_date(args.get("date_to")),
        spam=spam if spam in {"exclude", "only", "include"} else "exclude",
        q=str(visible_only(args.get("q", "")))[:100],
    )


@bp.get("/", endpoint="leads")
def leads_list():
    f = filter_from_request()
    page = leads.list_leads(
        f, _page_number(request.args.get("page")), current_app.config["STAFF_PAGE_SIZE"]
    )
    return render_template(
        "staff/leads.html",
        page=page,
        f=f,
        filters=f.as_dict(),
        status_labels=STATUS_LABELS,
        show_medical=current_user.role is not Role.MARKETING,
        can_open=current_user.role in INTAKE,
    )


def _lead_or_404(lead_id: int) -> Lead:
    return _get_or_404(Lead, lead_id)


@bp.get("/leads/<int:lead_id>")
def lead(lead_id: int):
    found = _lead_or_404(lead_id)
    if request.method == "GET":  # a HEAD shows nobody anything
        audit.record("lead_view", user=current_user._get_current_object(), target=f"lead:{lead_id}")
        db.session.commit()
        found = _lead_or_404(lead_id)
    others = [other for other in found.person.leads if other.id != found.id]
    note_form = NoteForm()
    draft = session.get("note_draft")
    if isinstance(draft, dict) and draft.get("lead") == lead_id:
        if draft.get("user") == current_user.id:
            note_form.body.data = draft.get("body", "")
            flash("Your unsaved note is below: press Add note to save it.")
        session.pop("note_draft")
    return render_template(
        "staff/lead.html",
        lead=found,
        others=others,
        status_labels=STATUS_LABELS,
        status_form=StatusForm(status=found.status.value, seen=found.status.value),
        note_form=note_form,
        action_form=ActionForm(),
        EmailStatus=EmailStatus,
    )


@bp.post("/leads/<int:lead_id>/status")
def lead_status(lead_id: int):
    found = _lead_or_404(lead_id)
    form = StatusForm()
    if form.validate_on_submit():
        new = LeadStatus(form.status.data)
        valid = {s.value for s in LeadStatus}
        seen = LeadStatus(form.seen.data) if form.seen.data in valid else found.status
        if leads.change_status(found, new, current_user._get_current_object(), seen):
            flash(f"Status changed to {STATUS_LABELS[new]}.")
        elif seen is not new:
            flash(
                "Someone else changed this lead's status a moment ago; here it is as it is "
                "now. Choose again if needed.",
                "error",
            )
    return redirect(url_for("staff.lead", lead_id=lead_id), 303)


@bp.post("/leads/<int:lead_id>/notes")
def lead_note(lead_id: int):
    found = _lead_or_404(lead_id)
    form = NoteForm()
    if form.validate_on_submit():
        leads.add_note(found, form.body.data.strip(), current_user._get_current_object())
        flash("Note added.")
        return redirect(url_for("staff.lead", lead_id=lead_id) + "#notes", 303)
    flash(form.body.errors[0] if form.body.errors else "Please try again.", "error")
    return redirect(url_for("staff.lead", lead_id=lead_id) + "#notes", 303)


@bp.post("/leads/<int:lead_id>/spam")
def lead_spam(lead_id: int):
    found = _lead_or_404(lead_id)
    if ActionForm().validate_on_submit():
        spam = request.form.get("spam") == "1"
        leads.set_spam(found, spam, current_user._get_current_object())
        if not spam:
            current_app.extensions["outbox_sender"].wake()
        flash("Marked as spam." if spam else "Released from quarantine; its emails are queued.")
    return redirect(url_for("staff.lead", lead_id=lead_id), 303)


@bp.post("/emails/<int:email_id>/resend")
def email_resend(email_id: int):
    email = _get_or_404(OutboxEmail, email_id)
    if email.lead_id is None:
        abort(404)
    if ActionForm().validate_on_submit():
        if email.kind is EmailKind.GUIDE:
            # The old body carries a link that may have expired: send a fresh one instead.
            leads.queue_guide_email(email.lead)
        else:
            outbox.resend(email)
        audit.record(
            "email_resend", user=current_user._get_current_object(), target=f"email:{email.id}"
        )
        db.session.commit()
        current_app.extensions["outbox_sender"].wake()
        flash("The email is queued again.")
    return redirect(url_for("staff.lead", lead_id=email.lead_id) + "#emails", 303)


@bp.route("/leads/<int:lead_id>/erase", methods=["GET", "POST"])
def erase(lead_id: int):
    found = _lead_or_404(lead_id)
    form = ActionForm()
    if form.validate_on_submit():
        count = leads.erase_person(found.person, current_user._get_current_object())
        flash(f"Erased: {count} request(s) and everything attached to them.")
        return redirect(url_for("staff.leads"), 303)
    return render_template("staff/erase.html", lead=found, form=form)


@bp.get("/leads/export.csv")
def export():
    f = filter_from_request()
    user = current_user._get_current_object()
    if request.method == "HEAD":
        return Response(mimetype="text/csv")
    plan = ExportPlan(f, user.role)
    filters = f.as_dict()
    if "q" in filters:
        # The search words are often a patient's name or number: the log says only that
        # there was a search, so an erasure leaves nothing of the person behind.
        filters["q"] = "(search)"
    audit.record(
        "export",
        user=user,
        detail={"filters": filters, "rows": plan.row_count, "role": user.role.value},
    )
    db.session.commit()
    rows = stream_with_context(plan.rows(leads.clinic_zone()))
    return csv_download(rows, f"leads-{date.today().isoformat()}.csv")


def csv_download(body: Iterable[str] | str, filename: str) -> Response:
    """A CSV file the browser saves (UTF-8; the body carries its own BOM)."""
    return Response(
        body,
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Content-Type": "text/csv; charset=utf-8",
        },
    )


# -- Funnel analytics (admin, marketing) --------------------------------------------------

MAX_REPORT_DAYS = 366


_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _report_day(text: str) -> date | None:
    # Only what a date field sends (2026-11-01), not ISO's other spellings.
    return _parse_date(text) if _ISO_DAY.match(text) else None


@dataclass(frozen=True)
class Period:
    day_from: date
    day_to: date
    typed_from: str  # shown back in the date fields: a date, or the one in use
    typed_to: str
    problem: str | None


def report_period() -> Period:
    """The period asked for (default: the last 30 days) and, if it cannot be used, why.

    Only a start: up to today. Only an end: the 30 days up to it.
    """
    args = request.args
    typed_from = str(visible_only(args.get("from", "")))[:20]
    typed_to = str(visible_only(args.get("to", "")))[:20]
    today = datetime.now(leads.clinic_zone()).date()
    day_from, day_to = today - timedelta(days=29), today
    problem = None
    parsed_from = _report_day(typed_from)
    parsed_to = _report_day(typed_to)
    if (typed_from and parsed_from is None) or (typed_to and parsed_to is None):
        unreadable = typed_from if typed_from and parsed_from is None else typed_to
        problem = (
            f"“{unreadable}” is not a date we can read. Enter dates as year-month-day, "
            "for example 2026-11-01."
        )
    elif parsed_from or parsed_to:
        end = parsed_to or max(today, parsed_from or today)
        start = parsed_from or end - timedelta(days=29)
        if start > end:
            problem = "The start date is after the end date."
        elif (end - start).days >= MAX_REPORT_DAYS:
            problem = f"Choose a period of at most {MAX_REPORT_DAYS} days."
        else:
            day_from, day_to = start, end
    # A date field can only show a date: what could not be read is quoted in the message.
    shown_from = typed_from if parsed_from else day_from.isoformat()
    shown_to = typed_to if parsed_to else day_to.isoformat()
    return Period(day_from, day_to, shown_from, shown_to, problem)


def build_report(period: Period) -> analytics.Report:
    # This process's page views not yet added up, so the page shows the latest counts.
    current_app.extensions["view_counter"].flush()
    library = current_app.extensions["articles"]
    return analytics.build_report(
        period.day_from,
        period.day_to,
        leads.clinic_zone(),
        [(a.path, a.title) for a in library.all],
    )


@bp.get("/analytics", endpoint="analytics")
def analytics_page():
    period = report_period()
    report = build_report(period)
    return render_template(
        "staff/analytics.html",
        report=report,
        chart=analytics_chart.leads_chart(report),
        typed_from=period.typed_from,
        typed_to=period.typed_to,
        problem=period.problem,
        percent=analytics.percent,
        duration=analytics.duration,
        FormKind=FormKind,
        min_views=analytics.MIN_VIEWS_FOR_BEST,
    ), (400 if period.problem else 200)


@bp.get("/analytics.csv", endpoint="analytics_csv")
def analytics_csv():
    period = report_period()
    if period.problem:
        abort(400, period.problem)
    day_from, day_to = period.day_from, period.day_to
    report = build_report(period)
    audit.record(
        "analytics_export",
        user=current_user._get_current_object(),
        detail={"from": day_from.isoformat(), "to": day_to.isoformat()},
    )
    db.session.commit()
    name = f"analytics-{day_from.isoformat()}-to-{day_to.isoformat()}.csv"
    return csv_download(csv_document(analytics.report_rows(report)), name)


# -- Accounts and the audit log (admin) ---------------------------------------------------


@bp.route("/users", methods=["GET", "POST"], endpoint="users")
def users_page():
    form = UserCreateForm()
    created_password = None
    error = None
    if form.validate_on_submit():
        temporary = users.new_temporary_password()
        try:
            user = users.create_user(form.email.data, Role(form.role.data), temporary)
        except users.UserError as exc:
            error = str(exc)
            db.session.rollback()
        else:
            audit.record(
                "user_create",
                user=current_user._get_current_object(),
                target=f"user:{user.id}",
                detail={"role": user.role.value},
            )
            db.session.commit()
            created_password = (user.email, temporary)
            form = UserCreateForm(formdata=None)
    return _render_users(form, error=error, shown_password=created_password)


def _render_users(form: UserCreateForm, error: str | None = None, shown_password=None):
    accounts = db.session.scalars(select(User).order_by(User.email)).all()
    return render_template(
        "staff/users.html",
        form=form,
        accounts=accounts,
        role_forms={u.id: RoleForm(formdata=None, role=u.role.value) for u in accounts},
        action_form=ActionForm(),
        error=error,
        shown_password=shown_password,
    ), (422 if error else 200)


def _other_user(user_id: int) -> User:
    return _get_or_404(User, user_id)


@bp.post("/users/<int:user_id>/role")
def user_role(user_id: int):
    user = _other_user(user_id)
    form = RoleForm()
    if form.validate_on_submit() and user.id != current_user.id:
        old = user.role
        user.role = Role(form.role.data)
        audit.record(
            "user_role",
            user=current_user._get_current_object(),
            target=f"user:{user.id}",
            detail={"from": old.value, "to": user.role.value},
        )
        db.session.commit()
        flash(f"{user.email} is now {user.role.value}.")
    elif user.id == current_user.id:
        flash("You can't change your own role; ask another admin.", "error")
    return redirect(url_for("staff.users"), 303)


@bp.post("/users/<int:user_id>/active")
def user_active(user_id: int):
    user = _other_user(user_id)
    if ActionForm().validate_on_submit():
        if user.id == current_user.id:
            flash("You can't disable your own account.", "error")
        else:
            active = request.form.get("active") == "1"
            users.set_active(user, active)
            audit.record(
                "user_enable" if active else "user_disable",
                user=current_user._get_current_object(),
                target=f"user:{user.id}",
            )
            db.session.commit()
            flash(f"{user.email} is {'enabled' if active else 'disabled and signed out'}.")
    return redirect(url_for("staff.users"), 303)


@bp.post("/users/<int:user_id>/reset")
def user_reset(user_id: int):
    user = _other_user(user_id)
    if ActionForm().validate_on_submit():
        temporary = users.new_temporary_password()
        users.set_password(user, temporary)
        audit.record(
            "user_password", user=current_user._get_current_object(), target=f"user:{user.id}"
        )
        db.session.commit()
        return _render_users(UserCreateForm(formdata=None), shown_password=(user.email, temporary))
    return redirect(url_for("staff.users"), 303)


@bp.get("/audit")
def audit_log():
    args = request.args
    clauses = []
    action = args.get("action", "")
    if action in audit.ACTIONS:
        clauses.append(AuditEvent.action == action)
    actor = str(visible_only(args.get("actor", "")))[:320]
    if actor:
        clauses.append(func.lower(AuditEvent.actor).contains(actor.lower(), autoescape=True))
    date_from, date_to = _parse_date(args.get("date_from")), _parse_date(args.get("date_to"))
    f = leads.LeadFilter(date_from=date_from, date_to=date_to)
    if date_from:
        clauses.append(AuditEvent.created_at >= leads.day_start(date_from))
    if date_to:
        clauses.append(AuditEvent.created_at < leads.day_start(date_to + timedelta(days=1)))
    page_number = _page_number(args.get("page"))
    per_page = 100
    total = db.session.scalar(select(func.count()).select_from(AuditEvent).where(*clauses)) or 0
    page_number, pages = leads.page_bounds(total, page_number, per_page)
    events = db.session.scalars(
        select(AuditEvent)
        .where(*clauses)
        .order_by(AuditEvent.id.desc())
        .limit(per_page)
        .offset((page_number - 1) * per_page)
    ).all()
    return render_template(
        "staff/audit.html",
        events=events,
        actions=audit.ACTIONS,
        action=action,
        actor=actor,
        f=f,
        page=page_number,
        pages=pages,
        total=total,
    )
