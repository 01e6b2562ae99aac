"""Privacy: marketing consent (the emailed confirmation, the suppression list), erasing a
person, retention purges.

A ticked newsletter box only asks: the patient confirms through the link in their email
(double opt-in), so a stranger's address typed into the form never joins the mailing list.

The suppression list keeps a hash of each address that opted out or was erased. The leads
export reads it: a mailing tool fed from the export never adds an unconfirmed address, nor
re-adds someone who said stop, even after their records were erased.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from spine_site.accounts import audit
from spine_site.clock import utcnow
from spine_site.extensions import db
from spine_site.leads.people import email_hash
from spine_site.models import Lead, Person, Suppression, User
from spine_site.transaction import atomic


class Newsletter(enum.Enum):
    """Where a lead's newsletter consent stands."""

    PENDING = "pending"  # box ticked, link not yet pressed
    CONFIRMED = "confirmed"
    WITHDRAWN = "withdrawn"  # box not ticked, or an unsubscribe (or erasure) since


def newsletter_state(lead: Lead) -> Newsletter:
    """Read-only: an unsubscribe since the request wins over a confirmation, before or after."""
    return newsletter_state_given(lead, suppressed_since([lead.email]).get(lead.email))


def newsletter_state_given(lead: Lead, suppressed_at: datetime | None) -> Newsletter:
    """The same, with the address's suppression time already looked up (the export reads
    the suppression list a batch of leads at a time)."""
    if not lead.marketing_opt_in:
        return Newsletter.WITHDRAWN
    if suppressed_at is not None and suppressed_at >= lead.created_at:
        # Said stop (or was erased) after this request, even if that raced the request's commit.
        return Newsletter.WITHDRAWN
    return Newsletter.PENDING if lead.marketing_confirmed_at is None else Newsletter.CONFIRMED


@atomic()
def confirm_newsletter(lead: Lead) -> Newsletter:
    """The patient pressed the emailed confirmation. Pressing it again keeps the
    first time; after an unsubscribe it changes nothing."""
    state = newsletter_state(lead)
    if state is not Newsletter.PENDING:
        return state
    # Conditional, so a second press racing the first keeps the first time, and an
    # unsubscribe committed meanwhile is not overwritten.
    db.session.execute(
        update(Lead)
        .where(
            Lead.id == lead.id,
            Lead.marketing_opt_in.is_(True),
            Lead.marketing_confirmed_at.is_(None),
        )
        .values(marketing_confirmed_at=utcnow())
    )
    return newsletter_state(lead)


@atomic()
def unsubscribe(person: Person) -> None:
    """Stop marketing email to this person, now and after any later erasure."""
    _suppress(email_hash(person.email_normalized))
    for lead in person.leads:
        lead.marketing_opt_in = False


def _suppress(key: str) -> None:
    if db.session.scalar(select(Suppression.id).where(Suppression.email_hash == key)) is not None:
        return
    try:
        with db.session.begin_nested():
            db.session.add(Suppression(email_hash=key))
    except IntegrityError:
        pass  # a concurrent one-click POST already recorded it


def suppressed_since(emails: Iterable[str]) -> dict[str, datetime]:
    """For each of these addresses on the suppression list: since when it has been there."""
    by_hash = {email_hash(e): e for e in emails}
    found: dict[str, datetime] = {}
    keys = list(by_hash)
    for i in range(0, len(keys), 500):
        rows = db.session.execute(
            select(Suppression.email_hash, Suppression.created_at).where(
                Suppression.email_hash.in_(keys[i : i + 500])
            )
        )
        found.update({by_hash[key]: since for key, since in rows})
    return found


@atomic()
def erase_person(person: Person, *, by: User | None) -> int:
    """Remove a person's data everywhere (by the schema's cascade); keep only a hashed
    opt-out. Returns leads erased."""
    _suppress(email_hash(person.email_normalized))
    person_id, erased = person.id, len(person.leads)
    db.session.delete(person)
    audit.record("erasure", user=by, target=f"person:{person_id}", detail={"leads": erased})
    return erased


def purge_older_than(days: int, *, batch: int = 500) -> dict[str, int]:
    """Retention: delete leads older than `days`, quarantined spam first, and people left
    with no lead, in batches of a transaction each (no lock held for long)."""
    cutoff = utcnow() - timedelta(days=days)
    counts = {"spam": 0, "leads": 0, "people": 0}
    for label, spam in (("spam", True), ("leads", False)):
        while True:
            with atomic():
                ids = db.session.scalars(
                    select(Lead.id)
                    .where(Lead.created_at < cutoff, Lead.is_spam.is_(spam))
                    .limit(batch)
                ).all()
                if ids:
                    db.session.execute(delete(Lead).where(Lead.id.in_(ids)))
            if not ids:
                break
            counts[label] += len(ids)
    with atomic():
        orphans = delete(Person).where(~Person.leads.any())
        counts["people"] = db.session.execute(orphans).rowcount
        audit.record("purge", actor="command line", detail={"older_than_days": days, **counts})
    return counts
