"""One domain call, one transaction: `atomic`, which every domain function that writes runs
under, as Zulip's actions run under Django's `transaction.atomic`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from spine_site.extensions import db

# The execution option that marks a write transaction's connection; database.py's SQLite
# "begin" listener reads it to take the write lock at BEGIN.
WRITE = "spine_site_write"
_OPEN = "spine_site_atomic"  # session.info key: an atomic block is running in this session


@contextmanager
def atomic() -> Iterator[None]:
    """Run the block (or the decorated function, as `@atomic()`) as one write transaction:
    begun at entry, committed once at the end, rolled back if an exception leaves it.

    A nested use joins the transaction already running: no savepoint, no commit of its own,
    so a domain function that calls another is still one transaction, committed by the
    outermost. An exception that leaves a nested block rolls the whole transaction back
    when it leaves the outer one too; a caller that catches it and carries on keeps what the
    nested call had written before raising (domain functions refuse before they write).

    What the session held before the block is committed first, ending that transaction.
    In a request this is the read-only snapshot opened by earlier reads (Flask-Login's load
    of the signed-in user, a view's lookup of the lead): nothing is written by that commit,
    and every object loaded so far is expired, so its next attribute access reloads it
    inside the write transaction and the write works on current rows, not on the snapshot.
    (Views stage no changes; a change staged outside this helper would be committed there,
    on its own.) The write then begins afresh: on SQLite with BEGIN IMMEDIATE, taking the
    write lock before its first read, so a read-then-write never fails with "database is
    locked" when it upgrades, and waits its turn (busy_timeout) behind another writer
    instead; on PostgreSQL with a plain BEGIN (row locks come from the statements).
    """
    session = db.session()
    if session.info.get(_OPEN):
        yield
        return
    session.commit()
    session.info[_OPEN] = True
    try:
        with session.begin():
            session.connection(execution_options={WRITE: True})
            yield
    finally:
        del session.info[_OPEN]
