"""a step is done when its observation is stored: drop the copy of that in steps.done

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("steps", schema=None) as batch_op:
        batch_op.drop_column("done")


def downgrade() -> None:
    with op.batch_alter_table("steps", schema=None) as batch_op:
        comment = "The step's observation is stored."
        batch_op.add_column(sa.Column("done", sa.Boolean(), nullable=False, server_default=sa.false(), comment=comment))
    op.execute("UPDATE steps SET done = EXISTS (SELECT 1 FROM observations WHERE observations.step_id = steps.id)")
