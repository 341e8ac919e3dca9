"""Logs out: stored runs as Inspect eval logs (`.eval`), one log per task family × agent × model (and run settings:
runs of one family, agent and model with other settings, say `--options 4`, are another eval). A run is one sample
(see `_inspect_sample`): its task's name is the sample id, and repeated runs of a task are epochs.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import math
import re
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from inspect_ai.log import (
    EvalConfig,
    EvalDataset,
    EvalLog,
    EvalMetric,
    EvalPlan,
    EvalPlanStep,
    EvalResults,
    EvalSample,
    EvalScore,
    EvalSpec,
    EvalStats,
    write_eval_log,
)
from inspect_ai.model import GenerateConfig as InspectGenerateConfig
from inspect_ai.model import ModelUsage
from sqlalchemy import select

from proctor.interop._inspect_sample import SCORER, iso, model_usage, sample_of
from proctor.interop._rows import StoredRun, read_runs, utc
from proctor.runner import RunConfig
from proctor.store import RunRecord, Store
from proctor.store import _schema as s

FLUSH_EVERY = 200
"""Samples kept in memory before they are written to the log file."""


@dataclass
class _Group:
    """The runs of one log: one task family, agent, model and run settings."""

    family: str
    agent: str
    model: str
    runs: list[tuple[RunRecord, str, int]] = field(default_factory=list)
    """Each run with its sample id and epoch."""


def write_logs(store: Store, records: Sequence[RunRecord], directory: Path, *, batch: int = 200) -> list[Path]:
    """Write the runs as Inspect eval logs into `directory`, one per task family × agent × model (× run settings);
    returns the files written. Runs are read from the store `batch` at a time and written as they are read."""
    directory.mkdir(parents=True, exist_ok=True)
    export_id = uuid.uuid4().hex[:22]
    paths = []
    with _one_zstd_thread():
        for group in _groups(store, records):
            path = directory / _file_name(group)
            asyncio.run(_write_log(store, group, path, export_id, batch))
            paths.append(path)
    return paths


@contextmanager
def _one_zstd_thread() -> Iterator[None]:
    """Compress each sample on the calling thread while the logs are written. Inspect compresses every zip member
    with a fresh 12-thread zstd compressor, whose thread pool costs 0.4 ms of CPU and 0.9 ms of wall time a member
    — more than compressing a sample of a few kilobytes (0.02 ms); with thousands of samples it is the largest
    single cost. The members are the same zstd frames either way. Where this Inspect has no such setting, nothing
    changes."""
    try:
        from inspect_ai._util import zipfile as inspect_zip
    except ImportError:  # pragma: no cover - another Inspect version
        yield
        return
    threads = getattr(inspect_zip, "_ZSTD_THREADS", None)
    if not isinstance(threads, int):
        yield
        return
    inspect_zip._ZSTD_THREADS = 0
    try:
        yield
    finally:
        inspect_zip._ZSTD_THREADS = threads


def _groups(store: Store, records: Sequence[RunRecord]) -> list[_Group]:
    families: dict[str, tuple[str, str]] = {}
    task_ids = sorted({r.task_id for r in records})
    with store.engine.connect() as conn:
        for start in range(0, len(task_ids), 500):
            query = select(s.tasks.c.id, s.tasks.c.family, s.tasks.c.name)
            for row in conn.execute(query.where(s.tasks.c.id.in_(task_ids[start : start + 500]))):
                families[row.id] = (row.family, row.name)
    groups: dict[tuple[str, str, str, str], _Group] = {}
    ordered = sorted(records, key=lambda r: (r.task_id, utc(r.created_at) or datetime.min.replace(tzinfo=UTC), r.id))
    epochs: dict[tuple[str, str, str, str, str], int] = defaultdict(int)
    for record in ordered:
        family, name = families.get(record.task_id, (record.task_id.partition("/")[0], record.task_id))
        agent = str(record.config.get("agent", "tags"))
        key = (family, agent, record.model, _settings(record.config))
        group = groups.setdefault(key, _Group(family=family, agent=agent, model=record.model))
        epochs[(*key, name)] += 1
        group.runs.append((record, name, epochs[(*key, name)]))
    return list(groups.values())


_PER_RUN = {"model", "model_options", "subtask"}


def _settings(config: dict[str, Any]) -> str:
    """The run settings an eval shares (an Inspect log has one configuration): the run config's fields but the
    model's options and a subtask's instructions."""
    shared = {key: config.get(key) for key in RunConfig.model_fields if key not in _PER_RUN}
    return json.dumps(shared, sort_keys=True, default=str)


def _file_name(group: _Group) -> str:
    """Inspect's naming (`{time}_{task}_{id}.eval`), with the agent and model in the task part."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%S+00-00")
    task = re.sub(r"[^A-Za-z0-9.-]+", "-", f"{group.family}-{group.agent}-{group.model}").strip("-")
    return f"{stamp}_{task}_{uuid.uuid4().hex[:22]}.eval"


