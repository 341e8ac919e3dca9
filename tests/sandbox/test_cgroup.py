"""Per-sandbox cgroups against the real kernel (run as root): limits hold for all processes together, tmpfs included."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from proctor.sandbox._base import SandboxError
from proctor.sandbox._cgroup import (
    SandboxCgroup,
    cgroup_support,
    protect_from_oom_killer,
    remove_stale_cgroups,
)

MiB = 1 << 20
PYTHON = shlex.quote(sys.executable)
# Allocates (and touches) `mb` MiB, says "ok", then holds it until stdin closes or gets "+N" to allocate N MiB more.
HOLDER = (
    "import sys; chunks = [bytearray({mb} << 20)]; print('ok', flush=True)\n"
    "for line in sys.stdin: chunks.append(bytearray(int(line) << 20)); print('ok', flush=True)"
)


def hog(mb: int, seconds: float = 1.0) -> str:
    return f"{PYTHON} -c 'import time; b = bytearray({mb} << 20); time.sleep({seconds})'"


def holder(mb: int) -> str:
    return f"{PYTHON} -c {shlex.quote(HOLDER.format(mb=mb))}"


class Spawner:
    """Starts `/bin/sh -c "<join the cgroup> exec COMMAND"` as the sandbox design does; kills leftovers at the end."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[str]] = []

    def __call__(
        self, cgroup: SandboxCgroup | None, command: str, oom_score_adj: int | None = None, **kwargs: Any
    ) -> subprocess.Popen[str]:
        prefix = cgroup.shell_prefix(oom_score_adj) if cgroup else ""
        process = subprocess.Popen(
            ["/bin/sh", "-c", f"{prefix}exec {command}"], text=True, start_new_session=True, **kwargs
        )
        self.started.append(process)
        return process


@pytest.fixture
def spawn() -> Iterator[Spawner]:
    spawner = Spawner()
    yield spawner
    for process in spawner.started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # with what it forked outside any cgroup
        process.wait()


def new_cgroup() -> SandboxCgroup:
    cgroup = SandboxCgroup.create(f"test-{uuid.uuid4().hex[:10]}")
    assert cgroup is not None, "cgroups are unusable: run these tests as root where cgroup memory and pids work"
    return cgroup


@pytest.fixture
def cgroup() -> Iterator[SandboxCgroup]:
    made = new_cgroup()
    yield made
    made.remove()
    assert not any(path.exists() for path in made.paths)


def alive(pid: int) -> bool:
    """True for a running process; a zombie (killed, not yet reaped) is not alive."""
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


def members(cgroup: SandboxCgroup) -> set[int]:
    return {int(pid) for path in cgroup.procs_files for pid in path.read_text().split()}


def test_support_and_layout_here() -> None:
    assert cgroup_support() in ("v1", "v2")
    cgroup = new_cgroup()
    try:
        own = {line.split(":")[1]: line.split(":")[2] for line in Path("/proc/self/cgroup").read_text().splitlines()}
        if cgroup.version == "v1":  # nested under proctor's own memory and pids cgroups
            assert str(cgroup.paths[0]).endswith(f"{own['memory'].rstrip('/')}/proctor/{cgroup.paths[0].name}")
            assert str(cgroup.paths[1]).endswith(f"{own['pids'].rstrip('/')}/proctor/{cgroup.paths[1].name}")
        assert all(path.is_dir() for path in cgroup.paths)
        with pytest.raises(SandboxError, match="exists"):
            SandboxCgroup.create(cgroup.paths[0].name)
        with pytest.raises(ValueError):
            SandboxCgroup.create("../escape")
    finally:
        cgroup.remove()


def test_create_limit_remove_is_cheap() -> None:
    start = time.perf_counter()
    for _ in range(20):
        cgroup = new_cgroup()
        cgroup.set_limits(memory_bytes=512 * MiB, pids=64)
        cgroup.remove()
    assert (time.perf_counter() - start) / 20 < 0.02


def test_memory_limit_holds_for_all_processes_together(cgroup: SandboxCgroup, spawn: Spawner) -> None:
    cgroup.set_limits(memory_bytes=512 * MiB, pids=None)
    free = [spawn(None, hog(400, seconds=0.5)) for _ in range(4)]
    assert [process.wait(30) for process in free] == [0, 0, 0, 0]  # 1.6 GB fits the machine
    boxed = [spawn(cgroup, hog(400, seconds=0.5)) for _ in range(4)]
    codes = [process.wait(30) for process in boxed]
    assert codes.count(-9) >= 2 and set(codes) <= {0, -9}, codes  # at most one 400 MB process fits at a time
    usage = cgroup.usage()
    assert usage.oom_kills >= 2
    assert usage.memory_peak_bytes is None or 400 * MiB < usage.memory_peak_bytes <= 512 * MiB  # None: v2 < 5.19


