"""The migrations build exactly the models' schema, and come back down cleanly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from spine_site.extensions import db
from spine_site.models import in_schema_of
from tests.factories import make_lead


def test_upgrade_on_an_empty_database_gives_the_models_schema(app):
    # The app fixture's database was built by `upgrade()` from nothing.
    with app.app_context(), db.engine.connect() as conn:
        # Off PostgreSQL, leaving out the trigram index (declared for PostgreSQL only).
        opts = {"include_object": in_schema_of(conn.dialect.name)}
        diff = compare_metadata(MigrationContext.configure(conn, opts=opts), db.metadata)
        assert diff == []


def test_every_foreign_key_of_the_models_is_in_the_database(app):
    """With what each does on delete. compare_metadata above does not see a missing key that
    the model marks use_alter (article <-> article_revision)."""
    with app.app_context():
        inspector = inspect(db.engine)
        for table in db.metadata.sorted_tables:
            expected = {
                (
                    tuple(e.parent.name for e in fk.elements),
                    fk.elements[0].column.table.name,
                    fk.ondelete,
                )
                for fk in table.foreign_key_constraints
            }
            found = {
                (
                    tuple(f["constrained_columns"]),
                    f["referred_table"],
                    f["options"].get("ondelete"),
                )
                for f in inspector.get_foreign_keys(table.name)
            }
            assert expected <= found, table.name


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
    from spine_site import privacy
    from spine_site.models import Lead

    first_id = make_lead(app, "guide", first_name="A", email="a@example.com")
    with app.app_context():
        privacy.erase_person(db.session.get(Lead, first_id).person, by=None)
    second_id = make_lead(app, "guide", first_name="B", email="a@example.com")
    assert second_id > first_id


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


def test_the_cascade_revision_keeps_existing_rows_both_ways(app):
    """On SQLite each table is rebuilt: the rows that reference a lead survive it, down and
    up again, and after it deleting the person takes them with it."""
    from sqlalchemy import func, select

    from spine_site import privacy
    from spine_site.models import Lead, OutboxEmail

    lead_id = make_lead(app, email="kept@example.com")
    with app.app_context():
        emails = db.session.scalar(select(func.count()).select_from(OutboxEmail))
        assert emails
        db.session.commit()  # the migration's connection waits for no read of this one
        downgrade(revision="95bdf83892b6")
        upgrade()
        assert db.session.scalar(select(func.count()).select_from(OutboxEmail)) == emails
        privacy.erase_person(db.session.get(Lead, lead_id).person, by=None)
        assert db.session.scalar(select(func.count()).select_from(OutboxEmail)) == 0


def test_the_languages_revision_makes_existing_leads_and_articles_english(app):
    """Leads and articles stored before languages existed are English, down and up again;
    after it a translation may share its original's slug in another language."""
    from sqlalchemy import select

    from spine_site.models import ArticleRecord, Lead, Workflow

    lead_id = make_lead(app, email="before@example.com")
    with app.app_context():
        db.session.add(ArticleRecord(slug="before-languages", workflow=Workflow.DRAFT))
        db.session.commit()
        downgrade(revision="d7a3f9c2e5b1")
        upgrade()
        assert db.session.get(Lead, lead_id).language == "en"
        original = db.session.scalar(
            select(ArticleRecord).where(ArticleRecord.slug == "before-languages")
        )
        assert original.language == "en"
        db.session.add(
            ArticleRecord(
                slug="before-languages",
                language="es",
                workflow=Workflow.DRAFT,
                translation_of=original,
            )
        )
        db.session.commit()
        assert [t.language for t in original.translations] == ["es"]
