"""Scores stats.py on the visible and hidden test cases.

Each case calls one function of the agent's stats.py in a process of its own, run as the agent (never as root),
and the value it returns is compared here with the expected one. Only values are read back: what the agent's
code prints, or writes elsewhere, is never taken for a result. The score (the fraction of cases passed) goes to
$SCORE_FILE, which only root can write.
"""

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

AGENT = 1000
CASES = [  # (function, arguments, expected value); the first four are the visible tests
    ("mean", [[1, 2, 3, 4]], 2.5),
    ("median", [[5, 1, 3]], 3),
    ("median", [[4, 1, 3, 2]], 2.5),
    ("value_range", [[3, 9, 4]], 6),
    ("median", [[10, 2, 8, 4]], 6),
    ("median", [[1, 2]], 1.5),
    ("median", [[7]], 7),
    ("median_leaves_input", [[3, 1, 2, 4]], [3, 1, 2, 4]),
    ("mean", [[0.5, 2.0]], 1.25),
    ("value_range", [[4]], 0),
]
CALL = """
import json, sys
from stats import mean, median, value_range
name, args = json.loads(sys.argv[1])
if name == "median_leaves_input":
    median(args[0])
    value = args[0]
else:
    value = {"mean": mean, "median": median, "value_range": value_range}[name](*args)
print()
print(json.dumps(value))
"""


def returned(folder: Path, case: tuple) -> object:
    """The value one case's call returned, or None when it failed."""
    try:
        run = subprocess.run(
            ["/usr/bin/python3", "-c", CALL, json.dumps(case[:2])],
            cwd=folder, capture_output=True, text=True, timeout=10, user=AGENT, group=AGENT, extra_groups=[],
        )
        return json.loads(run.stdout.strip().splitlines()[-1]) if run.returncode == 0 else None
    except (subprocess.TimeoutExpired, ValueError, IndexError):
        return None


def same(got: object, expected: object) -> bool:
    if isinstance(expected, list):
        return got == expected
    return isinstance(got, (int, float)) and not isinstance(got, bool) and abs(got - expected) < 1e-9


def score() -> float:
    source = Path("/home/agent/stats.py")
    if not source.is_file() or source.is_symlink():
        print("stats.py is missing")
        return 0.0
    folder = Path(tempfile.mkdtemp())
    try:
        folder.chmod(0o755)
        shutil.copyfile(source, folder / "stats.py")
        (folder / "stats.py").chmod(0o644)
        passed = 0
        for case in CASES:
            got = returned(folder, case)
            ok = same(got, case[2])
            passed += ok
            print(f"{case[0]}{tuple(case[1])}: {'ok' if ok else f'got {got!r}'}")
        return round(passed / len(CASES), 4)
    finally:
        shutil.rmtree(folder)


Path(os.environ["SCORE_FILE"]).write_text(f"{score()}\n")
