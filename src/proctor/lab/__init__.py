"""The white-box lab: experiments on small models trained here on CPU, each stored with its config, seeds and
results (see docs/lab.md). torch comes with the `lab` extra: `pip install 'proctor[lab]'`."""

from proctor.lab._autointerp import AutoInterpConfig, plot_autointerp, run_autointerp
from proctor.lab._backdoor import BackdoorConfig, plot_backdoor, run_backdoor
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
from proctor.lab._metrics import auroc, average_precision
from proctor.lab._rare import RareConfig, plot_rare, run_rare
from proctor.lab._w2s import W2SConfig, pgr, plot_w2s, run_w2s

__all__ = [
    "AutoInterpConfig",
    "BackdoorConfig",
    "Interval",
    "LabError",
    "LabResult",
    "RareConfig",
    "W2SConfig",
    "auroc",
    "average_precision",
    "list_results",
    "load_config",
    "load_result",
    "pgr",
    "plot_autointerp",
    "plot_backdoor",
    "plot_rare",
    "plot_w2s",
    "results_dir",
    "run_autointerp",
    "run_backdoor",
    "run_rare",
    "run_w2s",
    "save_result",
    "t_interval",
]