def test_tmpfs_pages_count_against_the_limit(cgroup: SandboxCgroup, spawn: Spawner, tmp_path: Path) -> None:
    cgroup.set_limits(memory_bytes=256 * MiB, pids=None)

    def write_tmpfs(mb: int) -> str:  # a tmpfs in a private mount namespace, as the sandbox's /tmp is
        script = (
            f"mount -t tmpfs -o size=1g tmpfs {tmp_path} && dd if=/dev/zero of={tmp_path}/f bs=1M count={mb} "
            "2>/dev/null && echo written && exec sleep 30"
        )
        return f"unshare --mount --propagation private /bin/sh -c {shlex.quote(script)}"

    small = spawn(cgroup, write_tmpfs(100), stdout=subprocess.PIPE)
    assert small.stdout is not None and small.stdout.readline() == "written\n"
    assert cgroup.usage().memory_bytes >= 100 * MiB  # the file's pages, not the writers' few MiB
    cgroup.kill_all()
    assert small.wait(5) == -9

    big = spawn(cgroup, write_tmpfs(700), stdout=subprocess.PIPE)
    assert big.wait(30) != 0
    usage = cgroup.usage()
    assert usage.oom_kills >= 1 and usage.memory_peak_bytes is not None
    assert 200 * MiB < usage.memory_peak_bytes <= 256 * MiB
    assert not (tmp_path / "f").exists()  # the tmpfs was private to the sandbox's mount namespace


FORKER = """
import os, time
forked = 0
try:
    while forked < 100:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        forked += 1
    print(forked, 0, flush=True)
except BlockingIOError as e:
    print(forked, e.errno, flush=True)
time.sleep(30)
"""


def test_process_limit_stops_the_21st_fork(cgroup: SandboxCgroup, spawn: Spawner) -> None:
    cgroup.set_limits(memory_bytes=None, pids=20)
    forker = spawn(cgroup, f"{PYTHON} -c {shlex.quote(FORKER)}", stdout=subprocess.PIPE)
    assert forker.stdout is not None
    assert forker.stdout.readline().split() == ["19", str(errno.EAGAIN)]  # 1 parent + 19 children = 20
    usage = cgroup.usage()
    assert usage.pids == 20 and usage.pids_limit == 20
    free = spawn(None, f"{PYTHON} -c {shlex.quote(FORKER.replace('100', '30'))}", stdout=subprocess.PIPE)
    assert free.stdout is not None and free.stdout.readline() == "30 0\n"  # without the cgroup: all 30 forks work


# Every process forks forever, retrying when the process limit stops it: killed processes are replaced at once.
BOMB = """
import os, time
while True:
    try:
        os.fork()
    except BlockingIOError:
        time.sleep(0.001)
"""


def test_kill_all_leaves_nothing_and_remove_deletes_the_folders(spawn: Spawner) -> None:
    cgroup = new_cgroup()
    cgroup.set_limits(memory_bytes=256 * MiB, pids=60)
    bomb = spawn(cgroup, f"{PYTHON} -c {shlex.quote(BOMB)}")
    deadline = time.monotonic() + 5
    while cgroup.usage().pids < 60 and time.monotonic() < deadline:
        time.sleep(0.01)
    pids = members(cgroup)
    assert len(pids) >= 50  # pids.current also counts zombies not yet reaped, which cgroup.procs does not list
    cgroup.kill_all()
    assert members(cgroup) == set()
    assert not any(alive(pid) for pid in pids)  # zombies at most: pids.current counts them until init reaps them
    assert bomb.wait(5) == -9

    sleeper = spawn(cgroup, "sleep 30")  # remove() itself kills what is left
    deadline = time.monotonic() + 5
    while not members(cgroup) and time.monotonic() < deadline:
        time.sleep(0.01)
    cgroup.remove()
    assert sleeper.wait(5) == -9
    assert not any(path.exists() for path in cgroup.paths)
    cgroup.remove()  # twice is harmless


def test_stale_cgroups_are_removed_at_start(spawn: Spawner) -> None:
    stale, busy, young = new_cgroup(), new_cgroup(), new_cgroup()
    try:
        sleeper = spawn(busy, "sleep 30")
        deadline = time.monotonic() + 5
        while not members(busy) and time.monotonic() < deadline:
            time.sleep(0.01)
        an_hour_ago = time.time() - 3600
        for path in stale.paths + busy.paths:
            os.utime(path, (an_hour_ago, an_hour_ago))
        removed = remove_stale_cgroups(min_age=60)
        assert set(stale.paths) <= set(removed)
        assert not set(busy.paths + young.paths) & set(removed)
        assert not any(path.exists() for path in stale.paths)
        assert all(path.exists() for path in busy.paths + young.paths) and sleeper.poll() is None
    finally:
        for cgroup in (stale, busy, young):
            cgroup.remove()


