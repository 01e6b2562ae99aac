"""Admin pages: staff accounts and the audit log."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from sqlalchemy import select

from spine_site.accounts import audit, mfa, users
from spine_site.extensions import db
from spine_site.models import Role, User
from spine_site.staff.access import acting_user, bp, get_or_404, page_number, parse_date, took
from spine_site.staff.forms import ActionForm, RoleForm, UserCreateForm
from spine_site.web.forms import visible_only


@bp.route("/users", methods=["GET", "POST"], endpoint="users")
def users_page():
    form = UserCreateForm()
    shown_password = None
    error = None
    if form.validate_on_submit():
        try:
            user, temporary = users.create_account(
                form.email.data, Role(form.role.data), by=acting_user()
            )
        except users.UserError as exc:
            error = str(exc)
        else:
            shown_password = (user.email, temporary)
            form = UserCreateForm(formdata=None)
    return _render_users(form, error=error, shown_password=shown_password)


def _render_users(
    form: UserCreateForm,
    error: str | None = None,
    shown_password: tuple[str, str] | None = None,
    notice: str | None = None,
):
    accounts = db.session.scalars(select(User).order_by(User.email)).all()
    return render_template(
        "staff/users.html",
        form=form,
        accounts=accounts,
        role_forms={u.id: RoleForm(formdata=None, role=u.role.value) for u in accounts},
        factors=mfa.factor_summary(accounts),
        action_form=ActionForm(),
        error=error,
        shown_password=shown_password,
        notice=notice,
    ), (422 if error else 200)


@bp.post("/users/<int:user_id>/role")
def user_role(user_id: int):
    user = get_or_404(User, user_id)
    form = RoleForm()
    # Asking to change one's own role gets its plain refusal whatever the form held.
    asked = form.validate_on_submit() or user.id == acting_user().id
    if asked and took(
        lambda: users.change_role(user, form.role.data or "", by=acting_user()), users.UserError
    ):
        flash(f"{user.email} is now {user.role.value}.")
    return redirect(url_for("staff.users"), 303)


@bp.post("/users/<int:user_id>/active")
def user_active(user_id: int):
    user = get_or_404(User, user_id)
    active = request.form.get("active") == "1"
    if ActionForm().validate_on_submit() and took(
        lambda: users.set_active(user, active, by=acting_user()), users.UserError
    ):
        flash(f"{user.email} is {'enabled' if active else 'disabled and signed out'}.")
    return redirect(url_for("staff.users"), 303)


@bp.post("/users/<int:user_id>/reset")
def user_reset(user_id: int):
    user = get_or_404(User, user_id)
    if ActionForm().validate_on_submit():
        temporary = users.reset_password(user, by=acting_user())
        return _render_users(UserCreateForm(formdata=None), shown_password=(user.email, temporary))
    return redirect(url_for("staff.users"), 303)


@bp.post("/users/<int:user_id>/mfa-reset")
def user_mfa_reset(user_id: int):
    """For a lost phone or passkey: the person sets up a second factor at next sign-in."""
    user = get_or_404(User, user_id)
    if ActionForm().validate_on_submit():
        try:
            temporary = mfa.reset_factors(user, by=acting_user())
        except mfa.FactorError as exc:
            flash(str(exc), "error")
        else:
            # Shown once, like a password reset: whoever knew the old password must not be
            # the one who sets up the new factor.
            return _render_users(
                UserCreateForm(formdata=None),
                shown_password=(user.email, temporary),
                notice=(
                    f"{user.email}'s second factors are removed, their sessions ended and "
                    "their password replaced; they set up a new factor when they next sign in."
                ),
            )
    return redirect(url_for("staff.users"), 303)


@bp.get("/audit")
def audit_log():
    args = request.args
    action = args.get("action", "")
    actor = str(visible_only(args.get("actor", "")))[:320]
    date_from, date_to = parse_date(args.get("date_from")), parse_date(args.get("date_to"))
    found = audit.find(
        action=action,
        actor=actor,
        date_from=date_from,
        date_to=date_to,
        page=page_number(args.get("page")),
    )
    return render_template(
        "staff/audit.html",
        events=found.events,
        actions=audit.ACTIONS,
        action=action,
        actor=actor,
        date_from=date_from,
        date_to=date_to,
        page=found.page,
        pages=found.pages,
        total=found.total,
    )
