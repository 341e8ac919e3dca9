"""reports group and filter tasks by their tags: tasks.tags

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        comment = "The task's tags (abilities, difficulty), e.g. ['shell', 'difficulty:easy']; null if unknown."
        batch_op.add_column(sa.Column("tags", sa.JSON(), nullable=True, comment=comment))


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_column("tags")
