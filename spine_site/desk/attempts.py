"""The intake desk's work on a request: contact attempts, follow-ups, who owns it.

The first attempt and the first reach are kept on the lead: the speed of the first call
decides whether a request becomes a visit, and analytics measure it. A wrong number ends
the follow-ups, as reaching the patient does: calling again will not help.
"""

from __future__ import annotations

from datetime import datetime

from flask import current_app

from spine_site.accounts import audit
from spine_site.clock import utcnow
from spine_site.desk import casework
from spine_site.desk.business_hours import BusinessHours
from spine_site.desk.hours_settings import cadence_from_config
from spine_site.extensions import db
from spine_site.models import (
    AttemptChannel,
    AttemptOutcome,
    ContactAttempt,
    Lead,
    LeadStatus,
    Role,
    User,
)
from spine_site.transaction import atomic

CHANNEL_LABELS = {
    AttemptChannel.CALL: "Call",
    AttemptChannel.TEXT: "Text",
    AttemptChannel.EMAIL: "Email",
}
OUTCOME_LABELS = {
    AttemptOutcome.REACHED: "Reached",
    AttemptOutcome.VOICEMAIL: "Left voicemail",
    AttemptOutcome.NO_ANSWER: "No answer",
    AttemptOutcome.WRONG_NUMBER: "Wrong number",
    AttemptOutcome.SENT: "Sent",
}
# What each channel can come to: a text or an email is sent (or, when they answer, reached).
OUTCOMES_FOR = {
    AttemptChannel.CALL: [
        AttemptOutcome.REACHED,
        AttemptOutcome.VOICEMAIL,
        AttemptOutcome.NO_ANSWER,
        AttemptOutcome.WRONG_NUMBER,
    ],
    AttemptChannel.TEXT: [
        AttemptOutcome.SENT,
        AttemptOutcome.REACHED,
        AttemptOutcome.WRONG_NUMBER,
    ],
    AttemptChannel.EMAIL: [AttemptOutcome.SENT, AttemptOutcome.REACHED],
}
CHANNEL_FOR_METHOD = {
    "phone": AttemptChannel.CALL,
    "text": AttemptChannel.TEXT,
    "email": AttemptChannel.EMAIL,
}
INTAKE_ROLES = frozenset({Role.ADMIN, Role.STAFF})


class DeskError(ValueError):
    """A request the desk cannot do; the message says why, plainly."""


def business_hours() -> BusinessHours:
    """The clinic's hours, built and checked once at start-up (spine_site/__init__.py)."""
    return current_app.extensions["business_hours"]


def proposed_next_try(lead: Lead, after: datetime) -> datetime | None:
    """When to try again after a try that did not reach the patient, or None: the cadence
    is used up, and closing the request as unreachable is the suggestion."""
    cadence = cadence_from_config(current_app.config)
    return business_hours().next_try(after, lead.unreached_attempts, cadence)


@atomic()
def record_attempt(
    lead: Lead,
    channel: AttemptChannel,
    outcome: AttemptOutcome,
    *,
    by: User,
    now: datetime | None = None,
) -> ContactAttempt:
    """One try at reaching the patient, in one step; status and follow-up follow from it."""
    if outcome not in OUTCOMES_FOR[channel]:
        raise DeskError(f"A {CHANNEL_LABELS[channel].lower()} can't end as that.")
    now = now or utcnow()
    attempt = ContactAttempt(lead_id=lead.id, user=by, channel=channel, outcome=outcome)
    attempt.created_at = now
    db.session.add(attempt)
    if lead.first_attempt_at is None:
        lead.first_attempt_at = now
    if outcome is AttemptOutcome.REACHED:
        if lead.first_reached_at is None:
            lead.first_reached_at = now
        lead.unreached_attempts = 0
        lead.next_follow_up_at = None
        # A new request becomes "contacted", recorded like a change by hand.
        casework.move_status(lead, LeadStatus.NEW, LeadStatus.CONTACTED, by)
    elif outcome is AttemptOutcome.WRONG_NUMBER:
        lead.next_follow_up_at = None
    else:
        lead.unreached_attempts = (lead.unreached_attempts or 0) + 1
        lead.next_follow_up_at = proposed_next_try(lead, now)
    if lead.owner_id is None:
        lead.owner_id = by.id  # who tries first holds it, until someone reassigns it
    audit.record(
        "lead_attempt",
        user=by,
        target=f"lead:{lead.id}",
        detail={"channel": channel.value, "outcome": outcome.value},
    )
    return attempt


@atomic()
def set_follow_up(lead: Lead, when: datetime | None, *, by: User) -> None:
    """Staff's own choice of the next try (or none)."""
    if when is not None and when.tzinfo is None:
        raise ValueError("naive datetime for a follow-up")
    lead.next_follow_up_at = when
    audit.record(
        "lead_follow_up",
        user=by,
        target=f"lead:{lead.id}",
        detail={"at": when.isoformat() if when else None},
    )


@atomic()
def set_owner(lead: Lead, owner: User | None, *, by: User) -> None:
    """Claim a request (owner = by), hand it to a colleague, or release it (None)."""
    if owner is not None and (not owner.active or owner.role not in INTAKE_ROLES):
        raise DeskError("Requests can be given only to active admin or intake accounts.")
    if lead.owner_id == (owner.id if owner else None):
        return
    before = lead.owner_id
    lead.owner_id = owner.id if owner else None
    audit.record(
        "lead_owner",
        user=by,
        target=f"lead:{lead.id}",
        detail={"from": before, "to": lead.owner_id},
    )
