"""Validation of deliberately malformed task folders: one line per problem, naming the file."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from proctor.tasks import TaskError, load_tasks, validate_tasks

GOOD_YAML = "name: {name}\ninstructions: Do it.\nscorer:\n  expected_submission: '42'\n"


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return folder


def metr(name: str, body: str) -> dict[str, str]:
    return {f"{name}/{name}.py": body}


GOOD_FAMILY = """
class TaskFamily:
    standard_version = "0.3.0"

    @staticmethod
    def get_tasks():
        return {"one": {}, "two": {}}

    @staticmethod
    def get_instructions(t):
        return "Say hi."
"""

# Each malformed folder, and a piece of the one line that must name its problem.
MALFORMED: dict[str, tuple[dict[str, str], str, str]] = {
    "no-yaml": ({"no-yaml/files/a.txt": "x"}, "no-yaml/task.yaml", "missing task.yaml"),
    "yaml-syntax": (
        {"yaml-syntax/task.yaml": "name: yaml-syntax\ninstructions: [unclosed\nscorer: {}\n"},
        "yaml-syntax/task.yaml",
        "YAML syntax error at line 3",
    ),
    "unknown-key": (
        {"unknown-key/task.yaml": GOOD_YAML.format(name="unknown-key") + "colour: blue\n"},
        "unknown-key/task.yaml",
        "unknown key 'colour'",
    ),
    "unknown-limit": (
        {"unknown-limit/task.yaml": GOOD_YAML.format(name="unknown-limit") + "limits:\n  stepz: 3\n"},
        "unknown-limit/task.yaml",
        "unknown key 'limits.stepz'",
    ),
    "no-instructions": (
        {"no-instructions/task.yaml": "name: no-instructions\nscorer:\n  expected_submission: x\n"},
        "no-instructions/instructions.md",
        "missing instructions file",
    ),
    "no-scorer": (
        {"no-scorer/task.yaml": "name: no-scorer\ninstructions: Do it.\n"},
        "no-scorer/task.yaml",
        "missing required key 'scorer'",
    ),
    "empty-scorer": (
        {"empty-scorer/task.yaml": "name: empty-scorer\ninstructions: Do it.\nscorer: {}\n"},
        "empty-scorer/task.yaml",
        "scorer needs 'command' or 'expected_submission'",
    ),
    "scorer-missing": (
        {
            "scorer-missing/task.yaml": "name: scorer-missing\ninstructions: x\n"
            "scorer:\n  command: /usr/bin/python3 /scorer/score.py\n",
            "scorer-missing/scorer/other.py": "print(1)",
        },
        "scorer-missing/task.yaml",
        "refers to /scorer/score.py but",
    ),
    "bad-permission": (
        {"bad-permission/task.yaml": GOOD_YAML.format(name="bad-permission") + "permissions: [internet]\n"},
        "bad-permission/task.yaml",
        "bad permissions value 'internet'",
    ),
    "metr_no_class": (metr("metr_no_class", "class Family:\n    pass\n"), "metr_no_class.py", "no class TaskFamily"),
    "metr_raises": (
        metr("metr_raises", GOOD_FAMILY.replace('return {"one": {}, "two": {}}', "raise ValueError('no data')")),
        "metr_raises/metr_raises.py",
        "get_tasks() raised ValueError: no data",
    ),
    "metr_syntax": (
        metr("metr_syntax", "class TaskFamily(:\n"),
        "metr_syntax/metr_syntax.py",
        "syntax error at line 1",
    ),
    "metr_permissions": (
        metr(
            "metr_permissions",
            GOOD_FAMILY + "\n    @staticmethod\n    def get_permissions(t):\n        return ['net']\n",
        ),
        "metr_permissions/metr_permissions.py",
        "bad permissions value ['net']",
    ),
    "metr_manifest": (
        {
            **metr("metr_manifest", GOOD_FAMILY),
            "metr_manifest/manifest.yaml": "tasks:\n  one:\n    resources:\n      memory_gb: -1\n",
        },
        "metr_manifest/manifest.yaml",
        "tasks.one.resources.memory_gb",
    ),
    "metr_manifest_task": (
        {**metr("metr_manifest_task", GOOD_FAMILY), "metr_manifest_task/manifest.yaml": "tasks:\n  three: {}\n"},
        "metr_manifest_task/manifest.yaml",
        "tasks ['three'] are not returned",
    ),
}


def test_each_malformed_folder_gives_one_line_naming_its_file(scratch: Path) -> None:
    suite = scratch / "suite"
    for files, _, _ in MALFORMED.values():
        write(suite, files)
    write(suite, {"fine/task.yaml": GOOD_YAML.format(name="fine"), **metr("metr_fine", GOOD_FAMILY)})

    problems = validate_tasks(suite)

    assert len(problems) == len(MALFORMED), "\n".join(problems)
    for folder, (_, file, fragment) in MALFORMED.items():
        matching = [p for p in problems if f"/{folder}/" in p or p.startswith(str(suite / folder) + ":")]
        assert len(matching) == 1, (folder, problems)
        line = matching[0]
        assert "\n" not in line and "Traceback" not in line
        assert line.startswith(str(suite)) and file in line and fragment in line, line


def test_a_metr_problem_names_the_line_in_the_family(scratch: Path) -> None:
    family = GOOD_FAMILY.replace('return "Say hi."', "return t['missing']")
    write(scratch, metr("metr_keyerror", family))
    [problem] = validate_tasks(scratch / "metr_keyerror")
    assert problem.startswith(f"{scratch}/metr_keyerror/metr_keyerror.py: get_instructions('one') raised KeyError")
    assert "(at metr_keyerror.py:11)" in problem


def test_load_raises_the_first_problem_and_counts_the_rest(scratch: Path) -> None:
    write(scratch, {"a/task.yaml": "name: a\n", "b/task.yaml": "bogus: 1\n"})
    with pytest.raises(TaskError, match=r"a/task.yaml: missing required key 'scorer'.*\(and 3 more problems\)"):
        load_tasks(scratch)


def test_odd_paths_are_reported_not_raised(scratch: Path) -> None:
    assert validate_tasks(scratch / "nowhere") == [
        f"{scratch}/nowhere: does not exist; give a task folder, a METR family folder, a suite folder or 'examples'"
    ]
    (scratch / "empty").mkdir()
    [empty] = validate_tasks(scratch / "empty")
    assert empty.startswith(f"{scratch}/empty/task.yaml: missing task.yaml")
    write(scratch, {"misnamed/family.py": GOOD_FAMILY})
    [misnamed] = validate_tasks(scratch / "misnamed")
    assert misnamed.startswith(f"{scratch}/misnamed/misnamed.py: missing; a METR family folder needs")
    write(scratch, {"CamelFamily/CamelFamily.py": GOOD_FAMILY})
    [camel] = validate_tasks(scratch / "CamelFamily")
    assert "must be snake_case" in camel
    write(scratch, {"dup/x/task.yaml": GOOD_YAML.format(name="same"), "dup/y/task.yaml": GOOD_YAML.format(name="same")})
    [duplicate] = validate_tasks(scratch / "dup")
    assert duplicate == f"{scratch}/dup/y: task id 'dup/same' is also used by {scratch}/dup/x"


def test_instructions_file_and_limits_are_read(scratch: Path) -> None:
    write(
        scratch,
        {
            "suite/t1/task.yaml": "name: t1\ninstructions_file: docs/brief.txt\nlimits: {steps: 4, memory_mb: 256}\n"
            "permissions: [full_internet]\nscorer: {expected_submission: 42}\n",
            "suite/t1/docs/brief.txt": "Read me.\n",
        },
    )
    [task] = load_tasks(scratch / "suite")
    assert task.info.id == "suite/t1"
    assert task.info.instructions == "Read me.\n"
    assert task.info.permissions == ["full_internet"]
    assert (task.info.limits.steps, task.info.limits.memory_mb, task.info.limits.tokens) == (4, 256, None)
    # A single task folder loads on its own too, with the same id.
    assert [t.info.id for t in load_tasks(scratch / "suite" / "t1")] == ["suite/t1"]


def test_an_unknown_filter_names_the_choices(scratch: Path) -> None:
    write(scratch, {"s/one/task.yaml": GOOD_YAML.format(name="one")})
    with pytest.raises(TaskError, match=r"no task matches 'two'; give a task id, name or family from: s/one"):
        load_tasks(scratch / "s", only=["two"])


def test_the_bundled_examples_validate_cleanly() -> None:
    assert validate_tasks("examples") == []


def test_an_unknown_filter_in_a_large_suite_names_the_first_choices(scratch: Path) -> None:
    write(scratch, {f"s/t{i:02d}/task.yaml": GOOD_YAML.format(name=f"t{i:02d}") for i in range(25)})
    with pytest.raises(TaskError) as raised:
        load_tasks(scratch / "s", only=["nosuch"])
    first = ", ".join(f"s/t{i:02d}" for i in range(10))
    assert str(raised.value) == (
        f"no task matches 'nosuch'; give a task id, name or family from: {first} and 15 more (proctor tasks list)"
    )
