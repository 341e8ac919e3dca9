"""`proctor report raters` through the real entry point: tables, JSON, filters and mistakes."""

from __future__ import annotations

import json

import pytest
from rated_runs import rated_run
from study_doubles import make_experiment

from proctor.cli import main
from proctor.protocols import create_study
from proctor.store import Store, studies, users


def proctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stopped:
        main(list(args))
    out, err = capsys.readouterr()
    return int(stopped.value.code or 0), out, err


@pytest.fixture
def rated(sqlite_store: Store) -> Store:
    """Ada and Bob rate alike, a model close to them; a study where two people answered as the judge did."""
    for run in range(6):
        steps = [[{"human:ada": v, "human:bob": v, "model:m": v + 0.3} for v in (1 + run % 5, 5 - run % 3)]]
        rated_run(sqlite_store, steps, task_id=f"demo/t{run % 2}", score=float(run % 2))
    for name in ("ada", "bob"):
        sqlite_store.write(users.add_user, name, "rater", "correct-horse-1")
    experiment = make_experiment(sqlite_store, 4, ("debate", "naive"))
    study = create_study(sqlite_store, experiment, "debate", ["ada", "bob"])
    with sqlite_store.engine.connect() as conn:
        for j in studies.judgments(conn, study_id=study.id):
            sqlite_store.write(studies.answer, j.id, j.user_id, verdict=0, confidence=0.9)
    return sqlite_store


def test_tables(rated: Store, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = proctor(capsys, "report", "raters", "--resamples", "200", "--db", rated.url)
    assert code == 0, err
    assert "scale 1-5: 36 ratings of 12 options, 12 rated by two raters or more" in out
    assert "Krippendorff's α: ordinal 1.00 [1.00, 1.00]" in out
    assert "human:ada" in out and "model:m" in out and "Pairs of raters" in out
    assert "People against model judges" in out and "double/study-judge" in out and "unassisted" in out


def test_json_and_filters(rated: Store, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = proctor(capsys, "report", "raters", "--json", "--resamples", "50", "--seed", "3", "--db", rated.url)
    report = json.loads(out)
    assert code == 0 and report["resamples"] == 50 and report["seed"] == 3
    (scale,) = report["scales"]
    assert scale["ordinal"]["value"] == 1.0 and [r["rater"] for r in scale["raters"]] == [
        "human:ada",
        "human:bob",
        "model:m",
    ]
    (study,) = report["studies"]
    assert study["answered"] == 8 and {j["condition"] for j in study["judges"]} == {"assisted", "unassisted"}
    args = ["report", "raters", "--json", "--resamples", "20", "--db", rated.url]
    _, out, _ = proctor(capsys, *args, "--task", "t1", "--rater", "ada", "--study", study["study"][:4])
    filtered = json.loads(out)
    assert filtered["scales"][0]["options"] == 6 and [r["rater"] for r in filtered["scales"][0]["raters"]] == [
        "human:ada"
    ]
    _, out, _ = proctor(capsys, *args, "--model", "nobody")
    assert json.loads(out)["scales"] == []
    run = rated.runs(task="demo/", limit=1)[0].id
    _, out, _ = proctor(capsys, *args, "--run", run)
    assert json.loads(out)["scales"][0]["options"] == 2


def test_mistakes_get_one_line(rated: Store, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = proctor(capsys, "report", "raters", "--study", "nope", "--db", rated.url)
    assert code == 2 and err.startswith("error: no study 'nope'") and err.count("\n") == 1
    code, _, err = proctor(capsys, "report", "raters", "--run", "zzzz", "--db", rated.url)
    assert code == 2 and err.startswith("error: no run 'zzzz'")
    code, _, err = proctor(capsys, "report", "raters", "--resamples", "0", "--db", rated.url)
    assert code == 2 and "--resamples" in err


def test_an_empty_store(sqlite_store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = proctor(capsys, "report", "raters", "--db", sqlite_store.url)
    assert code == 0 and "no rated options and no judging studies match" in out
