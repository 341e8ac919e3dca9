"""People's ratings and preferences in the store: one current rating per rater and option (history kept), pairwise
comparisons, alternatives added to past steps, the preferences export and the rater report on current ratings
only; and the run controls a person uses (kill, queue again, score by hand)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rated_runs import rated_run
from sqlalchemy import select

from proctor.analysis import RaterFilters, rater_report
from proctor.cli import main
from proctor.interop._rows import read_runs
from proctor.store import RunStatus, Store, ops, preferences
from proctor.store import _schema as s
from proctor.store._export import preferences as preference_lines
from proctor.store._export import table_rows, trajectory

HUMAN = {"rater": "human:ada", "scale": "1-5", "method": "human"}


def option_ids(store: Store, run_id: str, step: int = 0) -> list[int]:
    return [o.id for o in store.steps(run_id)[step].options]


def test_a_new_rating_replaces_the_raters_old_one_and_keeps_it_as_history(store: Store) -> None:
    run_id = rated_run(store, [[{"human:bob": 4}, {}]])
    first, second = option_ids(store, run_id)
    store.write(ops.add_rating, first, HUMAN | {"value": 2.0, "comment": "meh"})
    store.write(ops.add_rating, first, HUMAN | {"value": 5.0, "comment": "on second thought"})
    store.write(ops.add_rating, second, HUMAN | {"value": 1.0})
    shown = store.steps(run_id)[0].options
    assert sorted((r.rater, r.value) for r in shown[0].ratings) == [("human:ada", 5.0), ("human:bob", 4.0)]
    assert [(r.rater, r.value) for r in shown[1].ratings] == [("human:ada", 1.0)]
    with store.engine.connect() as conn:
        history = preferences.rating_history(conn, first, "human:ada")
        stored = conn.execute(select(s.ratings.c.value).where(s.ratings.c.option_id == first)).scalars().all()
    assert [(h["value"], h["comment"], h["replaced_at"] is None) for h in history] == [
        (2.0, "meh", False),
        (5.0, "on second thought", True),
    ]
    assert sorted(stored) == [2.0, 4.0, 5.0]  # the replaced rating is kept
    with store.engine.connect() as conn:
        flat = [(r["rater"], r["value"]) for r in table_rows(store, "ratings", [run_id])]
    assert sorted(flat) == [("human:ada", 1.0), ("human:ada", 5.0), ("human:bob", 4.0)]
    traced = trajectory(store, store.run(run_id))["steps"][0]["options"][0]["ratings"]
    assert sorted((r["rater"], r["value"]) for r in traced) == [("human:ada", 5.0), ("human:bob", 4.0)]
    with store.engine.connect() as conn:
        (stored,) = read_runs(conn, [store.run(run_id)])
    inspect_ratings = stored.steps[0]["options"][0]["ratings"]
    assert sorted((r["rater"], r["value"]) for r in inspect_ratings) == [("human:ada", 5.0), ("human:bob", 4.0)]


def test_the_rater_report_counts_each_raters_current_rating_once(store: Store) -> None:
    run_id = rated_run(store, [[{"human:bob": 4}, {"human:bob": 2}]])
    first, second = option_ids(store, run_id)
    for value in (1.0, 1.0, 1.0, 4.0):  # ada changes her mind: only the 4 counts
        store.write(ops.add_rating, first, HUMAN | {"value": value})
    store.write(ops.add_rating, second, HUMAN | {"value": 2.0})
    (scale,) = rater_report(store, RaterFilters(resamples=50)).scales
    ada = next(r for r in scale.raters if r.rater == "human:ada")
    assert (scale.ratings, ada.ratings, ada.mean) == (4, 2, 3.0)


def test_alternatives_and_comparisons_go_into_the_preferences_export(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_id = rated_run(store, [[{}, {}], [{}]], submit=True)
    taken, other = option_ids(store, run_id)
    text = "<bash>ls -la</bash>"
    fields = {"text": text, "action": "bash", "argument": {"command": "ls -la"}, "parse_error": None}
    alternative = store.write(
        preferences.add_alternative, store.steps(run_id)[0].id, fields | {"source": "human:ada"}, "ada"
    )
    with pytest.raises(preferences.PreferenceError, match="two options of one step"):
        store.write(preferences.add_comparison, taken, option_ids(store, run_id, 1)[0], "human:ada", 1)
    with pytest.raises(preferences.PreferenceError, match="-3"):
        store.write(preferences.add_comparison, taken, alternative, "human:ada", 4)
    store.write(preferences.add_comparison, taken, alternative, "human:ada", 3)
    store.write(preferences.add_comparison, alternative, taken, "human:ada", -2)  # the same pair, again: replaces
    store.write(preferences.add_comparison, taken, other, "human:bob", 0)
    store.write(ops.add_rating, alternative, HUMAN | {"value": 2.0})
    store.write(ops.add_rating, alternative, HUMAN | {"value": 5.0})
    step = store.steps(run_id)[0]
    assert [o.added_by for o in step.options] == [None, None, "ada"] and step.chosen_option_id == taken
    with store.engine.connect() as conn:
        assert len(preferences.comparisons(conn, [step.id], history=True)) == 3
        assert [(c.option_a, c.value) for c in preferences.comparisons(conn, [step.id])] == [
            (alternative, -2),
            (taken, 0),
        ]

    out = tmp_path / "prefs.jsonl"
    with pytest.raises(SystemExit) as stopped:
        main(["export", "preferences", "--run", run_id, "-o", str(out), "--db", store.url])
    assert stopped.value.code in (0, None), capsys.readouterr()
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines == list(json.loads(json.dumps(x)) for x in preference_lines(store, [store.run(run_id)]))
    compared = [x for x in lines if x["kind"] == "comparison"]
    assert [(x["a"]["id"], x["b"]["id"], x["strength"], x["preferred"], x["rater"]) for x in compared] == [
        (alternative, taken, -2, "a", "human:ada"),
        (taken, other, 0, "tie", "human:bob"),
    ]
    assert compared[0]["a"]["added_by"] == "ada" and compared[0]["a"]["text"] == text and compared[0]["b"]["chosen"]
    assert compared[0]["instructions"] == "Do t1." and compared[0]["context"] == []
    rated = [(x["option"]["id"], x["value"], x["rater"]) for x in lines if x["kind"] == "rating"]
    assert rated == [(alternative, 5.0, "human:ada")]
    later = [x for x in lines if x["step"] == 1]
    assert later == []  # nothing was said about step 1


def test_kill_queue_again_and_score_by_hand(store: Store) -> None:
    paused = rated_run(store, [[{}]], status=RunStatus.PAUSED, score=None)
    assert store.write(ops.kill, paused, "rob") and store.run(paused).status is RunStatus.KILLED
    assert store.write(ops.requeue, paused, (RunStatus.KILLED, RunStatus.PAUSED), "rob")
    assert store.run(paused).status is RunStatus.QUEUED
    assert not store.write(ops.requeue, paused, (RunStatus.KILLED, RunStatus.PAUSED), "rob")  # queued already

    running = rated_run(store, [[{}]], status=RunStatus.RUNNING, score=None)
    assert not store.write(ops.kill, running, "rob")  # its runner ends it after the current step
    assert store.run(running).pause_requested
    store.write(ops.pause, running, "paused on request")
    assert store.run(running).status is RunStatus.KILLED

    manual = rated_run(store, [[{}]], status=RunStatus.NEEDS_MANUAL_SCORE, score=None)
    assert store.write(ops.manual_score, manual, 0.75, "rob", "half right")
    assert not store.write(ops.manual_score, manual, 1.0, "ada")  # scored already
    record = store.run(manual)
    assert (record.status, record.score) == (RunStatus.DONE, 0.75)
    (event,) = store.events(manual, "manual_score")
    assert event["detail"] == {"by": "rob", "score": 0.75, "comment": "half right"} and event["created_at"]


def test_the_migration_keeps_each_raters_latest_rating_current(store: Store) -> None:
    from alembic import command
    from sqlalchemy import text

    from proctor.store._migrate import alembic_config

    run_id = rated_run(store, [[{}, {}]])
    first, second = option_ids(store, run_id)
    config = alembic_config(store.engine)
    command.downgrade(config, "0007")  # ratings as they were: several of one rater and option
    with store.engine.begin() as conn:
        for option, rater, value in ((first, "human:ada", 2), (first, "human:ada", 4), (first, "human:bob", 3)):
            conn.execute(
                text(
                    "INSERT INTO ratings (option_id, rater, value, scale, method, created_at) "
                    "VALUES (:o, :r, :v, '1-5', 'human', CURRENT_TIMESTAMP)"
                ),
                {"o": option, "r": rater, "v": value},
            )
    command.upgrade(config, "head")
    shown = store.steps(run_id)[0].options
    assert sorted((r.rater, r.value) for r in shown[0].ratings) == [("human:ada", 4.0), ("human:bob", 3.0)]
    assert shown[1].ratings == [] and shown[0].added_by is None
    with store.engine.connect() as conn:
        assert [h["value"] for h in preferences.rating_history(conn, first, "human:ada")] == [2.0, 4.0]
    store.write(ops.add_rating, second, HUMAN | {"value": 1.0})  # the unique index lets a current one be added


def test_proctor_kill(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    waiting = rated_run(store, [[{}]], status=RunStatus.WAITING_HUMAN, score=None)
    done = rated_run(store, [[{}]])
    for run_id, code in ((waiting, 0), (waiting, 2), (done, 2)):  # 2: a usage error
        with pytest.raises(SystemExit) as stopped:
            main(["kill", run_id, "--user", "ada", "--db", store.url])
        said = capsys.readouterr()
        assert (stopped.value.code or 0) == code, said
        assert ("nothing to kill" in said.err) == bool(code)
    assert store.run(waiting).status is RunStatus.KILLED and store.run(done).status is RunStatus.DONE
    assert [e["detail"] for e in store.events(waiting, "kill_requested")] == [{"by": "ada"}]