async def _write_log(store: Store, group: _Group, path: Path, export_id: str, batch: int) -> None:
    first = group.runs[0][0]
    config = first.config
    names = list(dict.fromkeys(name for _, name, _ in group.runs))
    spec = EvalSpec(
        eval_id=uuid.uuid4().hex[:22],
        run_id=export_id,
        created=iso(min(utc(r.created_at) or datetime.now(UTC) for r, _, _ in group.runs)),
        task=group.family,
        task_id=uuid.uuid4().hex[:22],
        task_display_name=group.family,
        dataset=EvalDataset(name=group.family, samples=len(names), sample_ids=names),
        model=group.model,
        model_generate_config=_generate_config(config),
        config=EvalConfig(epochs=max(epoch for _, _, epoch in group.runs)),
        solver=group.agent,
        solver_args=dict(config.get("agent_options") or {}),
        packages=_packages(),
        metadata={"proctor": {"agent": group.agent, "runs": len(group.runs)}},
    )
    step = EvalPlanStep(
        solver=f"proctor/{group.agent}",
        params={key: config.get(key) for key in ("agent_options", "options", "chooser", "limits") if key in config},
    )
    plan = EvalPlan(steps=[step], config=_generate_config(config))
    writer = _LogWriter(path)
    await writer.start(spec, plan)
    totals = _Totals()
    for start in range(0, len(group.runs), batch):
        chunk = group.runs[start : start + batch]
        with store.engine.connect() as conn:
            stored = read_runs(conn, [record for record, _, _ in chunk])
        for run, (_, name, epoch) in zip(stored, chunk, strict=True):
            totals.add(run)
            await writer.add(sample_of(run, name, epoch))
    await writer.finish(totals.stats(), totals.results(len(group.runs)))


def _packages() -> dict[str, str]:
    found = {}
    for package in ("proctor", "inspect_ai"):
        try:
            found[package] = importlib.metadata.version(package.replace("_", "-"))
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def _generate_config(config: dict[str, Any]) -> InspectGenerateConfig:
    generate = config.get("generate") or {}
    return InspectGenerateConfig(
        temperature=generate.get("temperature"),
        top_p=generate.get("top_p"),
        max_tokens=generate.get("max_tokens"),
        num_choices=config.get("options"),
        seed=generate.get("seed"),
    )


class _LogWriter:
    """Writes one `.eval` log a sample at a time through Inspect's own recorder (what `inspect eval` writes
    with), flushing every `FLUSH_EVERY` samples, so memory stays bounded and time linear in the samples;
    `write_eval_log` keeps every sample in memory and slows down with thousands. Where this Inspect has no such
    recorder, the samples are collected and written with `write_eval_log`."""

    streaming = True
    """Write through Inspect's recorder where there is one (False: always collect and call `write_eval_log`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.spec: EvalSpec | None = None
        self.plan = EvalPlan()
        self.pending = 0
        self.samples: list[EvalSample] = []
        self.recorder: Any = None
        if self.streaming:
            try:
                from inspect_ai.log._recorders.eval import EvalRecorder

                self.recorder = EvalRecorder(str(path.parent))
            except (ImportError, AttributeError, TypeError):
                self.recorder = None

    async def start(self, spec: EvalSpec, plan: EvalPlan) -> None:
        self.spec, self.plan = spec, plan
        if self.recorder is not None:
            await self.recorder.log_init(spec, str(self.path), clean=True)
            await self.recorder.log_start(spec, plan)

    async def add(self, sample: EvalSample) -> None:
        if self.recorder is None:
            self.samples.append(sample)
            return
        await self.recorder.log_sample(self.spec, sample)
        self.pending += 1
        if self.pending >= FLUSH_EVERY:
            await self.recorder.flush(self.spec)
            self.pending = 0

    async def finish(self, stats: EvalStats, results: EvalResults) -> None:
        assert self.spec is not None  # start() came first
        if self.recorder is not None:
            await self.recorder.log_finish(self.spec, "success", stats, results, None)
            return
        log = EvalLog(status="success", eval=self.spec, plan=self.plan, results=results, stats=stats)
        log.samples = self.samples
        await asyncio.to_thread(write_eval_log, log, str(self.path), "eval")


class _Totals:
    """What the log's header says of all its samples: scores, times and tokens per model."""

    def __init__(self) -> None:
        self.scores: list[float] = []
        self.finished = 0
        self.started: datetime | None = None
        self.completed: datetime | None = None
        self.usage: dict[str, ModelUsage] = {}

    def add(self, run: StoredRun) -> None:
        record = run.record
        if record.score is not None:
            self.scores.append(record.score)
        self.finished += record.status.final
        created, finished = utc(record.created_at), utc(record.finished_at)
        if created is not None and (self.started is None or created < self.started):
            self.started = created
        end = finished or created
        if end is not None and (self.completed is None or end > self.completed):
            self.completed = end
        for model, used in model_usage(run.usage).items():
            self.usage[model] = self.usage[model] + used if model in self.usage else used

    def stats(self) -> EvalStats:
        return EvalStats(
            started_at=iso(self.started) if self.started else "",
            completed_at=iso(self.completed) if self.completed else "",
            model_usage=self.usage,
        )

    def results(self, total: int) -> EvalResults:
        scored = self.scores
        scores = []
        if scored:
            mean = sum(scored) / len(scored)
            spread = math.sqrt(sum((x - mean) ** 2 for x in scored) / (len(scored) - 1)) if len(scored) > 1 else 0.0
            metrics = {
                "mean": EvalMetric(name="mean", value=mean),
                "stderr": EvalMetric(name="stderr", value=spread / math.sqrt(len(scored))),
            }
            scores.append(
                EvalScore(
                    name=SCORER,
                    scorer=SCORER,
                    scored_samples=len(scored),
                    unscored_samples=total - len(scored),
                    metrics=metrics,
                )
            )
        return EvalResults(total_samples=total, completed_samples=self.finished, scores=scores)
