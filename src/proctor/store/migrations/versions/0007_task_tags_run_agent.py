"""reports group runs by task tags and by agent: tasks.tags, runs.agent (copied from each run's config)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        comment = "The task's tags (abilities, difficulty), e.g. ['shell', 'difficulty:easy']; null if unknown."
        batch_op.add_column(sa.Column("tags", sa.JSON(), nullable=True, comment=comment))
    with op.batch_alter_table("runs", schema=None) as batch_op:
        comment = "The agent (scaffold) of an agent run, from its config; null for other runs (oversight cases)."
        batch_op.add_column(sa.Column("agent", sa.String(100), nullable=True, comment=comment))
    # As ops.run_agent does: the agent a run's config names; `tags` for agent runs stored before configs named one
    # (a RunConfig always has a chooser); none for oversight cases.
    if op.get_bind().dialect.name == "postgresql":
        agent, chooser = "config->>'agent'", "config->'chooser'"
    else:
        agent, chooser = "json_extract(config, '$.agent')", "json_extract(config, '$.chooser')"
    op.execute(f"UPDATE runs SET agent = coalesce({agent}, CASE WHEN {chooser} IS NOT NULL THEN 'tags' END)")


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("agent")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_column("tags")
