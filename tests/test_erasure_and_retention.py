"""Erasing a person on request (everything but a hashed opt-out), and purging old leads:
the schema's ON DELETE CASCADE takes every row that hangs off them."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Column, Enum, Table, func, insert, select, update

from spine_site import privacy
from spine_site.clock import utcnow
from spine_site.extensions import db
from spine_site.models import (
    AuditEvent,
    ContactAttempt,
    GuideDownload,
    Lead,
    LeadStatusChange,
    Note,
    OutboxEmail,
    Person,
    Suppression,
    User,
)
from tests.factories import make_download, make_lead
from tests.html_forms import form_posting_to, post_form


def test_admin_erases_a_person_everywhere_but_keeps_the_opt_out(app, admin_client):
    first = make_lead(app, "guide", email="patient1@example.com", opt_in=True)
    second = make_lead(app, email="patient1@example.com")
    other = make_lead(app, email="patient2@example.com")
    page = f"/staff/leads/{second}"
    post_form(admin_client, page, f"/staff/leads/{second}/notes", body="Called back.")
    make_download(app, first)
    confirm = admin_client.get(f"/staff/leads/{second}/erase").get_data(as_text=True)
    assert "all 2 request(s)" in confirm
    response = post_form(
        admin_client, f"/staff/leads/{second}/erase", f"/staff/leads/{second}/erase"
    )
    assert response.status_code == 303
    with app.app_context():
        remaining = db.session.scalars(select(Lead.id)).all()
        assert remaining == [other]
        assert db.session.scalars(select(Person.email_normalized)).all() == ["patient2@example.com"]
        assert db.session.scalars(select(Note)).all() == []
        assert db.session.scalars(select(GuideDownload)).all() == []
        assert {e.to_addr for e in db.session.scalars(select(OutboxEmail))} == {
            "patient2@example.com",
            "intake@clinic.example",
        }
        assert db.session.scalar(select(func.count()).select_from(Suppression)) == 1
        assert "PATIENT1@example.com" in privacy.suppressed_since(["PATIENT1@example.com"])
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "erasure")).one()
        assert event.detail == {"leads": 2} and "patient1" not in str(event.detail)


def purge_said(caplog: pytest.LogCaptureFixture) -> str:
    """The purge command's own line (it logs, for the journal)."""
    (line,) = [r.getMessage() for r in caplog.records if r.name == "spine_site.cli"]
    return line


def test_purge_command_deletes_old_leads_spam_first(app, caplog):
    caplog.set_level(logging.INFO, logger="spine_site.cli")
    old_spam = make_lead(app, email="patient1@example.com", spam=True, days_ago=40)
    old = make_lead(app, email="patient2@example.com", days_ago=40)
    recent = make_lead(app, email="patient3@example.com", days_ago=5)
    result = app.test_cli_runner().invoke(args=["leads", "purge", "--older-than", "30"])
    assert result.exit_code == 0, result.output
    said = purge_said(caplog)
    assert "purged 1 spam and 1 other leads" in said
    assert "2 people" in said
    with app.app_context():
        assert db.session.scalars(select(Lead.id)).all() == [recent]
        assert db.session.scalar(select(func.count()).select_from(OutboxEmail)) == 2
    assert old_spam and old


def _tables_off_a_patient() -> list[Table]:
    """Every table whose rows hang off a lead or a person, directly or through another such
    table, found from the models' foreign keys: a new table is covered without a change here."""
    found = {"lead", "person"}
    grew = True
    while grew:
        grew = False
        for table in db.metadata.sorted_tables:
            if table.name not in found and any(
                fk.column.table.name in found for fk in table.foreign_keys
            ):
                found.add(table.name)
                grew = True
    return [table for table in db.metadata.sorted_tables if table.name in found]


def _value_for(column: Column, tag: str) -> object:
    """A value the column's type accepts; `tag` keeps text unique from one call to the next."""
    kind = column.type
    if isinstance(kind, Enum):
        return next(iter(kind.enum_class)) if kind.enum_class else kind.enums[0]
    python_type = kind.python_type
    samples: dict[type, object] = {
        int: 1,
        bool: False,
        str: tag,
        bytes: tag.encode(),
        dict: {},
        list: [],
        datetime: datetime(2000, 1, 1, tzinfo=UTC),
        date: date(2000, 1, 1),
    }
    return samples[python_type]


