"""`proctor report`: from runs to conclusions — results, capability profiles, comparisons, time horizons, trends,
thresholds and rater agreement, on the analysis functions of `proctor.analysis`."""

from __future__ import annotations

import typer

from proctor.cli._app import app

report_app = typer.Typer(help="Reports: from runs to conclusions.", no_args_is_help=True)
app.add_typer(report_app, name="report")
