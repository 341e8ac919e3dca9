"""an option of tool calls gets one result per call: observations.calls

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("observations", schema=None) as batch_op:
        comment = "An option of several tool calls: each call's id, tool, output and failure."
        batch_op.add_column(sa.Column("calls", sa.JSON(), nullable=True, comment=comment))


def downgrade() -> None:
    with op.batch_alter_table("observations", schema=None) as batch_op:
        batch_op.drop_column("calls")
