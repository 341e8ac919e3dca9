"""Never acting on the host through a task: links out of a task or family folder are refused in one line, host
modes and owners are never changed, the install cache is private and refused when it is not proctor's own, and a
failed install says what its command printed."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from proctor.sandbox import Sandbox
from proctor.tasks import TaskError, TaskRunError, load_tasks, validate_tasks

TASK_YAML = "name: {name}\ninstructions: Read the files.\nscorer:\n  command: /usr/bin/python3 /scorer/score.py\n"
SCORE = "import os\nopen(os.environ['SCORE_FILE'], 'w').write('1.0')\n"
FAMILY = """
class TaskFamily:
    standard_version = "0.3.0"

    @staticmethod
    def get_tasks():
        return {"one": {}}

    @staticmethod
    def get_instructions(t):
        return "Do it."

    @staticmethod
    def install():
        open("/root/installed.txt", "w").write("yes")
"""


@pytest.fixture
def private(scratch: Path) -> Iterator[dict[str, Path]]:
    """Host folders a task must never touch: a private one (0700, with a secret) and a sticky shared one (1777)."""
    folder = scratch / "host"
    secret_dir = folder / "private"
    secret_dir.mkdir(parents=True)
    (secret_dir / "secret.txt").write_text("host secret")
    secret_dir.chmod(0o700)
    sticky = folder / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    yield {"private": secret_dir, "sticky": sticky, "secret": secret_dir / "secret.txt"}


def modes(paths: dict[str, Path]) -> dict[str, tuple[int, int]]:
    return {name: (path.lstat().st_mode, path.lstat().st_uid) for name, path in paths.items()}


def native(folder: Path, name: str = "linked") -> Path:
    task = folder / name
    (task / "files").mkdir(parents=True)
    (task / "files" / "readme.txt").write_text("hello")
    (task / "scorer").mkdir()
    (task / "scorer" / "score.py").write_text(SCORE)
    (task / "task.yaml").write_text(TASK_YAML.format(name=name))
    return task


LINKS: dict[str, Callable[[Path, dict[str, Path]], Path]] = {
    # Each makes one link out of the task folder and returns it.
    "a file in files/": lambda task, host: _link(task / "files" / "secret.txt", host["secret"]),
    "files/ itself": lambda task, host: _replace(task / "files", host["private"]),
    "a folder in files/": lambda task, host: _link(task / "files" / "shared", host["sticky"]),
    "a file in scorer/": lambda task, host: _link(task / "scorer" / "data.txt", host["secret"]),
    "a relative climb": lambda task, host: _link(task / "files" / "up", Path("../../host/private")),
    "the instructions file": lambda task, host: _instructions(task, host["secret"]),
}


def _link(link: Path, target: Path) -> Path:
    link.symlink_to(target)
    return link


def _replace(folder: Path, target: Path) -> Path:
    for child in folder.iterdir():
        child.unlink()
    folder.rmdir()
    return _link(folder, target)


def _instructions(task: Path, target: Path) -> Path:
    (task / "scorer" / "score.py").unlink()
    (task / "scorer").rmdir()
    (task / "task.yaml").write_text(f"name: {task.name}\nscorer:\n  expected_submission: x\n")
    return _link(task / "instructions.md", target)


@pytest.mark.parametrize("where", sorted(LINKS))
def test_a_link_out_of_a_native_task_is_refused_in_one_line(
    scratch: Path, private: dict[str, Path], where: str
) -> None:
    task = native(scratch / "suite")
    link = LINKS[where](task, private)
    before = modes(private)
    problems = validate_tasks(task)
    assert len(problems) == 1 and str(link) in problems[0] and "\n" not in problems[0]
    with pytest.raises(TaskError):
        load_tasks(task)
    assert modes(private) == before
    assert "host secret" not in "".join(problems)


async def test_links_inside_the_task_are_copied_as_links(scratch: Path, new_sandbox: Callable[..., Sandbox]) -> None:
    task_folder = native(scratch / "suite")
    (task_folder / "files" / "alias.txt").symlink_to("readme.txt")
    [task] = load_tasks(task_folder)
    sandbox = new_sandbox()
    await task.setup(sandbox)
    result = await sandbox.exec("readlink alias.txt && cat alias.txt")
    assert result.stdout == "readme.txt\nhello"


def test_a_suite_entry_that_is_a_link_is_refused(scratch: Path, private: dict[str, Path]) -> None:
    suite = scratch / "suite"
    native(suite)
    outside = native(scratch / "elsewhere", name="outside")
    (suite / "outside").symlink_to(outside)
    problems = validate_tasks(suite)
    assert problems == [
        f"{suite / 'outside'}: a symbolic link; tasks in a suite must be folders in it, never links "
        "out (copy the task in)"
    ]


@pytest.mark.parametrize("where", ["family file", "family folder"])
def test_a_link_out_of_a_metr_family_is_refused_before_any_call(
    scratch: Path, private: dict[str, Path], where: str
) -> None:
    family = scratch / "suite" / "metr_linked"
    family.mkdir(parents=True)
    (family / "metr_linked.py").write_text(FAMILY)
    link = family / "data.txt" if where == "family file" else family / "assets"
    link.symlink_to(private["secret"] if where == "family file" else private["sticky"])
    before = modes(private)
    problems = validate_tasks(family)  # listing tasks alone used to change modes on the host
    assert len(problems) == 1 and str(link) in problems[0]
    assert modes(private) == before


@pytest.fixture
def cache_parent() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="proctor-cache-test-"))
    yield folder
    for root, dirs, _ in os.walk(folder):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o700)
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


def family_folder(scratch: Path, variant: str = "") -> Path:
    family = scratch / "suite" / "metr_cached"
    family.mkdir(parents=True)
    (family / "metr_cached.py").write_text(f"{FAMILY}\n# {variant}\n")  # new content: not installed yet
    return family


def test_the_install_cache_is_made_private(scratch: Path, cache_parent: Path) -> None:
    cache = cache_parent / "cache"
    [task] = load_tasks(family_folder(scratch), cache_dir=cache)
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert stat.S_IMODE((cache / "layers").stat().st_mode) == 0o700  # the family's installed layer is in there
    [installed] = list((cache / "layers").glob("metr_cached-*"))
    assert (installed / "root" / "installed.txt").read_text() == "yes"  # install() ran, in the sandbox
    assert task.info.id == "metr_cached/one"


@pytest.mark.parametrize("planted", ["open to others", "another user's"])
def test_a_cache_proctor_did_not_make_is_refused(scratch: Path, cache_parent: Path, planted: str) -> None:
    # Another local user plants a cache at the expected path, with an "installed" family that scores anything 1.0.
    cache = cache_parent / "cache"
    cache.mkdir(mode=0o700)
    if planted == "open to others":
        cache.chmod(0o777)
    else:
        os.chown(cache, 4321, 4321)
    with pytest.raises(TaskError, match=r"refusing the cache folder .*remove it, or set PROCTOR_CACHE_DIR"):
        load_tasks(family_folder(scratch, planted), cache_dir=cache)


async def test_start_made_root_files_stay_the_agents_to_read_not_write(
    scratch: Path, new_sandbox: Callable[..., Sandbox]
) -> None:
    family = scratch / "suite" / "metr_locked"
    family.mkdir(parents=True)
    (family / "metr_locked.py").write_text(
        FAMILY.replace(
            "    @staticmethod\n    def install",
            "    skip_chown_after_start = True\n\n    @staticmethod\n"
            "    def start(t):\n        open('/home/agent/rules.txt', 'w').write('root rules')\n\n"
            "    @staticmethod\n    def install",
        )
    )
    [task] = load_tasks(family)
    sandbox = new_sandbox()
    await task.setup(sandbox)
    result = await sandbox.exec("cat rules.txt; echo mine > rules.txt")
    assert result.stdout == "root rules" and "Permission denied" in result.stderr


def test_a_task_run_error_names_a_link_found_at_run_time(scratch: Path) -> None:
    # A link planted after loading (between validation and the run) is still refused when the files are copied.
    task_folder = native(scratch / "suite")
    [task] = load_tasks(task_folder)
    (task_folder / "files" / "late").symlink_to("/etc/shadow")
    import asyncio

    from proctor.sandbox import get_sandbox

    async def attempt() -> None:
        sandbox = get_sandbox("bwrap", workspace=scratch / "late-ws")
        try:
            await task.setup(sandbox)
        finally:
            await sandbox.close()

    with pytest.raises(TaskRunError, match=r"late: symbolic link to /etc/shadow leads out of"):
        asyncio.run(attempt())


def test_a_failed_install_shows_what_its_command_printed(scratch: Path, cache_parent: Path) -> None:
    family = scratch / "suite" / "metr_broken"
    family.mkdir(parents=True)
    failing = (
        "    @staticmethod\n    def install():\n        import subprocess\n        subprocess.check_call(['sh', '-c', "
        "\"echo 'E: Unable to locate package nosuchpkg' >&2; exit 100\"])\n"
    )
    (family / "metr_broken.py").write_text(FAMILY.split("    @staticmethod\n    def install")[0] + failing)
    with pytest.raises(TaskError, match=r"install\(\) raised CalledProcessError.*Unable to locate package nosuchpkg"):
        load_tasks(family, cache_dir=cache_parent / "cache")
