"""The intake desk's actions on a request (attempts, follow-ups, ownership) and a person's
timeline. Each view parses the form and calls one function of attempts.py."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from sqlalchemy import select

from spine_site.clock import clinic_zone
from spine_site.desk import attempts, casework
from spine_site.extensions import db
from spine_site.models import AttemptChannel, AttemptOutcome, Lead, Person, Role, User
from spine_site.staff.access import acting_user, bp, get_or_404, is_safe_next, took
from spine_site.staff.forms import STATUS_LABELS, AttemptForm, FollowUpForm, OwnerForm


def _back(lead: Lead) -> Any:
    """Back where the button was: the queue (on a phone) or the lead's page."""
    target = request.form.get("next")
    if is_safe_next(target):
        return redirect(target, 303)
    return redirect(url_for("staff.lead", lead_id=lead.id) + "#attempts", 303)


@bp.post("/leads/<int:lead_id>/attempts")
def lead_attempt(lead_id: int):
    lead = get_or_404(Lead, lead_id)
    form = AttemptForm()
    channel = form.channel.data
    outcome = form.outcome.data or request.form.get("outcome_button", "")
    if not form.validate_on_submit() or outcome not in {o.value for o in AttemptOutcome}:
        flash("Choose how you tried (call, text or email) and what came of it.", "error")
        return _back(lead)
    if took(
        lambda: attempts.record_attempt(
            lead, AttemptChannel(channel), AttemptOutcome(outcome), by=acting_user()
        ),
        attempts.DeskError,
    ):
        flash(_attempt_message(lead, AttemptOutcome(outcome)))
    return _back(lead)


def _attempt_message(lead: Lead, outcome: AttemptOutcome) -> str:
    # A flash message travels in the session cookie (signed, not encrypted): the request's
    # number, never the patient's name.
    said = f"{attempts.OUTCOME_LABELS[outcome]}: recorded for request #{lead.id}."
    if outcome is AttemptOutcome.REACHED:
        return f"{said} Status: {STATUS_LABELS[lead.status]}."
    if lead.next_follow_up_at is not None:
        local = lead.next_follow_up_at.astimezone(clinic_zone())
        return f"{said} Next try proposed: {local:%a %b %-d, %-I:%M %p}."
    if outcome is AttemptOutcome.WRONG_NUMBER:
        return f"{said} No follow-up is planned; try another way or close the request."
    return f"{said} That was the last planned try: consider closing it as unreachable."


@bp.post("/leads/<int:lead_id>/follow-up")
def lead_follow_up(lead_id: int):
    lead = get_or_404(Lead, lead_id)
    form = FollowUpForm()
    if not form.validate_on_submit():
        return render_template("staff/follow_up.html", lead=lead, form=form), 422
    when: datetime | None = form.when.data
    local = when.replace(tzinfo=clinic_zone()) if when is not None else None
    attempts.set_follow_up(lead, local, by=acting_user())
    flash("Next try saved." if local else "No follow-up planned.")
    return _back(lead)


@bp.post("/leads/<int:lead_id>/owner")
def lead_owner(lead_id: int):
    lead = get_or_404(Lead, lead_id)
    form = OwnerForm()
    form.owner.choices = owner_choices()
    if not form.validate_on_submit():
        flash("Choose someone on the intake desk.", "error")
        return _back(lead)
    value = form.owner.data
    owner = db.session.get(User, int(value)) if value and value.isdigit() else None
    if took(lambda: attempts.set_owner(lead, owner, by=acting_user()), attempts.DeskError):
        flash(f"Owner: {owner.email}." if owner else "Nobody owns this request now.")
    return _back(lead)


def owner_choices() -> list[tuple[str, str]]:
    """Nobody, or any active admin or intake account."""
    people = db.session.scalars(
        select(User)
        .where(User.active.is_(True), User.role.in_([Role.ADMIN, Role.STAFF]))
        .order_by(User.email)
    )
    return [("", "Nobody"), *((str(u.id), u.email) for u in people)]


@bp.get("/people/<int:person_id>")
def person(person_id: int):
    """Everything about one person, newest first: what they did and what was done for them."""
    found = get_or_404(Person, person_id)
    if request.method == "GET":
        casework.view_person(found, by=acting_user())
    return render_template(
        "staff/person.html",
        person=found,
        name=casework.person_name(found),
        events=casework.timeline(found),
        status_labels=STATUS_LABELS,
        outcome_labels=attempts.OUTCOME_LABELS,
        channel_labels=attempts.CHANNEL_LABELS,
    )
