"""the runs list ordered by score: a partial index of top-level runs on (score, unscored first; id)

Revision ID: 0016
Revises: 0012
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    score = sa.text("coalesce(score, -1.0)")
    if op.get_bind().dialect.name == "postgresql":  # see proctor.store._schema
        op.create_index("ix_runs_top_score", "runs", [score, "id"], postgresql_where=sa.text("parent_run_id IS NULL"))
    else:
        op.create_index("ix_runs_parent_score", "runs", ["parent_run_id", score, "id"])


def downgrade() -> None:
    name = "ix_runs_top_score" if op.get_bind().dialect.name == "postgresql" else "ix_runs_parent_score"
    op.drop_index(name, table_name="runs")
