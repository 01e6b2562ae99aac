"""languages: a lead remembers the language of the pages it came from; an article may be a
translation of another, with its own address in its own language

Revision ID: e5a1c7d9b3f2
Revises: d7a3f9c2e5b1
Create Date: 2026-12-07 23:50:00.000000

Every existing lead and article is English ("en"). An article's slug is unique within its
language, so a translation may keep the English address under /es/ until an editor gives it
a Spanish one. SQLite rebuilds `article` (batch mode) to swap the unique constraint.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "e5a1c7d9b3f2"
down_revision = "d7a3f9c2e5b1"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("lead", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.add_column(
            sa.Column("language", sa.String(length=5), server_default="en", nullable=False)
        )
    with op.batch_alter_table("article") as batch_op:
        batch_op.add_column(
            sa.Column("language", sa.String(length=5), server_default="en", nullable=False)
        )
        batch_op.add_column(sa.Column("translation_of_id", sa.Integer(), nullable=True))
        batch_op.drop_constraint("uq_article_slug", type_="unique")
        batch_op.create_unique_constraint("uq_article_language_slug", ["language", "slug"])
        batch_op.create_unique_constraint(
            "uq_article_translation", ["translation_of_id", "language"]
        )
        batch_op.create_index(
            batch_op.f("ix_article_translation_of_id"), ["translation_of_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_article_translation_of_id_article"),
            "article",
            ["translation_of_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade():
    with op.batch_alter_table("article") as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_article_translation_of_id_article"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_article_translation_of_id"))
        batch_op.drop_constraint("uq_article_translation", type_="unique")
        batch_op.drop_constraint("uq_article_language_slug", type_="unique")
        batch_op.create_unique_constraint("uq_article_slug", ["slug"])
        batch_op.drop_column("translation_of_id")
        batch_op.drop_column("language")
    with op.batch_alter_table("lead", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_column("language")
