"""staff search indexes: a trigram index on PostgreSQL, an FTS5 trigram table on SQLite

Revision ID: 95bdf83892b6
Revises: b48339bc294e
Create Date: 2026-11-29 09:54:09.965057

The staff search looks for each term as a substring of lead.search_text
(spine_site/lead_search.py). PostgreSQL: the pg_trgm extension (a trusted extension: the
database's owner may create it) and a GIN trigram index, which the existing LIKE uses; the
index is built over the existing rows. SQLite (>= 3.34 for the trigram tokenizer): an FTS5
table over lead's search_text (external content: it stores only the index), filled from
the existing rows, and triggers that keep it current on insert, delete and update.

A later batch_alter_table("lead") on SQLite drops these triggers with the old table: such
a revision must create them again. The downgrade leaves the pg_trgm extension installed
(other things in the database may use it).
"""
import sqlite3

from alembic import op

# revision identifiers, used by Alembic.
revision = '95bdf83892b6'
down_revision = 'b48339bc294e'
branch_labels = None
depends_on = None


SQLITE_TRIGGERS = {
    "lead_fts_insert": """CREATE TRIGGER lead_fts_insert AFTER INSERT ON lead BEGIN
        INSERT INTO lead_fts(rowid, search_text) VALUES (new.id, new.search_text);
    END""",
    "lead_fts_delete": """CREATE TRIGGER lead_fts_delete AFTER DELETE ON lead BEGIN
        INSERT INTO lead_fts(lead_fts, rowid, search_text)
        VALUES ('delete', old.id, old.search_text);
    END""",
    "lead_fts_update": """CREATE TRIGGER lead_fts_update AFTER UPDATE OF id, search_text ON lead
    BEGIN
        INSERT INTO lead_fts(lead_fts, rowid, search_text)
        VALUES ('delete', old.id, old.search_text);
        INSERT INTO lead_fts(rowid, search_text) VALUES (new.id, new.search_text);
    END""",
}


def upgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.create_index(
            "ix_lead_search_text_trgm",
            "lead",
            ["search_text"],
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        )
    elif dialect == "sqlite":
        if sqlite3.sqlite_version_info < (3, 34, 0):
            raise RuntimeError(
                f"SQLite {sqlite3.sqlite_version} has no FTS5 trigram tokenizer: 3.34 or newer "
                "is needed for the staff search index"
            )
        op.execute(
            "CREATE VIRTUAL TABLE lead_fts USING fts5("
            "search_text, content='lead', content_rowid='id', tokenize='trigram')"
        )
        # The leads already stored, read through the external content table.
        op.execute("INSERT INTO lead_fts(lead_fts) VALUES ('rebuild')")
        for sql in SQLITE_TRIGGERS.values():
            op.execute(sql)


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.drop_index("ix_lead_search_text_trgm", table_name="lead")
    elif dialect == "sqlite":
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS lead_fts")
