"""database.DriverStatement: PostgreSQL's submission statement run straight on the driver
sends what SQLAlchemy would send, and fails as SQLAlchemy would fail."""

from __future__ import annotations

from typing import Any

import pytest
from psycopg.types.json import Json
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from spine_site import intake, lead_mail, outbox
from spine_site.clock import utcnow
from spine_site.database import DriverStatement
from spine_site.extensions import db
from spine_site.models import FormKind, Lead, OutboxEmail
from spine_site.people import normalize_email


def _submission(app, email: str = "driver@example.org") -> tuple[Any, dict[str, Any]]:  # type: ignore[no-untyped-def]
    """The one statement and its values for a new guide lead with its email, as _store
    builds them."""
    fields = {"first_name": "Ana", "email": email, "opt_in": True}
    with app.test_request_context():
        lead = intake.NewLead(
            **intake._lead_values(FormKind.GUIDE, fields, email * 2, intake.Attribution(), None)
        )
        row = outbox.row(lead_mail.patient_email(lead, lead_mail.Links()))
    values = {name: getattr(lead, name) for name in intake._LEAD_COLUMNS}
    values.update({f"utm_{key}": None for key in intake.UTM_KEYS})
    values.update(email_normalized=normalize_email(email), person_created_at=utcnow())
    values.update({f"email_{name}": value for name, value in row.items()})
    return intake._insert_person_and_lead_statement(tuple(row)), values


def test_the_driver_is_given_what_sqlalchemy_would_give_it(app):
    statement, values = _submission(app)
    with app.app_context():
        engine = db.engine
    if engine.dialect.name != "postgresql":
        # Only PostgreSQL's path uses it; SQLite's question-mark parameters are refused.
        with pytest.raises(TypeError, match="sqlite"):
            DriverStatement(statement, engine.dialect)
        return
    sent: list[Any] = []

    def capture(conn, cursor, sql, parameters, context, many):  # type: ignore[no-untyped-def]
        sent.append((sql, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with engine.connect() as conn:  # rolled back on leaving: nothing stored
            conn.execute(statement, values)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    driver = DriverStatement(statement, engine.dialect)
    assert [(sql, _plain(params)) for sql, params in sent] == [
        (driver.sql, _plain(driver.parameters(values)))
    ]
    # Not vacuous: enums went in as their values, the headers as the driver's JSON wrapper.
    params = driver.parameters(values)
    assert params["form"] == "guide" and params["email_kind"] == "guide"
    assert isinstance(params["email_headers"], Json)
    assert "List-Unsubscribe" in params["email_headers"].obj
    with pytest.raises(KeyError):
        driver.parameters({k: v for k, v in values.items() if k != "email_subject"})


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    # psycopg's Json wrapper compares by identity: compare what it wraps.
    return {name: (v.obj, "json") if isinstance(v, Json) else v for name, v in params.items()}


def _postgresql_engine(app, **options: Any):  # type: ignore[no-untyped-def]
    with app.app_context():
        url = db.engine.url
    if url.get_backend_name() != "postgresql":
        return None
    # One connection, so each call gets back the one the call before returned to the pool.
    return create_engine(url, pool_size=1, max_overflow=0, **options)


def test_a_repeat_raises_integrity_error_and_leaves_nothing_half_written(app):
    engine = _postgresql_engine(app, pool_pre_ping=True)
    if engine is None:  # (SQLite: a repeat is test_forms' double submit, one transaction)
        with app.app_context():
            assert db.engine.dialect.name == "sqlite"
        return
    statement, values = _submission(app)
    driver = DriverStatement(statement, engine.dialect)
    (lead_id,) = driver.first_row_alone(engine, values)
    # Same submission key, another Message-ID: the lead INSERT fails, the whole statement with it.
    again = {**values, "email_message_id": values["email_message_id"] + ".2"}
    with pytest.raises(IntegrityError):
        driver.first_row_alone(engine, again)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Lead)) == 1
        assert conn.scalar(select(OutboxEmail.lead_id)) == lead_id
        # The connection went back to the pool as it came: in a transaction-per-use mode.
        assert conn.connection.driver_connection.autocommit is False
    engine.dispose()


def test_a_connection_dropped_mid_statement_is_not_given_out_again(app):
    # No pre-ping here, so only the invalidation keeps the dead connection out of the pool.
    engine = _postgresql_engine(app, pool_pre_ping=False)
    if engine is None:
        with app.app_context():
            assert db.engine.dialect.name == "sqlite"
        return
    with engine.connect() as conn:
        first_pid = conn.scalar(text("SELECT pg_backend_pid()"))
    suicide = DriverStatement(text("SELECT pg_terminate_backend(pg_backend_pid())"), engine.dialect)
    with pytest.raises(OperationalError) as raised:
        suicide.first_row_alone(engine, {})
    assert raised.value.connection_invalidated
    pid = DriverStatement(text("SELECT pg_backend_pid()"), engine.dialect)
    (second_pid,) = pid.first_row_alone(engine, {})
    assert second_pid != first_pid
    engine.dispose()


def test_a_database_that_cannot_be_reached_is_sqlalchemys_operational_error():
    """What the app answers with a 503 (errors.DATABASE_UNAVAILABLE), not the driver's own
    error, which would be a 500: the pool raises that one when it cannot connect."""
    engine = create_engine("postgresql+psycopg://postgres@127.0.0.1:9/nothing")  # (discard)
    driver = DriverStatement(text("SELECT 1"), engine.dialect)
    with pytest.raises(OperationalError):
        driver.first_row_alone(engine, {})
    engine.dispose()
