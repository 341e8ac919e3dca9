"""What the interop tests share: the `proctor` command in a real process, and stores compared run by run."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from sqlalchemy import select

from proctor.store import Store
from proctor.store import _schema as s


def proctor(*args: str, db: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run `proctor ARGS` on the store `db`."""
    env = os.environ | {"PROCTOR_DB": db, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "proctor", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def run_rows(store: Store, run_ids: set[str] | None = None) -> dict[str, dict[str, Any]]:
    """Every run as stored, with its steps (options with ratings, choice, observation, tags), usage rows and
    events (not the `imported` one), keyed by run id; ids, times and the workspace left out."""
    found = {}
    for record in store.runs(limit=100_000):
        if run_ids is not None and record.id not in run_ids:
            continue
        steps = [
            step.model_dump(exclude={"id": True, "chosen_option_id": True, "options": {"__all__": {"id"}}})
            | {"chosen": step.chosen.index if step.chosen else None}
            for step in store.steps(record.id)
        ]
        with store.engine.connect() as conn:
            usage = [
                (r.model, r.role, r.input_tokens, r.output_tokens, r.cost, r.attempts, r.error)
                for r in conn.execute(select(s.usage).where(s.usage.c.run_id == record.id).order_by(s.usage.c.id))
            ]
        events = [(e["kind"], e["detail"]) for e in store.events(record.id) if e["kind"] != "imported"]
        found[record.id] = record.model_dump(exclude={"workspace", "created_at", "finished_at"}) | {
            "steps": steps,
            "usage": usage,
            "events": events,
        }
    return found
