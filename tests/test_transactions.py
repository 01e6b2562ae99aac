"""transaction.atomic: one commit per domain call, all or nothing, nested calls joined; on
SQLite, the write lock taken at the start of a write and never by a read."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import event, func, insert, select

from spine_site.accounts import audit
from spine_site.extensions import db
from spine_site.models import AuditEvent
from spine_site.transaction import atomic


def events(action: str | None = None) -> int:
    """Audit events committed, as another connection sees them."""
    query = select(func.count()).select_from(AuditEvent)
    if action:
        query = query.where(AuditEvent.action == action)
    with db.engine.connect() as other:
        return other.scalar(query) or 0


@atomic()
def sign_in_twice() -> None:
    audit.record("login", actor="a@clinic.example")
    audit.record("login", actor="b@clinic.example")


def test_one_commit_for_a_call_that_calls_another(app):
    with app.app_context():
        commits: list[object] = []
        event.listen(db.engine, "commit", commits.append)
        with atomic():
            sign_in_twice()
            assert events("login") == 0  # the nested call joined: nothing committed yet
            audit.record("logout", actor="a@clinic.example")
        assert len(commits) == 1
        assert events("login") == 2 and events("logout") == 1


def test_an_exception_rolls_everything_back(app):
    with app.app_context():
        before = events()
        with pytest.raises(ZeroDivisionError), atomic():
            sign_in_twice()
            audit.record("logout", actor="a@clinic.example")
            db.session.flush()  # the rows were sent, not only staged
            1 / 0  # noqa: B018
        assert events() == before
        # The session is usable again: the next call commits as usual.
        sign_in_twice()
        assert events("login") == 2


def test_a_failing_nested_call_undoes_the_outer_writes(app):
    @atomic()
    def refuse() -> None:
        audit.record("logout", actor="a@clinic.example")
        raise ValueError("refused")

    with app.app_context():
        before = events()
        with pytest.raises(ValueError), atomic():
            audit.record("login", actor="a@clinic.example")
            refuse()
        assert events() == before


def test_a_write_starts_on_current_rows_after_an_older_read(app):
    """A request reads first (Flask-Login loads the user); another writer commits; the
    request's write then reads and writes without "database is locked" and sees that row."""
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(AuditEvent))
        with db.engine.begin() as other:
            other.execute(insert(AuditEvent).values(action="login", detail={}))
        with atomic():
            seen = db.session.scalar(select(func.count()).select_from(AuditEvent))
            audit.record("logout", actor="a@clinic.example")
        assert seen == before + 1
        assert events() == before + 2


def _sqlite_path(app) -> str:
    with app.app_context():
        return str(db.engine.url.database)


def _other_writer_can_begin(path: str) -> bool:
    """Whether another connection gets the write lock at once (no waiting)."""
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError as error:
        assert "locked" in str(error)
        return False
    finally:
        other.close()


@pytest.mark.sqlite_only
def test_sqlite_write_holds_the_lock_from_its_start(app):
    path = _sqlite_path(app)
    with app.app_context():
        with atomic():
            db.session.scalar(select(func.count()).select_from(AuditEvent))  # reads only
            assert not _other_writer_can_begin(path)
            audit.record("login", actor="a@clinic.example")
        assert _other_writer_can_begin(path)
        assert events("login") == 1


@pytest.mark.sqlite_only
def test_sqlite_read_takes_no_write_lock(app):
    path = _sqlite_path(app)
    with app.app_context():
        db.session.scalar(select(func.count()).select_from(AuditEvent))
        assert db.session().in_transaction()  # the read's transaction is still open
        assert _other_writer_can_begin(path)
