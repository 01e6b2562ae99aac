"""The app's database connection: SQLite settings on its own engine (write transactions take
the write lock at BEGIN, reads do not), and a quiet teardown."""

from __future__ import annotations

import logging
import sqlite3

from flask import Flask
from sqlalchemy import Connection, event
from sqlalchemy.exc import SQLAlchemyError

from spine_site.extensions import db
from spine_site.transaction import WRITE

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    db.init_app(app)
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        # Bound to this app's engine only: other engines in the process (a bench's bare
        # anchor, another test app on PostgreSQL) keep their own settings.
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)

    @app.teardown_appcontext
    def _close_session_quietly(exc: BaseException | None) -> None:
        # Runs before Flask-SQLAlchemy's own teardown. A connection the database dropped
        # (a restart) must not turn an answered, committed request into a 500.
        try:
            db.session.remove()
        except SQLAlchemyError as error:
            log.warning("database connection lost while closing: %s", type(error).__name__)


def _sqlite_pragmas(dbapi_connection: object, connection_record: object) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    # WAL lets readers run beside the writer; busy_timeout makes a writer wait its turn
    # instead of failing with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    # pysqlite's own transaction handling would BEGIN late, at the first write; SQLAlchemy's
    # documented recipe turns it off and issues BEGIN itself (below).
    dbapi_connection.isolation_level = None


def _sqlite_begin(conn: Connection) -> None:
    # A write transaction (transaction.atomic) takes the write lock at BEGIN: its reads and
    # writes see one state, and it never has to upgrade a read lock (which fails at once with
    # "database is locked" if another writer committed meanwhile). Reads begin deferred: in
    # WAL mode they neither take nor wait for the write lock.
    immediate = conn.get_execution_options().get(WRITE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