def test_limits_can_be_raised_and_lowered_in_use(cgroup: SandboxCgroup, spawn: Spawner) -> None:
    def limits() -> tuple[int | None, int | None]:
        usage = cgroup.usage()
        memsw = cgroup.paths[0] / "memory.memsw.limit_in_bytes"  # v1: must follow, or swap would evade the limit
        if memsw.exists():
            assert memsw.read_text() == (cgroup.paths[0] / "memory.limit_in_bytes").read_text()
        return usage.memory_limit_bytes, usage.pids_limit

    cgroup.set_limits(memory_bytes=1024 * MiB, pids=50)
    process = spawn(cgroup, holder(100), stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def grow(mb: int) -> str:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(f"{mb}\n")
        process.stdin.flush()
        return process.stdout.readline()

    assert process.stdout is not None and process.stdout.readline() == "ok\n"
    cgroup.set_limits(memory_bytes=256 * MiB, pids=10)  # lower, above usage: memory first, then memory+swap
    assert limits() == (256 * MiB, 10)
    assert grow(100) == "ok\n"  # 200 MiB
    cgroup.set_limits(memory_bytes=1024 * MiB, pids=None)  # raise: memory+swap first
    assert limits() == (1024 * MiB, None)
    assert grow(400) == "ok\n"  # 600 MiB: past the old limit
    if cgroup.version == "v1":  # v1 refuses a limit below what cannot be reclaimed, and keeps the old one
        with pytest.raises(SandboxError, match="cannot be reclaimed"):
            cgroup.set_limits(memory_bytes=128 * MiB, pids=None)
        assert limits() == (1024 * MiB, None) and process.poll() is None
    cgroup.set_limits(memory_bytes=None, pids=None)
    assert limits() == (None, None)
    cgroup.set_limits(memory_bytes=2048 * MiB, pids=5)  # lower from no limit
    assert limits() == (2048 * MiB, 5)
    assert grow(100) == "ok\n" and process.poll() is None


@pytest.mark.parametrize("commands_first", [True, False])
def test_the_oom_killer_takes_the_commands_before_init(
    cgroup: SandboxCgroup, spawn: Spawner, commands_first: bool
) -> None:
    cgroup.set_limits(memory_bytes=512 * MiB, pids=None)
    init = spawn(cgroup, holder(350), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert init.stdout is not None and init.stdout.readline() == "ok\n"
    command = spawn(cgroup, hog(250), oom_score_adj=1000 if commands_first else None)
    command.wait(30)
    time.sleep(0.05)
    # The OOM killer takes the biggest process, the 350 MiB "init", unless the commands are marked to go first.
    assert (init.poll(), command.returncode) == ((None, -9) if commands_first else (-9, 0))


def test_protect_from_oom_killer_needs_cap_sys_resource(cgroup: SandboxCgroup, spawn: Spawner) -> None:
    cgroup.set_limits(memory_bytes=512 * MiB, pids=None)
    init = spawn(cgroup, holder(350), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert init.stdout is not None and init.stdout.readline() == "ok\n"
    effective = int(
        next(line for line in Path("/proc/self/status").read_text().splitlines() if "CapEff" in line)[7:], 16
    )
    if not effective & (1 << 24):  # CAP_SYS_RESOURCE, dropped in many containers (this test machine among them)
        with pytest.raises(SandboxError, match="oom_score_adj=1000"):
            protect_from_oom_killer(init.pid)
        return
    protect_from_oom_killer(init.pid)
    assert Path(f"/proc/{init.pid}/oom_score_adj").read_text().strip() == "-1000"
    command = spawn(cgroup, hog(250))
    assert command.wait(30) == -9 and init.poll() is None


def test_unprivileged_users_get_none_not_an_error() -> None:
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # drop root for real in a child; modules are already imported, so /root need not be readable
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            created = SandboxCgroup.create("unprivileged")
            result: dict[str, object] = {
                "support": cgroup_support(),
                "created": created is not None,
                "uid": os.getuid(),
            }
        except BaseException as e:
            result = {"error": repr(e)}
        os.write(write, json.dumps(result).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        result = json.loads(pipe.read())
    os.waitpid(child, 0)
    assert result == {"support": None, "created": False, "uid": 65534}


def test_v2_join_kill_and_remove_on_the_unified_hierarchy(spawn: Spawner) -> None:
    """The v2 mechanics that need no controllers (cgroup.procs, cgroup.kill, rmdir), on the host's cgroup2 mount."""
    mounts = [line.split() for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    cgroup2 = [fields[4] for fields in mounts if fields[fields.index("-") + 1] == "cgroup2"]
    own = next(line[3:] for line in Path("/proc/self/cgroup").read_text().splitlines() if line.startswith("0::"))
    assert cgroup2, "no cgroup2 mount: mount -t cgroup2 none /sys/fs/cgroup/unified"
    path = Path(cgroup2[0], own.lstrip("/"), "proctor", f"test-{uuid.uuid4().hex[:10]}")
    path.mkdir(parents=True)
    cgroup = SandboxCgroup("v2", [path])
    try:
        assert cgroup.procs_files == [path / "cgroup.procs"]
        sleepers = [spawn(cgroup, "sleep 30") for _ in range(3)]
        deadline = time.monotonic() + 5
        while len(members(cgroup)) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert members(cgroup) == {process.pid for process in sleepers}
        extra = spawn(None, "sleep 30")
        cgroup.add(extra.pid)
        assert extra.pid in members(cgroup)
        cgroup.kill_all()
        assert members(cgroup) == set()
        assert [process.wait(5) for process in [*sleepers, extra]] == [-9, -9, -9, -9]
    finally:
        cgroup.remove()
    assert not path.exists()
