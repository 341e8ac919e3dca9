"""The tables. A run is a tree: runs hold steps, steps hold options, one option is chosen and executed,
its observation feeds the next step; ratings hang on options, tags on steps, usage on model calls."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    literal_column,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _created() -> Column[object]:
    return Column("created_at", DateTime(timezone=True), nullable=False, comment="When the row was written (UTC).")


tasks = Table(
    "tasks",
    metadata,
    Column("id", String(200), primary_key=True, comment="Task id, `family/name`."),
    Column("family", String(200), nullable=False, comment="The suite or METR task family."),
    Column("name", String(200), nullable=False, comment="The task's name within its family."),
    Column("format", String(20), nullable=False, comment="`native` or `metr`."),
    Column("source", Text, nullable=False, comment="The folder the task was loaded from."),
    Column("instructions", Text, nullable=False, comment="What the agent is told."),
    Column("permissions", JSON, nullable=False, comment="Granted permissions, e.g. ['full_internet']."),
    _created(),
    Column(
        "tags",
        JSON,
        comment="The task's tags (abilities, difficulty), e.g. ['shell', 'difficulty:easy']; null if unknown.",
    ),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True, comment="Run id (hex)."),
    Column("task_id", String(200), ForeignKey("tasks.id"), nullable=False),
    Column("status", String(24), nullable=False, comment="Where the run is; see `RunStatus`."),
    Column("model", String(200), nullable=False, comment="The agent's model, `provider/model`."),
    Column("config", JSON, nullable=False, comment="The full `RunConfig`: enough to reproduce the run."),
    Column(
        "agent",
        String(100),
        comment="The agent (scaffold) of an agent run, from its config; null for other runs (oversight cases).",
    ),
    Column("parent_run_id", String(32), ForeignKey("runs.id"), comment="The run that delegated this one."),
    Column("parent_step_id", Integer, comment="The step of the parent run that delegated this one."),
    Column("forked_from_run_id", String(32), ForeignKey("runs.id"), comment="The run this one forks."),
    Column("forked_from_step", Integer, comment="The step index the fork continues from."),
    Column("workspace", Text, comment="The host folder of the run's workspace."),
    Column("submission", Text, comment="What the agent submitted."),
    Column("score", Float, comment="The task's score in [0, 1]; null until scored or when a person must."),
    Column("error", Text, comment="Why the run failed or stopped."),
    Column("steps_done", Integer, nullable=False, default=0, comment="Completed steps."),
    Column(
        "pause_requested",
        Boolean,
        nullable=False,
        default=False,
        comment="A person asked the run to pause at its next step.",
    ),
    Column(
        "input_tokens", Integer, nullable=False, default=0, comment="Prompt tokens over all calls, subtasks included."
    ),
    Column(
        "output_tokens",
        Integer,
        nullable=False,
        default=0,
        comment="Generated tokens over all calls, subtasks included.",
    ),
    Column("cost", Float, nullable=False, default=0.0, comment="US dollars over all priced calls, subtasks included."),
    Column("active_seconds", Float, nullable=False, default=0.0, comment="Wall time running, pauses excluded."),
    _created(),
    Column("finished_at", DateTime(timezone=True), comment="When the run reached a final status."),
    Column(
        "lease_owner",
        String(100),
        comment="The worker holding the run's lease (`host:pid:nonce`); null for runs driven without one.",
    ),
    Column(
        "lease_expires",
        DateTime(timezone=True),
        comment="When the lease lapses unless its worker renews it; a lapsed run is taken over by another worker.",
    ),
    Column("batch", String(32), comment="The batch the run was created in by the Ray executor; null otherwise."),
    Index("ix_runs_status", "status"),
    Index("ix_runs_batch", "batch"),
    Index("ix_runs_task", "task_id"),
    Index("ix_runs_parent", "parent_run_id"),
    Index("ix_runs_created", "created_at"),
)

steps = Table(
    "steps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.id"), nullable=False),
    Column("index", Integer, nullable=False, comment="Position in the run, from 0."),
    Column("kind", String(20), nullable=False, comment="`action`, `stuck_check` or `restart`."),
    Column("summary", Text, comment="For a `restart` step: the summary the context restarts from."),
    _created(),
    UniqueConstraint("run_id", "index", name="uq_steps_run_index"),
)

options = Table(
    "options",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("step_id", Integer, ForeignKey("steps.id"), nullable=False),
    Column("index", Integer, nullable=False, comment="Position among the step's options."),
    Column("text", Text, nullable=False, comment="The raw proposal (model output or a person's text)."),
    Column("action", String(20), comment="Parsed action: bash, write, delegate, submit; null if unparseable."),
    Column("argument", JSON, comment="The parsed action's arguments."),
    Column("parse_error", Text, comment="Why the text could not be parsed as an action."),
    Column("source", String(200), nullable=False, comment="Who proposed it: `model:<name>` or `human:<user>`."),
    _created(),
    Column(
        "added_by",
        String(100),
        comment="Who added it to the step after the step was taken: an alternative to rate and compare, never run.",
    ),
    Index("ix_options_step", "step_id"),
)

choices = Table(
    "choices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("step_id", Integer, ForeignKey("steps.id"), nullable=False, unique=True),
    Column("option_id", Integer, ForeignKey("options.id"), nullable=False),
    Column("chooser", String(200), nullable=False, comment="`first`, `rating:<model>`, `human:<user>`, …"),
    _created(),
)

observations = Table(
    "observations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("step_id", Integer, ForeignKey("steps.id"), nullable=False, unique=True),
    Column("kind", String(20), nullable=False, comment="bash, write, delegate, submit, or error."),
    Column("output", Text, nullable=False, comment="What the agent is shown (stdout, or a message)."),
    Column("stderr", Text, nullable=False, default=""),
    Column("exit_code", Integer, comment="Shell exit status; negative for a signal."),
    Column("failed", Boolean, nullable=False, default=False, comment="The action failed."),
    Column("timed_out", Boolean, nullable=False, default=False),
    Column("truncated", Boolean, nullable=False, default=False),
    Column("duration", Float, nullable=False, default=0.0, comment="Seconds the action took."),
    Column("child_run_id", String(32), ForeignKey("runs.id"), comment="The subtask run of a delegate action."),
    Column("calls", JSON, comment="An option of several tool calls: each call's id, tool, output and failure."),
    _created(),
)

holds = Table(
    "holds",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("step_id", Integer, ForeignKey("steps.id"), nullable=False),
    Column("call", Integer, nullable=False, comment="Which tool call of an option of calls (0 for one action)."),
    Column("kind", String(20), nullable=False, comment="`approval` (a rule matched) or `question` (the agent asked)."),
    Column("action", String(20), nullable=False, comment="The held action: bash, python, write, …, or ask."),
    Column("tool", String(100), comment="The tool the model called, for a call of a react option."),
    Column("argument", JSON, nullable=False, comment="The action's arguments as proposed."),
    Column("rule", Text, comment="The approval rule that matched, `action: pattern`."),
    Column("prior", JSON, comment="Results of the option's calls that ran before this one was held."),
    Column("verdict", String(20), comment="`approved`, `edited`, `rejected` or `answered`; null while waiting."),
    Column("edited", JSON, comment="The arguments a person replaced them with (verdict `edited`)."),
    Column("text", Text, comment="The reason for a rejection, or the answer to a question."),
    Column("decided_by", String(100), comment="Who decided or answered (a user name, or `cli`)."),
    Column("decided_at", DateTime(timezone=True), comment="When (UTC)."),
    Column("result", JSON, comment="The held action's result once it ran, so a resumed run never runs it again."),
    _created(),
    UniqueConstraint("step_id", "call", name="uq_holds_step_call"),
)

ratings = Table(
    "ratings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("option_id", Integer, ForeignKey("options.id"), nullable=False),
    Column("rater", String(200), nullable=False, comment="`model:<name>` or `human:<user>`."),
    Column("value", Float, nullable=False, comment="The rating on the scale."),
    Column("scale", String(40), nullable=False, comment="E.g. `1-5`."),
    Column("method", String(20), nullable=False, comment="`logprobs`, `sampling` or `human`."),
    Column("comment", Text),
    _created(),
    Column("replaced_at", DateTime(timezone=True), comment="When the rater rated the option again; null: current."),
    Index("ix_ratings_option", "option_id"),
    Index(
        "uq_ratings_current",
        "option_id",
        "rater",
        unique=True,
        sqlite_where=text("replaced_at IS NULL"),
        postgresql_where=text("replaced_at IS NULL"),
    ),
)

CURRENT_RATING = ratings.c.replaced_at.is_(None)
"""Each rater's current rating of an option (the ones they replaced are history)."""

