"""runs are leased by workers (runs.lease_owner, runs.lease_expires) and may belong to a Ray batch (runs.batch);
usage keeps the effective concurrency limit

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        comment = "The worker holding the run's lease (`host:pid:nonce`); null for runs driven without one."
        batch_op.add_column(sa.Column("lease_owner", sa.String(100), nullable=True, comment=comment))
        comment = "When the lease lapses unless its worker renews it; a lapsed run is taken over by another worker."
        batch_op.add_column(sa.Column("lease_expires", sa.DateTime(timezone=True), nullable=True, comment=comment))
        comment = "The batch the run was created in by the Ray executor; null otherwise."
        batch_op.add_column(sa.Column("batch", sa.String(32), nullable=True, comment=comment))
        batch_op.create_index("ix_runs_batch", ["batch"])
    with op.batch_alter_table("usage", schema=None) as batch_op:
        comment = "The provider's effective concurrency limit at the call (lowered after 429s); null if unknown."
        batch_op.add_column(sa.Column("concurrency_limit", sa.Integer(), nullable=True, comment=comment))


def downgrade() -> None:
    with op.batch_alter_table("usage", schema=None) as batch_op:
        batch_op.drop_column("concurrency_limit")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_batch")
        batch_op.drop_column("batch")
        batch_op.drop_column("lease_expires")
        batch_op.drop_column("lease_owner")
