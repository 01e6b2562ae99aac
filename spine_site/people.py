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
    """The person with this address, added to the session if new; the caller commits.

    Two first submissions from one new address may race. The new person is inserted inside
    a savepoint: the loser's INSERT meets the unique address (on PostgreSQL it waits for the
    winner to commit), only the savepoint rolls back, and the SELECT after it, a new
    statement, finds the winner's row.
    """
    key = normalize_email(email)
    known = select(Person).where(Person.email_normalized == key)
    person = db.session.scalar(known)
    if person is not None:
        return person
    try:
        with db.session.begin_nested():
            person = Person(email_normalized=key)
            db.session.add(person)
    except IntegrityError:
        person = db.session.scalars(known).one()
    return person
