"""The planted-bug dataset: seed programs pass their tests, every kept mutant fails them, the dataset is stable."""

from __future__ import annotations

import ast
import io
import itertools
import json
import subprocess
import sys
import time
import tokenize
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from proctor.protocols.bugs import (
    BUGGY,
    CLEAN,
    OPERATORS,
    BugDatasetError,
    BugItem,
    SeedProgram,
    TestRunner,
    build_dataset,
    changed_lines,
    find_sites,
    generate_mutants,
    item_question,
    load_jsonl,
    load_seeds,
    save_jsonl,
    score_verdict,
)

STANDALONE_TIMEOUT = 3.0


def run_standalone(folder: Path, program: str, tests: str) -> tuple[int | None, float]:
    """Run `python test_program.py` next to `program` as a user would: (exit code or None on timeout, seconds)."""
    folder.mkdir(parents=True)
    (folder / "program.py").write_text(program)
    (folder / "test_program.py").write_text(tests)
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "test_program.py"],
            cwd=folder,
            capture_output=True,
            timeout=STANDALONE_TIMEOUT,
            env={"PYTHONDONTWRITEBYTECODE": "1", "PATH": "/usr/bin:/bin"},
        )
    except subprocess.TimeoutExpired:
        return None, time.perf_counter() - started
    return done.returncode, time.perf_counter() - started