comparisons = Table(
    "comparisons",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("step_id", Integer, ForeignKey("steps.id"), nullable=False),
    Column("option_a", Integer, ForeignKey("options.id"), nullable=False, comment="The option shown as A."),
    Column("option_b", Integer, ForeignKey("options.id"), nullable=False, comment="The option shown as B."),
    Column("rater", String(200), nullable=False, comment="`human:<user>` or `model:<name>`."),
    Column("value", Integer, nullable=False, comment="-3 (A much better) … 0 (as good) … 3 (B much better)."),
    Column("comment", Text),
    _created(),
    Column("replaced_at", DateTime(timezone=True), comment="When the rater compared the pair again; null: current."),
    Index("ix_comparisons_step", "step_id"),
)

tags = Table(
    "tags",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("step_id", Integer, ForeignKey("steps.id"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("author", String(200), nullable=False),
    _created(),
    Index("ix_tags_step", "step_id"),
    Index("ix_tags_name", "name"),
)

usage = Table(
    "usage",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.id"), nullable=False),
    Column("step_id", Integer, ForeignKey("steps.id")),
    Column("model", String(200), nullable=False),
    Column("role", String(20), nullable=False, comment="agent, rater, stuck or summary."),
    Column("input_tokens", Integer, nullable=False, default=0),
    Column("output_tokens", Integer, nullable=False, default=0),
    Column("cost", Float, comment="US dollars, when priced."),
    Column("latency", Float, nullable=False, default=0.0),
    Column("attempts", Integer, nullable=False, default=1),
    Column("error", Text, comment="The recorded error of a call that failed for good."),
    Column(
        "concurrency_limit",
        Integer,
        comment="The provider's effective concurrency limit at the call (lowered after 429s); null if unknown.",
    ),
    _created(),
    Index("ix_usage_run", "run_id"),
    Index("ix_usage_step", "step_id"),
)

# Model concurrency limits kept for every worker on the store (see `proctor.runner.StoredLimits`): the adapted
# limit per provider and base URL, and the slots each worker holds of it, under a lease.

model_limits = Table(
    "model_limits",
    metadata,
    Column("key", String(300), primary_key=True, comment="The provider and base URL (`openai http://…/v1`)."),
    Column("ceiling", Integer, nullable=False, comment="The limit set (`max_concurrency`), as a worker last gave it."),
    Column("value", Float, nullable=False, comment="The adapted limit (AIMD); the effective limit is its floor."),
    Column("epoch", Integer, nullable=False, comment="Cuts so far: only a request sent in the current one cuts."),
    Column("changed_at", DateTime(timezone=True), nullable=False, comment="When the effective limit last changed."),
    Column("updated_at", DateTime(timezone=True), nullable=False, comment="When a worker last synced it (UTC)."),
)

limit_grants = Table(
    "limit_grants",
    metadata,
    Column("key", String(300), primary_key=True, comment="The limit's key (`model_limits.key`)."),
    Column("worker", String(100), primary_key=True, comment="The worker holding the slots (`host:pid:nonce`)."),
    Column("slots", Integer, nullable=False, comment="Slots held: at least the worker's requests in flight."),
    Column("wants", Integer, nullable=False, comment="Slots the worker would use now (its demand), for fair shares."),
    Column("since", DateTime(timezone=True), nullable=False, comment="When its slots were last raised (UTC)."),
    Column("expires", DateTime(timezone=True), nullable=False, comment="When the slots lapse unless renewed (UTC)."),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.id"), nullable=False),
    Column("kind", String(40), nullable=False, comment="status, stuck, restart, limit, checkpoint, …"),
    Column("detail", JSON, nullable=False),
    _created(),
    Index("ix_events_run", "run_id"),
)

# People and their work in the web interface: users, login sessions, and which runs a rater is assigned.

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "name", String(100), nullable=False, unique=True, comment="Login name; ratings and tags say `human:<name>`."
    ),
    Column("role", String(20), nullable=False, comment="`admin`, `researcher` or `rater`."),
    Column("password_hash", Text, nullable=False, comment="Argon2id hash of the password."),
    _created(),
)

sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True, comment="SHA-256 of the session cookie's token (hex)."),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("csrf", String(64), nullable=False, comment="The token every state-changing request must carry."),
    _created(),
    Column("expires_at", DateTime(timezone=True), nullable=False, comment="When the session stops being valid."),
    Index("ix_sessions_user", "user_id"),
)

assignments = Table(
    "assignments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("run_id", String(32), ForeignKey("runs.id"), nullable=False),
    Column("assigned_by", String(100), nullable=False, comment="Who assigned it (a user name or `cli`)."),
    _created(),
    UniqueConstraint("user_id", "run_id", name="uq_assignments_user_run"),
    Index("ix_assignments_run", "run_id"),
)

# Keyset pagination of the runs list on (created_at, id), overall, among top-level runs, and per status; and of
# top-level runs by score.
Index("ix_runs_created_id", runs.c.created_at, runs.c.id)
Index("ix_runs_top_created", runs.c.parent_run_id, runs.c.created_at, runs.c.id)
Index("ix_runs_status_created", runs.c.status, runs.c.created_at, runs.c.id)
Index("ix_runs_forked", runs.c.forked_from_run_id, runs.c.forked_from_step)
RUN_SCORE_KEY = func.coalesce(runs.c.score, literal_column("-1.0"))
"""The runs list's order by score (unscored runs first going up), as its index has it: a literal, not a bound
parameter, so the database matches the query's expression to the index's."""
# PostgreSQL orders by the columns after `parent_run_id IS NULL` only in an index holding top-level runs alone; SQLite
# (without statistics) picks an index for a page's order only if it starts with `parent_run_id`.
Index("ix_runs_top_score", RUN_SCORE_KEY, runs.c.id, postgresql_where=runs.c.parent_run_id.is_(None)).ddl_if(
    dialect="postgresql"
)
Index("ix_runs_parent_score", runs.c.parent_run_id, RUN_SCORE_KEY, runs.c.id).ddl_if(dialect="sqlite")

