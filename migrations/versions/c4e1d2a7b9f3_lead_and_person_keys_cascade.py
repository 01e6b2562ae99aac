"""foreign keys to a lead or a person cascade on delete; SQLite's search reads an index

Revision ID: c4e1d2a7b9f3
Revises: 95bdf83892b6
Create Date: 2026-12-07 19:20:00.000000

Every row that belongs to a lead (its emails, guide downloads, notes, note drafts, status
changes, contact attempts) or to a person (their leads) is deleted with it by the database:
erasure and the retention purge delete the person or the lead, and no table can be left out.
No record that references a lead or a person must outlive it, so none is SET NULL.

SQLite cannot alter a foreign key: each table is rebuilt (batch mode), with foreign keys
off while it runs (migrations/env.py). The staff search is a plain LIKE there, so the FTS5
table and its triggers, which the rebuild of `lead` would drop anyway, are dropped first;
the LIKE reads search_text from an ordinary index in the list's order instead.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "c4e1d2a7b9f3"
down_revision = "95bdf83892b6"
branch_labels = None
depends_on = None

# (table, column, referred table): every foreign key to a lead or a person.
KEYS = [
    ("lead", "person_id", "person"),
    ("outbox_email", "lead_id", "lead"),
    ("guide_download", "lead_id", "lead"),
    ("lead_note", "lead_id", "lead"),
    ("note_draft", "lead_id", "lead"),
    ("lead_status_change", "lead_id", "lead"),
    ("contact_attempt", "lead_id", "lead"),
]

FTS_TRIGGERS = {
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


def _set_keys(ondelete):
    for table, column, referred in KEYS:
        name = f"fk_{table}_{column}_{referred}"
        # lead keeps its ids unused after a delete (guide links name them).
        kwargs = {"sqlite_autoincrement": True} if table == "lead" else {}
        with op.batch_alter_table(table, table_kwargs=kwargs) as batch_op:
            batch_op.drop_constraint(name, type_="foreignkey")
            batch_op.create_foreign_key(name, referred, [column], ["id"], ondelete=ondelete)


def upgrade():
    if op.get_bind().dialect.name == "sqlite":
        for name in FTS_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS lead_fts")
    _set_keys("CASCADE")
    if op.get_bind().dialect.name == "sqlite":
        op.create_index(
            "ix_lead_search_in_order",
            "lead",
            ["is_spam", "created_at", "id", "search_text", "status"],
        )


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("ix_lead_search_in_order", table_name="lead")
    _set_keys(None)
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE lead_fts USING fts5("
            "search_text, content='lead', content_rowid='id', tokenize='trigram')"
        )
        op.execute("INSERT INTO lead_fts(lead_fts) VALUES ('rebuild')")
        for sql in FTS_TRIGGERS.values():
            op.execute(sql)