def run_many(tmp: Path, jobs: list[tuple[str, str]]) -> list[tuple[int | None, float]]:
    """Run (program, tests) pairs standalone, two at a time (the machine has two cores)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda ij: run_standalone(tmp / str(ij[0]), *ij[1]), enumerate(jobs)))


@pytest.fixture(scope="module")
def seeds() -> list[SeedProgram]:
    return load_seeds()


@pytest.fixture(scope="module")
def dataset() -> tuple[list[BugItem], float]:
    started = time.perf_counter()
    items = build_dataset(seed=0, per_program=2)
    return items, time.perf_counter() - started


def test_seed_programs_are_many_varied_and_small(seeds: list[SeedProgram]) -> None:
    assert len(seeds) >= 30
    assert len({s.name for s in seeds}) == len(seeds)
    for seed in seeds:
        assert 20 <= len(seed.program.splitlines()) <= 80, seed.name
        assert "def test_" in seed.tests, seed.name
        assert "from program import" in seed.tests, seed.name


def test_every_seed_passes_its_own_tests_as_written_and_as_shown(seeds: list[SeedProgram], tmp_path: Path) -> None:
    jobs = [(s.program, s.tests) for s in seeds] + [(s.shown, s.tests) for s in seeds]
    results = run_many(tmp_path, jobs)
    for (code, seconds), (program, _) in zip(results, jobs, strict=True):
        assert code == 0, program[:200]
        assert seconds < 1.0


def test_every_kept_mutant_fails_its_seeds_tests_when_run_standalone(
    dataset: tuple[list[BugItem], float], tmp_path: Path
) -> None:
    items, _ = dataset
    buggy = [i for i in items if i.has_bug]
    results = run_many(tmp_path, [(i.source, i.tests) for i in buggy])
    for item, (code, _) in zip(buggy, results, strict=True):
        if item.timed_out:
            assert code is None or code != 0, item.id  # a hang: killed by the timeout, or it failed here
        else:
            assert code is not None and code != 0, item.id
        assert item.failing_tests, item.id


def test_dataset_is_balanced_and_covers_every_operator(dataset: tuple[list[BugItem], float]) -> None:
    items, seconds = dataset
    seeds = {i.seed for i in items}
    assert len(seeds) >= 30
    for seed in seeds:
        mine = [i for i in items if i.seed == seed]
        assert sum(i.has_bug for i in mine) == 2, seed
        assert sum(not i.has_bug for i in mine) == 2, seed
    assert len({i.id for i in items}) == len(items)
    assert len({i.source for i in items if i.has_bug}) == sum(i.has_bug for i in items)
    per_operator = Counter(i.operator for i in items if i.has_bug)
    assert set(per_operator) == set(OPERATORS), per_operator
    assert seconds < 30.0


def test_items_show_the_unparsed_program_and_hide_nothing_in_the_layout(
    dataset: tuple[list[BugItem], float], seeds: list[SeedProgram]
) -> None:
    items, _ = dataset
    shown = {s.name: s.shown for s in seeds}
    for item in items:
        assert ast.unparse(ast.parse(item.source)) == item.source
        tokens = tokenize.generate_tokens(io.StringIO(item.source).readline)
        assert not any(t.type == tokenize.COMMENT for t in tokens), item.id  # comments would tell clean from buggy
        if not item.has_bug:
            assert item.source == shown[item.seed]
            assert item.bug_lines == [] and item.operator is None
        else:
            assert item.source != shown[item.seed]


def test_bug_lines_point_at_the_changed_line(dataset: tuple[list[BugItem], float], seeds: list[SeedProgram]) -> None:
    items, _ = dataset
    shown = {s.name: s.shown.splitlines() for s in seeds}
    for item in (i for i in items if i.has_bug):
        clean, mutated = shown[item.seed], item.source.splitlines()
        lines = item.bug_lines
        assert lines and all(1 <= n <= len(mutated) for n in lines), item.id
        # Everything above the first bug line is untouched.
        assert mutated[: lines[0] - 1] == clean[: lines[0] - 1], item.id
        differs = [n for n in lines if n > len(clean) or mutated[n - 1] != clean[n - 1]]
        if "removed" in item.description:
            assert differs, item.id  # the line after the gap is not the line that used to be there
        else:
            assert differs == lines, item.id
        assert item.description.startswith(f"line {lines[0]}") or item.description.startswith(f"lines {lines[0]}")


def test_same_seed_same_dataset_other_seed_other_choice(dataset: tuple[list[BugItem], float]) -> None:
    items, _ = dataset
    assert build_dataset(seed=0, per_program=2, workers=1) == items
    other = build_dataset(seed=1, per_program=1)
    assert {i.id for i in other if i.has_bug} - {i.id for i in items}


def test_jsonl_round_trip_and_bad_lines(dataset: tuple[list[BugItem], float], tmp_path: Path) -> None:
    items, _ = dataset
    path = tmp_path / "bugs.jsonl"
    save_jsonl(items, path)
    lines = path.read_text().splitlines()
    assert len(lines) == len(items)
    first = json.loads(lines[0])
    assert set(first) >= {"id", "seed", "source", "has_bug", "bug_lines", "operator", "description", "tests"}
    assert load_jsonl(path) == items
    path.write_text(lines[0] + "\n\n" + json.dumps({"id": "x", "has_bug": True}) + "\n")
    with pytest.raises(BugDatasetError, match="line 3"):
        load_jsonl(path)


def _item(has_bug: bool, lines: list[int]) -> BugItem:
    return BugItem(
        id="t/1",
        seed="t",
        source="x = 1\n" * 10,
        has_bug=has_bug,
        bug_lines=lines,
        operator="off_by_one" if has_bug else None,
        tests="",
    )


def test_score_verdict_on_constructed_cases() -> None:
    buggy, clean = _item(True, [5]), _item(False, [])
    assert score_verdict(buggy, True, 5) == {
        "detection_correct": True,
        "localisation_correct": True,
        "line_distance": 0,
    }
    assert score_verdict(buggy, True, 6)["localisation_correct"] is True
    assert score_verdict(buggy, True, 7) == {
        "detection_correct": True,
        "localisation_correct": False,
        "line_distance": 2,
    }
    assert score_verdict(buggy, True, 7, tolerance=2)["localisation_correct"] is True
    assert score_verdict(buggy, True, None) == {
        "detection_correct": True,
        "localisation_correct": False,
        "line_distance": None,
    }
    assert score_verdict(buggy, False, 5)["detection_correct"] is False
    assert score_verdict(buggy, False, 5)["localisation_correct"] is False
    assert score_verdict(clean, False, None) == {
        "detection_correct": True,
        "localisation_correct": True,
        "line_distance": None,
    }
    assert score_verdict(clean, True, 3) == {
        "detection_correct": False,
        "localisation_correct": False,
        "line_distance": None,
    }
    assert score_verdict(_item(True, [2, 9]), True, 8)["line_distance"] == 1
    with pytest.raises(BugDatasetError):
        score_verdict(buggy, True, 5, tolerance=-1)
    with pytest.raises(ValueError):
        BugItem(id="x", seed="x", source="", has_bug=True, tests="")


SMALL = """def f(items: list[int], n: int) -> int:
    total = 0
    for i in range(n):
        if items[i] > 0 and i < 3:
            total += items[i]
        elif items[i] == 0:
            return -1
        else:
            total = total * 2
    return total + len(items[1:n])
