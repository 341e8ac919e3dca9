"""people's preferences: one current rating per rater and option (history kept), pairwise comparisons of options,
and alternatives added to past steps

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

CURRENT = sa.text("replaced_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("ratings", schema=None) as batch_op:
        comment = "When the rater rated the option again; null: current."
        batch_op.add_column(sa.Column("replaced_at", sa.DateTime(timezone=True), nullable=True, comment=comment))
    # A rater's earlier ratings of an option are replaced by their latest (kept as history).
    op.execute(
        "UPDATE ratings SET replaced_at = created_at WHERE id NOT IN "
        "(SELECT latest FROM (SELECT max(id) AS latest FROM ratings GROUP BY option_id, rater) AS kept)"
    )
    with op.batch_alter_table("ratings", schema=None) as batch_op:
        batch_op.create_index(
            "uq_ratings_current",
            ["option_id", "rater"],
            unique=True,
            sqlite_where=CURRENT,
            postgresql_where=CURRENT,
        )
    with op.batch_alter_table("options", schema=None) as batch_op:
        comment = "Who added it to the step after the step was taken: an alternative to rate and compare, never run."
        batch_op.add_column(sa.Column("added_by", sa.String(100), nullable=True, comment=comment))
    op.create_table(
        "comparisons",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("step_id", sa.Integer(), nullable=False),
        sa.Column("option_a", sa.Integer(), nullable=False, comment="The option shown as A."),
        sa.Column("option_b", sa.Integer(), nullable=False, comment="The option shown as B."),
        sa.Column("rater", sa.String(200), nullable=False, comment="`human:<user>` or `model:<name>`."),
        sa.Column(
            "value", sa.Integer(), nullable=False, comment="-3 (A much better) … 0 (as good) … 3 (B much better)."
        ),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, comment="When the row was written (UTC)."),
        sa.Column(
            "replaced_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the rater compared the pair again; null: current.",
        ),
        sa.ForeignKeyConstraint(["option_a"], ["options.id"], name=op.f("fk_comparisons_option_a_options")),
        sa.ForeignKeyConstraint(["option_b"], ["options.id"], name=op.f("fk_comparisons_option_b_options")),
        sa.ForeignKeyConstraint(["step_id"], ["steps.id"], name=op.f("fk_comparisons_step_id_steps")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comparisons")),
    )
    with op.batch_alter_table("comparisons", schema=None) as batch_op:
        batch_op.create_index("ix_comparisons_step", ["step_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("comparisons", schema=None) as batch_op:
        batch_op.drop_index("ix_comparisons_step")
    op.drop_table("comparisons")
    with op.batch_alter_table("options", schema=None) as batch_op:
        batch_op.drop_column("added_by")
    with op.batch_alter_table("ratings", schema=None) as batch_op:
        batch_op.drop_index("uq_ratings_current", sqlite_where=CURRENT, postgresql_where=CURRENT)
        batch_op.drop_column("replaced_at")
