"""What every lab experiment shares: its error, intervals over seeds, the results folder, stored results and the
cache of trained models (keyed by the digest of everything that determines the weights)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import platformdirs
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

RESULTS_ENV = "PROCTOR_LAB_DIR"
C = TypeVar("C", bound=BaseModel)


class LabError(ValueError):
    """A lab experiment that cannot run as asked; the message says what to change."""


class Interval(BaseModel):
    """A mean over seeds (or targets) with its 95% Student-t interval."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: float
    """The mean."""
    low: float | None
    """Lower end of the 95% interval; None with fewer than two values."""
    high: float | None
    """Upper end of the 95% interval; None with fewer than two values."""
    n: int = Field(ge=0)
    """Values the mean is over (seeds, or targets)."""

    def __str__(self) -> str:
        if self.low is None or self.high is None:
            return f"{self.value:.3f} (n={self.n})"
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}] (n={self.n})"


def t_interval(
    values: Sequence[float], *, confidence: float = 0.95, bounds: tuple[float, float] | None = None
) -> Interval:
    """The mean of `values` with a Student-t interval: mean ± t(1 − α/2, n − 1) · sd / √n, clipped to `bounds` when
    the quantity cannot leave them (an accuracy, an AUROC).

    Seeds are few (3–10), where a percentile bootstrap is too narrow; the t interval is the usual choice there.

    Raises:
        LabError: No values, or a value that is not finite.
    """
    from scipy import stats

    if not values:
        raise LabError("no values to average (every seed was excluded)")
    if not all(math.isfinite(v) for v in values):
        raise LabError(f"a value to average is not finite: {list(values)}")
    n = len(values)
    mean = math.fsum(values) / n
    if n < 2:
        return Interval(value=mean, low=None, high=None, n=n)
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(stats.t.ppf(1 - (1 - confidence) / 2, n - 1)) * sd / math.sqrt(n)
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return Interval(value=mean, low=low, high=high, n=n)


class LabResult(BaseModel):
    """One experiment as stored: its config, seeds, per-seed results and summary, in `<results>/<id>/result.json`."""

    model_config = ConfigDict(extra="forbid")

    id: str
    """`<experiment>-<config digest>`: the same config gives the same id (and, seeded, the same numbers)."""
    experiment: str
    """Which experiment: w2s, backdoor, rare or autointerp."""
    created: str
    """When it finished, ISO 8601 in UTC."""
    seconds: float
    """Wall-clock time of the run, training included (0 for models read from the cache)."""
    config: dict[str, Any]
    """The full config, enough to re-run it."""
    seeds: list[int]
    """The seeds run."""
    rows: list[dict[str, Any]]
    """One row per seed (or per target, layer or feature): the measured numbers."""
    summary: dict[str, Interval]
    """Each quantity's mean with its 95% interval."""
    notes: list[str] = []
    """What the reader must know: excluded seeds, degenerate settings."""
    plots: list[str] = []
    """PNG files beside result.json."""

    @classmethod
    def of(
        cls,
        experiment: str,
        config: BaseModel,
        clock: Clock,
        *,
        rows: list[dict[str, Any]],
        summary: dict[str, Interval],
        notes: list[str],
    ) -> LabResult:
        """The result of a finished run of `experiment` with `config` (which has `seeds`), timed by `clock`: its id
        is the experiment and the digest of the config, its seeds 0 … seeds−1."""
        settings = config.model_dump()
        return cls(
            id=f"{experiment}-{digest(settings)[:10]}",
            experiment=experiment,
            created=now(),
            seconds=clock(),
            config=settings,
            seeds=list(range(settings["seeds"])),
            rows=rows,
            summary=summary,
            notes=notes,
        )


def results_dir(given: str | Path | None = None) -> Path:
    """Where results and cached models live: `given`, else $PROCTOR_LAB_DIR, else the user data dir's `lab/`."""
    if given is not None:
        return Path(given)
    configured = os.environ.get(RESULTS_ENV)
    return Path(configured) if configured else Path(platformdirs.user_data_dir("proctor")) / "lab"