"""


def test_each_operator_makes_the_expected_changes() -> None:
    seed = SeedProgram(name="small", program=SMALL, tests="")
    mutants = generate_mutants(seed)
    by_op: dict[str, set[str]] = {}
    for m in mutants:
        by_op.setdefault(m.operator, set()).add(m.source)
        assert m.source != seed.shown
    expected = {
        "off_by_one": "for i in range(n + 1):",
        "flip_comparison": "if items[i] >= 0 and i < 3:",
        "wrong_variable": "for i in range(total):",
        "drop_branch": "        else:\n            total = total * 2\n    return",
        "swap_arithmetic": "total -= items[i]",
        "swap_boolean": "if items[i] > 0 or i < 3:",
        "drop_return": "elif items[i] == 0:\n            return\n",
        "slice_bound": "len(items[2:n])",
    }
    for op, fragment in expected.items():
        assert any(fragment in s for s in by_op[op]), (op, by_op.get(op))
    # An int local is never swapped for the list, and a name is never read before it is bound.
    assert not any("range(items)" in s for s in by_op["wrong_variable"])
    assert len({m.source for m in mutants}) == len(mutants)
    assert [m.index for m in mutants] == sorted(m.index for m in mutants)
    assert len(find_sites(ast.parse(SMALL))) >= len(mutants)


def test_changed_lines_for_edits_and_removals() -> None:
    clean = "a\nb\nc\nd"
    assert changed_lines(clean, "a\nB\nc\nd") == [2]
    assert changed_lines(clean, "a\nc\nd") == [1, 2]
    assert changed_lines(clean, "a\nb\nc") == [3]
    assert changed_lines(clean, "a\nb\nx\ny\nd") == [3, 4]


def test_runner_catches_failures_hangs_crashes_and_ignores_output() -> None:
    tests = "from program import f\n\ndef test_one():\n    assert f(1) == 2\n\ndef test_two():\n    assert f(2) == 3\n"
    with TestRunner(tests, timeout=0.3, hard_timeout=1.5) as runner:
        # Output and reads of stdin must not disturb the protocol with the worker.
        noisy = (
            "import os, sys\n\ndef f(x):\n    print('{}')\n    sys.stdin.read()\n    os.read(0, 99)\n    return x + 1\n"
        )
        good = runner.run(noisy)
        assert not good.killed and good.passed == ["test_one", "test_two"]
        bad = runner.run("def f(x):\n    return x + 1 if x < 2 else x\n")
        assert bad.killed and bad.failed == ["test_two"] and not bad.timed_out
        hang = runner.run("def f(x):\n    while True:\n        pass\n")
        assert hang.killed and hang.timed_out and hang.passed == [] and hang.failed == []
        caught = runner.run(
            "def f(x):\n    try:\n        while True:\n            pass\n    except Exception:\n        return x + 1\n"
        )
        assert caught.timed_out
        started = time.perf_counter()
        stuck = runner.run(
            "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n\ndef f(x):\n    while True:\n        pass\n"
        )
        assert stuck.timed_out and "<worker>" in stuck.messages
        assert time.perf_counter() - started < 4.0
        crash = runner.run("import os\nos._exit(3)\n")
        assert crash.killed and "exited with 3" in crash.messages["<worker>"]
        assert not runner.run("def f(x):\n    return x + 1\n").killed  # a fresh worker serves the next version
    with pytest.raises(BugDatasetError, match="positive"):
        TestRunner(tests, timeout=0)


def test_a_seed_that_fails_its_tests_is_refused() -> None:
    broken = SeedProgram(
        name="broken",
        program="def f():\n    return 1\n",
        tests="from program import f\n\ndef test_f():\n    assert f() == 2\n",
    )
    with pytest.raises(BugDatasetError, match="broken"):
        build_dataset(seeds=[broken])


def test_docs_describe_every_operator_and_jsonl_field() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "oversight.md").read_text()
    assert "## Reproduction: debate on 8×8 digits" in text
    section = text.split("## Planted-bug code review")[1].split("\n## ")[0]
    for operator in OPERATORS:
        assert f"| `{operator}` |" in section, operator
    for field in BugItem.model_fields:
        assert f"| `{field}` |" in section, field
    for name in ("build_dataset", "save_jsonl", "load_jsonl", "score_verdict", "mutation_census", "bug_questions"):
        assert name in section, name


def test_items_become_two_answer_questions_with_numbered_lines(dataset: tuple[list[BugItem], float]) -> None:
    items, _ = dataset
    buggy = next(i for i in items if i.has_bug)
    clean = next(i for i in items if not i.has_bug)
    q = item_question(buggy)
    assert q.id == buggy.id and q.answers == [BUGGY, CLEAN] and q.correct == 0
    assert q.metadata["bug_lines"] == buggy.bug_lines and q.metadata["operator"] == buggy.operator
    line = buggy.bug_lines[0]
    shown = buggy.source.splitlines()[line - 1]
    assert f"{line:>{len(str(len(buggy.source.splitlines())))}} | {shown}" in q.question
    assert buggy.tests in (q.source or "") and buggy.tests not in q.question
    assert item_question(clean).correct == 1 and item_question(clean).metadata["bug_lines"] == []


def _compared_with_itself(source: str) -> list[str]:
    """Comparisons of an expression with itself, found independently of the filter under test."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            sides = [ast.dump(n) for n in (node.left, *node.comparators)]
            found += [ast.unparse(node) for a, b in itertools.pairwise(sides) if a == b]
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Sub | ast.FloorDiv):
            found += [ast.unparse(node)] if ast.dump(node.left) == ast.dump(node.right) else []
    return found


