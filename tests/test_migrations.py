"""The migrations build exactly the models' schema, and come back down cleanly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from spine_site.extensions import db


def test_upgrade_on_an_empty_database_gives_the_models_schema(app):
    # The app fixture's database was built by `upgrade()` from nothing.
    with app.app_context(), db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
        assert diff == []


def test_downgrade_to_base_and_up_again(app):
    with app.app_context():
        downgrade(revision="base")
        tables = set(inspect(db.engine).get_table_names()) - {"alembic_version"}
        assert tables == set()
        upgrade()
        tables = set(inspect(db.engine).get_table_names())
        assert {"lead", "person", "outbox_email", "guide_download", "suppression"} <= tables


def test_a_deleted_newest_lead_id_is_never_reused(app):
    """Guide and unsubscribe links name ids: an erased newest lead's id must stay unused."""
    from sqlalchemy import delete

    from spine_site.models import FormKind, Lead, Person

    with app.app_context():
        person = Person(email_normalized="a@example.com")
        db.session.add(person)
        db.session.flush()
        first = Lead(
            person=person,
            form=FormKind.GUIDE,
            submission_token="a",
            first_name="A",
            email="a@example.com",
        )
        db.session.add(first)
        db.session.commit()
        first_id = first.id
        db.session.execute(delete(Lead))
        db.session.commit()
        second = Lead(
            person=person,
            form=FormKind.GUIDE,
            submission_token="b",
            first_name="B",
            email="a@example.com",
        )
        db.session.add(second)
        db.session.commit()
        assert second.id > first_id


def test_upgrade_fills_the_search_text_of_existing_leads(app):
    from sqlalchemy import text

    with app.app_context():
        downgrade(revision="9278c943c06e")
        db.session.execute(
            text(
                "INSERT INTO person (id, email_normalized, created_at) "
                "VALUES (1, 'ada@example.com', '2026-01-01 00:00:00')"
            )
        )
        db.session.execute(
            text(
                "INSERT INTO lead (id, person_id, form, status, submission_token, created_at, "
                "first_name, last_name, email, phone, consent_contact, marketing_opt_in, is_spam)"
                " VALUES (1, 1, 'appointment', 'new', 't', '2026-01-01 00:00:00', 'Ada', "
                "'Lovelace', 'Ada@example.com', '+13128675309', true, false, false)"
            )
        )
        db.session.commit()
        upgrade()
        stored = db.session.execute(text("SELECT search_text FROM lead")).scalar_one()
        assert stored == "ada lovelace ada@example.com 13128675309"