# Human judging studies: people judge an oversight experiment's questions, with or without its transcripts.

studies = Table(
    "studies",
    metadata,
    Column("id", String(32), primary_key=True, comment="Study id (hex)."),
    Column("name", String(200), nullable=False, comment="A name people recognise the study by."),
    Column("experiment", String(32), nullable=False, comment="The oversight experiment whose questions are judged."),
    Column("protocol", String(40), nullable=False, comment="The protocol whose transcripts assisted people read."),
    Column("created_by", String(100), nullable=False, comment="Who created it (a user name or `cli`)."),
    _created(),
    Column("settings", JSON, nullable=False, comment="Seed, people, design: enough to re-create the assignment."),
)

judgments = Table(
    "judgments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("study_id", String(32), ForeignKey("studies.id"), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, comment="The person judging."),
    Column("question_id", String(200), nullable=False, comment="The question's id in the experiment."),
    Column("question", Text, nullable=False, comment="The question as shown."),
    Column("run_id", String(32), ForeignKey("runs.id"), comment="The run whose transcript is shown; null unassisted."),
    Column("condition", String(20), nullable=False, comment="`assisted` or `unassisted`."),
    Column("answers", JSON, nullable=False, comment="The answers in the order shown."),
    Column("correct", Integer, nullable=False, comment="The correct answer's index in that order."),
    Column("position", Integer, nullable=False, comment="Position in the person's sequence, from 0."),
    Column("verdict", Integer, comment="The answer the person picked (index); null until answered."),
    Column("confidence", Float, comment="The person's confidence in their answer, in [0, 1]."),
    Column("explanation", Text, comment="Why, in the person's words (optional)."),
    Column("seconds", Float, comment="Seconds from showing the question to the answer."),
    Column("assigned_at", DateTime(timezone=True), nullable=False, comment="When the judgment was assigned (UTC)."),
    Column("answered_at", DateTime(timezone=True), comment="When the person answered (UTC)."),
    UniqueConstraint("study_id", "user_id", "question_id", name="uq_judgments_study_user_question"),
    Index("ix_judgments_user", "user_id", "answered_at"),
)

CURRENT_COMPARISON = comparisons.c.replaced_at.is_(None)
"""Each rater's current comparison of two options."""