def test_no_mutant_gives_itself_away(seeds: list[SeedProgram]) -> None:
    """`signature(a) == signature(a)` or `number % number` is a bug found by reading one line, with no need for the
    docstring; such mutants are not made."""
    for seed in seeds:
        clean = Counter(_compared_with_itself(seed.shown))
        for mutant in generate_mutants(seed):
            assert not Counter(_compared_with_itself(mutant.source)) - clean, (seed.name, mutant.description)
    program = (
        "def same(a: str, b: str) -> bool:\n"
        '    """Whether a and b are equal ignoring case."""\n'
        "    x = a\n"
        "    return a.lower() == b.lower()\n"
    )
    sources = [m.source for m in generate_mutants(SeedProgram(name="s", program=program, tests=""))]
    assert any("x.lower() == b.lower()" in s for s in sources)  # a wrong variable that must be read to be seen
    assert not any("a.lower() == a.lower()" in s or "b.lower() == b.lower()" in s for s in sources)


def test_speakers_read_the_test_run_the_docs_promise(dataset: tuple[list[BugItem], float]) -> None:
    """The docs say debaters, consultants and critics may run the tests: the hidden source holds what the run
    printed on the program under review."""
    items, _ = dataset
    buggy = next(i for i in items if i.has_bug and not i.timed_out)
    clean = next(i for i in items if not i.has_bug)
    source = item_question(buggy).source or ""
    assert "Running the tests on the program under review" in source
    assert all(f"{name} FAILED: " in source for name in buggy.failing_tests)
    assert f"{len(buggy.failing_tests)} failed" in buggy.test_run
    passed = clean.tests.count("\ndef test_")
    assert clean.test_run.endswith(f"all {passed} passed") and clean.test_run in (item_question(clean).source or "")
    docs = (Path(__file__).resolve().parents[2] / "docs" / "oversight.md").read_text()
    assert "what running them on the program under review printed" in docs  # the docs say what speakers get
