"""a lead's phone extension

Revision ID: 08ee0c482963
Revises: c4e1d2a7b9f3
Create Date: 2026-12-07 21:00:00.000000

The digits dialled after the number connects ("312-555-0123 ext. 4"), kept apart from the
E.164 number. Leads from before have none: what was typed after the number is not stored.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "08ee0c482963"
down_revision = "c4e1d2a7b9f3"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("lead", sa.Column("phone_extension", sa.String(length=8), nullable=True))


def downgrade():
    # A plain DROP COLUMN on SQLite too (3.35+): no table rebuild for an unindexed column.
    op.drop_column("lead", "phone_extension")
