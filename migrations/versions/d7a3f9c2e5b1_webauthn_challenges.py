"""passkey challenges kept in the database until answered

Revision ID: d7a3f9c2e5b1
Revises: 08ee0c482963
Create Date: 2026-12-07 21:10:00.000000

A passkey challenge is answered once, whichever worker the answer reaches: answering
deletes its row. Each worker's rate-limit store (memory:// by default) could not say so.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "d7a3f9c2e5b1"
down_revision = "08ee0c482963"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "webauthn_challenge",
        sa.Column("challenge_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["staff_user.id"],
            name=op.f("fk_webauthn_challenge_user_id_staff_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("challenge_hash", name=op.f("pk_webauthn_challenge")),
    )
    with op.batch_alter_table("webauthn_challenge", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webauthn_challenge_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_webauthn_challenge_user_id"), ["user_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("webauthn_challenge", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webauthn_challenge_user_id"))
        batch_op.drop_index(batch_op.f("ix_webauthn_challenge_expires_at"))
    op.drop_table("webauthn_challenge")
