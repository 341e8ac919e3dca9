"""model concurrency limits kept in the store for every worker: the adapted limit per provider and base URL
(model_limits) and the slots each worker holds of it under a lease (limit_grants)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_limits",
        sa.Column("key", sa.String(300), nullable=False, comment="The provider and base URL (`openai http://…/v1`)."),
        sa.Column(
            "ceiling",
            sa.Integer(),
            nullable=False,
            comment="The limit set (`max_concurrency`), as a worker last gave it.",
        ),
        sa.Column(
            "value", sa.Float(), nullable=False, comment="The adapted limit (AIMD); the effective limit is its floor."
        ),
        sa.Column(
            "epoch", sa.Integer(), nullable=False, comment="Cuts so far: only a request sent in the current one cuts."
        ),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="When the effective limit last changed.",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="When a worker last synced it (UTC).",
        ),
        sa.PrimaryKeyConstraint("key", name="pk_model_limits"),
    )
    op.create_table(
        "limit_grants",
        sa.Column("key", sa.String(300), nullable=False, comment="The limit's key (`model_limits.key`)."),
        sa.Column("worker", sa.String(100), nullable=False, comment="The worker holding the slots (`host:pid:nonce`)."),
        sa.Column(
            "slots", sa.Integer(), nullable=False, comment="Slots held: at least the worker's requests in flight."
        ),
        sa.Column(
            "wants",
            sa.Integer(),
            nullable=False,
            comment="Slots the worker would use now (its demand), for fair shares.",
        ),
        sa.Column(
            "since", sa.DateTime(timezone=True), nullable=False, comment="When its slots were last raised (UTC)."
        ),
        sa.Column(
            "expires",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="When the slots lapse unless renewed (UTC).",
        ),
        sa.PrimaryKeyConstraint("key", "worker", name="pk_limit_grants"),
    )


def downgrade() -> None:
    op.drop_table("limit_grants")
    op.drop_table("model_limits")