def digest(spec: Mapping[str, Any]) -> str:
    """A stable hex digest of a JSON-able mapping."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()


def save_result(result: LabResult, folder: Path) -> Path:
    """Write `result.json` under `<folder>/<id>/`; returns that folder."""
    place = folder / result.id
    place.mkdir(parents=True, exist_ok=True)
    (place / "result.json").write_text(result.model_dump_json(indent=2) + "\n")
    return place


def load_result(folder: Path, id: str) -> LabResult:
    """A stored result by id (or a unique prefix of one).

    Raises:
        LabError: No such result, several match, or the file is not a result.
    """
    matches = sorted(p for p in folder.glob(f"{id}*") if (p / "result.json").is_file()) if folder.is_dir() else []
    if not matches:
        raise LabError(f"no lab result {id!r} in {folder} (see `proctor lab list`)")
    if len(matches) > 1 and matches[0].name != id:
        raise LabError(f"{id!r} matches several results: {', '.join(p.name for p in matches)}")
    path = matches[0] / "result.json"
    try:
        return LabResult.model_validate_json(path.read_text())
    except ValidationError as error:
        problem = error.errors()[0]
        raise LabError(f"{path}: {'.'.join(map(str, problem['loc']))}: {problem['msg']}") from None


def list_results(folder: Path) -> list[LabResult]:
    """Every stored result, newest first; unreadable folders are skipped."""
    found = []
    for path in folder.glob("*/result.json") if folder.is_dir() else []:
        try:
            found.append(LabResult.model_validate_json(path.read_text()))
        except (ValidationError, OSError):
            continue
    return sorted(found, key=lambda r: r.created, reverse=True)


def load_config(kind: type[C], path: Path | None, overrides: Mapping[str, Any]) -> C:
    """An experiment's config from a YAML/JSON file (optional) and overrides (e.g. `seeds` from the command line).

    Raises:
        LabError: The file is unreadable or not a mapping; a field is unknown or out of range (named).
    """
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as error:
            raise LabError(f"{path}: {str(error).splitlines()[0]}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise LabError(f"{path}: a config is a mapping of settings, got {type(loaded).__name__}")
        data |= loaded or {}
    data |= {k: v for k, v in overrides.items() if v is not None}
    try:
        return kind.model_validate(data)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(map(str, problem["loc"])) or "config"
        origin = f"{path}: " if path is not None else ""
        message = str(problem["msg"]).removeprefix("Value error, ")
        raise LabError(f"{origin}{where}: {message} (got {problem.get('input')!r})") from None


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Clock:
    """Seconds since it was made."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __call__(self) -> float:
        return round(time.perf_counter() - self.start, 2)


@contextmanager
def one_thread() -> Iterator[None]:
    """torch on one thread for the duration (restored after), or LabError with the install line when torch is
    missing. The lab's models are tiny: a second thread only adds synchronization, and on a loaded 2-core machine
    it made training 8× slower."""
    try:
        import torch
    except ImportError:
        raise LabError("the lab needs torch: pip install 'proctor[lab]' (a CPU wheel: torch==2.13.0)") from None
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def cached_train(spec: Mapping[str, Any], module: Any, fit: Callable[[Any], None], cache: Path | None) -> Any:
    """Train `module` in place with `fit`, or load its weights from `cache/<digest of spec>.pt` when a model with the
    same spec (config, seed, data, starting weights) was trained before. Returns the module."""
    import torch

    if cache is None:
        fit(module)
        return module
    path = cache / f"{digest(spec)[:24]}.pt"
    if path.is_file():
        module.load_state_dict(torch.load(path, weights_only=True))
        return module
    fit(module)
    cache.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    torch.save(module.state_dict(), partial)
    partial.replace(path)
    return module
