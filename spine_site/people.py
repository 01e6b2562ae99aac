"""People: one patient per normalised email address, linking their submissions over time."""

from __future__ import annotations

import functools
import hashlib

from sqlalchemy import Connection, Executable, bindparam, select
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


def person_id_for(email: str, connection: Connection | None = None) -> int:
    """The id of the person with this address, inserted if new; the caller commits.

    A new address (the usual case) is one statement: INSERT ... ON CONFLICT DO NOTHING
    RETURNING id; a known one then needs a SELECT. No savepoint is needed for a race between
    two first submissions from one address: on PostgreSQL the second INSERT waits for the
    first transaction, then does nothing, and the SELECT (a new statement, so a new snapshot
    under READ COMMITTED) sees the winner's row; on SQLite the write lock taken at BEGIN
    IMMEDIATE already puts one after the other.
    """
    key = normalize_email(email)
    # (The caller's connection when it has one: asking the session again costs a lookup.)
    connection = connection or db.session.connection()
    insert_new, select_known = _statements(connection.dialect.name)
    inserted = connection.execute(insert_new, {"email_normalized": key, "created_at": utcnow()})
    person_id = inserted.scalar()
    if person_id is None:
        person_id = connection.execute(select_known, {"key": key}).scalar_one()
    return person_id


@functools.cache
def _statements(dialect: str) -> tuple[Executable, Executable]:
    # Built once: a statement built per call costs more to construct and to key for the
    # compiled cache than it does to run. ON CONFLICT is each dialect's own construct.
    table = Person.__table__
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    insert_new = (
        insert(table)
        .on_conflict_do_nothing(index_elements=[table.c.email_normalized])
        .returning(table.c.id)
    )
    select_known = select(table.c.id).where(table.c.email_normalized == bindparam("key"))
    return insert_new, select_known
