"""Oversight protocols — naive and oracle judges, consultancy, critique, debate and their open variants — run as
trees of stored steps, measured by judge accuracy with confidence intervals."""

from proctor.protocols._config import OversightConfig
from proctor.protocols._decomposition import parse_subquestions
from proctor.protocols._experiment import ExperimentError, items, load_dataset, run_experiment
from proctor.protocols._gdc import measure_gdc
from proctor.protocols._interactive import JudgeTurn, parse_judge_turn
from proctor.protocols._market import market_making
from proctor.protocols._protocols import PROTOCOLS, Item, ProtocolStop, UnparseableSide, protocol
from proctor.protocols._quotes import mark_quotes, neutralize, normalize, public_part, verify
from proctor.protocols._report import Case, Report, Row, cases, plot, report
from proctor.protocols._scaling import Scaling, ScalingError, oversight_scaling, plot_scaling
from proctor.protocols._session import Session, Turn, side_probability
from proctor.protocols._study import create_study, transcript
from proctor.protocols._study_report import StudyReport, study_report
from proctor.protocols._verdict import Lines, Verdict, parse_side, parse_verdict, stated_lines

__all__ = [
    "PROTOCOLS",
    "Case",
    "ExperimentError",
    "Item",
    "JudgeTurn",
    "Lines",
    "OversightConfig",
    "ProtocolStop",
    "Report",
    "Row",
    "Scaling",
    "ScalingError",
    "Session",
    "StudyReport",
    "Turn",
    "UnparseableSide",
    "Verdict",
    "cases",
    "create_study",
    "items",
    "load_dataset",
    "mark_quotes",
    "market_making",
    "measure_gdc",
    "neutralize",
    "normalize",
    "oversight_scaling",
    "parse_judge_turn",
    "parse_side",
    "parse_subquestions",
    "parse_verdict",
    "plot",
    "plot_scaling",
    "protocol",
    "public_part",
    "report",
    "run_experiment",
    "side_probability",
    "stated_lines",
    "study_report",
    "transcript",
    "verify",
]