def _one_row_each(tables: list[Table], tag: str) -> dict[str, int]:
    """One row in each table (and in whatever else a required key points to); their ids."""
    made: dict[str, int] = {}

    def make(table: Table) -> int:
        if table.name in made:
            return made[table.name]
        values: dict[str, object] = {}
        for column in table.columns:
            fk = next(iter(column.foreign_keys), None)
            points_in = fk is not None and fk.column.table in tables
            if fk is not None and (points_in or not column.nullable):
                values[column.name] = make(fk.column.table)
            elif not (column.nullable or column.default or column.server_default) and not (
                column.primary_key and column.autoincrement in (True, "auto")
            ):
                values[column.name] = _value_for(column, tag)
        made[table.name] = db.session.execute(insert(table).values(values)).inserted_primary_key[0]
        return made[table.name]

    for table in tables:
        make(table)
    db.session.commit()
    return made


def _rows_left(tables: list[Table]) -> dict[str, int]:
    counts = {t.name: db.session.scalar(select(func.count()).select_from(t)) for t in tables}
    return {name: count for name, count in counts.items() if count}


def test_erasure_and_purge_leave_no_row_of_any_table_off_a_lead_or_person(app):
    with app.app_context():
        tables = _tables_off_a_patient()
        names = {table.name for table in tables}
        assert {"lead_note", "note_draft", "contact_attempt", "outbox_email"} <= names
        assert {"guide_download", "lead_status_change"} <= names
        made = _one_row_each(tables, "first")
        assert _rows_left(tables) == dict.fromkeys(names, 1)
        privacy.erase_person(db.session.get(Person, made["person"]), by=None)
        assert _rows_left(tables) == {}
        assert db.session.get(User, made["staff_user"]) is not None  # staff stay

        _one_row_each(tables, "second")
        db.session.execute(update(Lead).values(created_at=utcnow() - timedelta(days=40)))
        db.session.commit()
        counts = privacy.purge_older_than(30)
        assert counts == {"spam": 0, "leads": 1, "people": 1}
        assert _rows_left(tables) == {}


def test_a_lead_with_attempts_notes_emails_and_downloads_is_erased_through_the_staff_area(
    app, admin_client
):
    lead_id = make_lead(app, "guide", email="patient1@example.com")
    other = make_lead(app, email="patient2@example.com")
    page = f"/staff/leads/{lead_id}"
    fields = form_posting_to(admin_client.get(page).get_data(as_text=True), f"{page}/attempts")
    attempt = admin_client.post(f"{page}/attempts", data={**fields, "outcome": "no_answer"})
    assert attempt.status_code == 303
    post_form(admin_client, page, f"{page}/notes", body="Left a voicemail.")
    post_form(admin_client, page, f"{page}/status", status="contacted")
    make_download(app, lead_id)
    with app.app_context():
        lead = db.session.get(Lead, lead_id)
        assert lead.attempts and lead.notes and lead.emails and lead.downloads
        assert lead.status_changes

    response = post_form(admin_client, f"{page}/erase", f"{page}/erase")
    assert response.status_code == 303
    with app.app_context():
        assert db.session.scalars(select(Lead.id)).all() == [other]
        for model in (ContactAttempt, Note, GuideDownload, LeadStatusChange):
            assert db.session.scalars(select(model)).all() == [], model
        assert "patient1@example.com" not in {
            e.to_addr for e in db.session.scalars(select(OutboxEmail))
        }


def test_the_purge_command_deletes_leads_with_attempts_notes_emails_and_downloads(
    app, staff_client, caplog
):
    caplog.set_level(logging.INFO, logger="spine_site.cli")
    lead_id = make_lead(app, "guide", email="patient1@example.com")
    page = f"/staff/leads/{lead_id}"
    fields = form_posting_to(staff_client.get(page).get_data(as_text=True), f"{page}/attempts")
    staff_client.post(f"{page}/attempts", data={**fields, "outcome": "no_answer"})
    post_form(staff_client, page, f"{page}/notes", body="Left a voicemail.")
    make_download(app, lead_id)
    with app.app_context():
        lead = db.session.get(Lead, lead_id)
        assert lead.attempts and lead.notes and lead.emails and lead.downloads
        lead.created_at = utcnow() - timedelta(days=40)
        db.session.commit()

    result = app.test_cli_runner().invoke(args=["leads", "purge", "--older-than", "30"])
    assert result.exit_code == 0, result.output
    assert "purged 0 spam and 1 other leads" in purge_said(caplog)
    with app.app_context():
        assert db.session.scalars(select(Lead.id)).all() == []
        assert db.session.scalars(select(Person.id)).all() == []
        for model in (ContactAttempt, Note, GuideDownload, OutboxEmail):
            assert db.session.scalars(select(model)).all() == [], model
