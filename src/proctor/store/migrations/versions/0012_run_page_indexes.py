"""run pages of any size: usage by step (a window's tokens and cost), runs by the run they fork (a run's forks)

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-01
"""

from alembic import op

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_usage_step", "usage", ["step_id"])
    op.create_index("ix_runs_forked", "runs", ["forked_from_run_id", "forked_from_step"])


def downgrade() -> None:
    op.drop_index("ix_runs_forked", table_name="runs")
    op.drop_index("ix_usage_step", table_name="usage")
