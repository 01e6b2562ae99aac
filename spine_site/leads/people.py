"""People: one patient per normalised email address, linking their submissions over time."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from spine_site.extensions import db
from spine_site.models import Person


def normalize_email(email: str) -> str:
    """The key a person is known by: the address trimmed and lower-cased."""
    return email.strip().lower()


def email_hash(email: str) -> str:
    """What the suppression list keeps of an address: enough to recognise it, no more."""
    return hashlib.sha256(normalize_email(email).encode()).hexdigest()


def person_for(email: str) -> Person:
    """The person with this address, or a new one added to the session; the caller commits.
    Of two first requests from one new address, the later one's flush fails on the unique
    address, and its caller (intake.capture) rolls back and asks again."""
    key = normalize_email(email)
    person = db.session.scalar(select(Person).where(Person.email_normalized == key))
    if person is None:
        person = Person(email_normalized=key)
        db.session.add(person)
    return person
