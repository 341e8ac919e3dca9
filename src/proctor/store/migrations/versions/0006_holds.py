"""actions held for a person: approvals of risky actions and the agent's questions, with the decisions

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "holds",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("step_id", sa.Integer(), nullable=False),
        sa.Column(
            "call", sa.Integer(), nullable=False, comment="Which tool call of an option of calls (0 for one action)."
        ),
        sa.Column(
            "kind",
            sa.String(20),
            nullable=False,
            comment="`approval` (a rule matched) or `question` (the agent asked).",
        ),
        sa.Column("action", sa.String(20), nullable=False, comment="The held action: bash, python, write, …, or ask."),
        sa.Column(
            "tool", sa.String(100), nullable=True, comment="The tool the model called, for a call of a react option."
        ),
        sa.Column("argument", sa.JSON(), nullable=False, comment="The action's arguments as proposed."),
        sa.Column("rule", sa.Text(), nullable=True, comment="The approval rule that matched, `action: pattern`."),
        sa.Column(
            "prior",
            sa.JSON(),
            nullable=True,
            comment="Results of the option's calls that ran before this one was held.",
        ),
        sa.Column(
            "verdict",
            sa.String(20),
            nullable=True,
            comment="`approved`, `edited`, `rejected` or `answered`; null while waiting.",
        ),
        sa.Column(
            "edited", sa.JSON(), nullable=True, comment="The arguments a person replaced them with (verdict `edited`)."
        ),
        sa.Column("text", sa.Text(), nullable=True, comment="The reason for a rejection, or the answer to a question."),
        sa.Column(
            "decided_by", sa.String(100), nullable=True, comment="Who decided or answered (a user name, or `cli`)."
        ),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True, comment="When (UTC)."),
        sa.Column(
            "result",
            sa.JSON(),
            nullable=True,
            comment="The held action's result once it ran, so a resumed run never runs it again.",
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, comment="When the row was written (UTC)."),
        sa.ForeignKeyConstraint(["step_id"], ["steps.id"], name=op.f("fk_holds_step_id_steps")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holds")),
        sa.UniqueConstraint("step_id", "call", name="uq_holds_step_call"),
    )


def downgrade() -> None:
    op.drop_table("holds")
