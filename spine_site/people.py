"""People: one patient per normalised email address, linking their submissions over time."""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .extensions import db
from .models import Person


def normalize_email(email: str) -> str:
    """The key a person is known by: email-validator's normalised form, lower-cased."""
    return email.strip().lower()


def email_hash(email: str) -> str:
    """What the suppression list keeps of an address: enough to recognise it, no more."""
    return hashlib.sha256(normalize_email(email).encode()).hexdigest()


def person_for(email: str) -> Person:
    """The person with this address, added to the session if new; the caller commits."""
    key = normalize_email(email)
    person = db.session.scalar(select(Person).where(Person.email_normalized == key))
    if person is not None:
        return person
    # Two first submissions from one address can race; the unique key decides, and the
    # savepoint lets the loser pick up the winner's row without losing its own transaction.
    try:
        with db.session.begin_nested():
            person = Person(email_normalized=key)
            db.session.add(person)
    except IntegrityError:
        person = db.session.scalar(select(Person).where(Person.email_normalized == key))
        assert person is not None
    return person
