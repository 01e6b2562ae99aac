"""People: one patient per normalised email address, linking their submissions over time."""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .clock import utcnow
from .extensions import db
from .models import Person


def normalize_email(email: str) -> str:
    """The key a person is known by: email-validator's normalised form, lower-cased."""
    return email.strip().lower()


def email_hash(email: str) -> str:
    """What the suppression list keeps of an address: enough to recognise it, no more."""
    return hashlib.sha256(normalize_email(email).encode()).hexdigest()


def person_id_for(email: str) -> int:
    """The id of the person with this address, inserted if new; the caller commits.

    One statement in the usual case (a new address, or on SQLite any address): INSERT ... ON
    CONFLICT DO NOTHING RETURNING id, and only when the address is known already a SELECT.
    No savepoint is needed for a race between two first submissions from one address: on
    PostgreSQL the second INSERT waits for the first transaction, then does nothing, and the
    SELECT (a new statement, so a new snapshot under READ COMMITTED) sees the winner's row;
    on SQLite the write lock taken at BEGIN IMMEDIATE already puts one after the other.
    """
    key = normalize_email(email)
    table = Person.__table__
    statement = _insert_for(db.session.get_bind().dialect.name)(table)
    inserted = db.session.execute(
        statement.values(email_normalized=key, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=[table.c.email_normalized])
        .returning(table.c.id)
    ).scalar()
    if inserted is not None:
        return inserted
    return db.session.execute(
        select(table.c.id).where(table.c.email_normalized == key)
    ).scalar_one()


def _insert_for(dialect: str):  # type: ignore[no-untyped-def]
    # ON CONFLICT is each dialect's own construct; both databases here have it.
    return postgresql_insert if dialect == "postgresql" else sqlite_insert
