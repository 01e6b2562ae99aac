"""The app's database connection: SQLite settings on its own engine (write transactions take
the write lock at BEGIN, reads do not), a quiet teardown, and DriverStatement, which runs the
hottest write (a new lead on PostgreSQL) straight on the driver."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask
from sqlalchemy import Connection, Dialect, Engine, Executable, event
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from .extensions import db
from .transaction import WRITE

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
    # A write transaction (transaction.atomic) takes the write lock at BEGIN, so its reads
    # and writes see one state and it never has to upgrade a read lock (which fails at once
    # with "database is locked" if another writer committed meanwhile). Reads begin
    # deferred: in WAL mode they neither take nor wait for the write lock.
    immediate = conn.get_execution_options().get(WRITE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class DriverStatement:
    """A Core statement compiled once for one dialect, run in autocommit straight on the
    driver's connection: for the hottest write, where SQLAlchemy's execution layer (the
    compiled-cache lookup, a new execution context, parameters processed name by name, the
    result wrapped) cost more of the machine than the statement itself.

    What SQLAlchemy would send is sent: the SQL it compiles, and each value through the bind
    processor of its column's type (enums to their values, JSON serialised, datetimes made
    UTC). A pool checkout is the pool's own, pre-ping included; a driver error is raised as
    SQLAlchemy would raise it (IntegrityError and the rest), and a dropped connection is
    invalidated, not returned to the pool.
    """

    def __init__(self, statement: Executable, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        # Named parameters in the SQL as SQLAlchemy names them, no renaming, nothing rendered
        # at execution: otherwise this would have to redo more of SQLAlchemy's work.
        if dialect.positional or compiled.escaped_bind_names or compiled.literal_execute_params:
            raise TypeError(f"{dialect.name}: not a statement DriverStatement can run")
        self.sql = compiled.string
        self._plan: list[tuple[str, str, bool, Any, Callable[[Any], Any] | None]] = [
            (
                name,
                bind.key,
                bind.required,
                bind.effective_value,
                bind.type.dialect_impl(dialect).bind_processor(dialect),
            )
            for bind, name in compiled.bind_names.items()
        ]

    def parameters(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """What the driver is given for these values (a value missing for a bound parameter
        without one of its own is a KeyError, as SQLAlchemy makes it an error)."""
        params = {}
        for name, key, required, constant, process in self._plan:
            value = values[key] if required or key in values else constant
            params[name] = process(value) if process is not None else value
        return params

    def first_row_alone(self, engine: Engine, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """Run the statement in autocommit on a pooled connection: its first row, or None."""
        params = self.parameters(values)
        dbapi = engine.dialect.loaded_dbapi
        try:
            connection = engine.raw_connection()
        except dbapi.Error as error:
            # (The pool raises the driver's own error: a database that is down must still be
            # SQLAlchemy's OperationalError, which the app answers with a 503.)
            dropped = engine.dialect.is_disconnect(error, None, None)
            raise _as_sqlalchemy_error(error, engine, None, None, dropped) from error
        try:
            driver = connection.driver_connection
            driver.autocommit = True
            try:
                with driver.cursor() as cursor:
                    cursor.execute(self.sql, params)
                    return cursor.fetchone()
            finally:
                if not driver.closed:
                    driver.autocommit = False
        except dbapi.Error as error:
            dropped = engine.dialect.is_disconnect(error, connection.dbapi_connection, None)
            if dropped:
                connection.invalidate(error)
            raise _as_sqlalchemy_error(error, engine, self.sql, params, dropped) from error
        finally:
            connection.close()


def _as_sqlalchemy_error(
    error: Exception,
    engine: Engine,
    sql: str | None,
    params: dict[str, Any] | None,
    dropped: bool,
) -> DBAPIError:
    """The driver's error as SQLAlchemy raises it (IntegrityError, OperationalError ...)."""
    return DBAPIError.instance(
        sql,
        params,
        error,
        engine.dialect.loaded_dbapi.Error,
        hide_parameters=engine.hide_parameters,
        connection_invalidated=dropped,
        dialect=engine.dialect,
    )
