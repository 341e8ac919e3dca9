"""The white-box lab: experiments on small models trained here on CPU, each stored with its config, seeds and
results (see docs/lab.md). torch comes with the `lab` extra: `pip install 'proctor[lab]'`."""

from proctor.lab._common import (
    Interval,
    LabError,
    LabResult,
    list_results,
    load_config,
    load_result,
    results_dir,
    save_result,
    t_interval,
)
from proctor.lab._w2s import W2SConfig, pgr, plot_w2s, run_w2s

__all__ = [
    "Interval",
    "LabError",
    "LabResult",
    "W2SConfig",
    "list_results",
    "load_config",
    "load_result",
    "pgr",
    "plot_w2s",
    "results_dir",
    "run_w2s",
    "save_result",
    "t_interval",
]
