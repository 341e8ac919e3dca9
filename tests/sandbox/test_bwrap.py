"""The bubblewrap sandbox, against real bubblewrap: escapes must fail, limits hold for the sandbox as a whole,
the host stays untouched."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from proctor.sandbox import (
    BwrapSandbox,
    Limits,
    SandboxError,
    _bwrap,
    clean_leftovers,
    copy_in,
    get_sandbox,
    open_workspace,
    remove_workspace,
    sandbox_backends,
)
from proctor.sandbox._disk import image_of as disk_image


@pytest.fixture
def workspace() -> Iterator[Path]:
    # Under /tmp, not pytest's tmp_path: the sandbox's host uid must be able to reach it.
    folder = Path(tempfile.mkdtemp(prefix="proctor-sandbox-test-"))
    folder.chmod(0o755)
    yield folder / "workspace"
    shutil.rmtree(folder)


@pytest.fixture
async def box(workspace: Path) -> AsyncIterator[BwrapSandbox]:
    sandbox = get_sandbox("bwrap", workspace=workspace)
    assert isinstance(sandbox, BwrapSandbox)
    yield sandbox
    await sandbox.close()


ROOT = pytest.mark.usefixtures("as_root")


class LoopbackServer:
    """A TCP server on 127.0.0.1 that records what each connection sends."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.received.append(await reader.read(100))
        writer.close()


@pytest.fixture
async def server() -> AsyncIterator[LoopbackServer]:
    recorder = LoopbackServer()
    tcp = await asyncio.start_server(recorder.handle, "127.0.0.1", 0)
    recorder.port = tcp.sockets[0].getsockname()[1]
    async with tcp:
        yield recorder


def connect_command(port: int) -> str:
    return (
        "python3 -c \"import socket; s = socket.create_connection(('127.0.0.1', "
        f"{port}), timeout=3); s.sendall(b'hello from the sandbox'); s.close()\""
    )


def running_with(marker: str) -> list[int]:
    """Host pids whose command line contains `marker` (zombies have none, so they don't count)."""
    pids = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                cmdline = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if marker.encode() in cmdline:
                pids.append(int(entry.name))
    return pids


async def gone(marker: str, within: float = 2.0) -> bool:
    deadline = time.monotonic() + within
    while running_with(marker):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def test_bwrap_is_registered() -> None:
    assert "bwrap" in sandbox_backends()


async def test_cannot_read_files_outside_the_workspace(box: BwrapSandbox) -> None:
    planted = Path(tempfile.mkdtemp(prefix="proctor-planted-"))
    try:
        secret = planted / "secret.txt"
        secret.write_text("host secret")
        secret.chmod(0o644)
        planted.chmod(0o755)
        result = await box.exec(f"cat {secret}")
        assert result.exit_code != 0
        assert "host secret" not in result.stdout
        shadow = await box.exec("cat /etc/shadow")
        assert shadow.exit_code != 0 and shadow.stdout == ""
        for private in ("/root", "/run/proctor", "/scorer"):
            assert (await box.exec(f"ls {private}")).exit_code != 0
    finally:
        shutil.rmtree(planted)


async def test_no_network_by_default(box: BwrapSandbox, server: LoopbackServer) -> None:
    result = await box.exec(connect_command(server.port), limits=Limits(timeout=10))
    assert result.exit_code != 0
    assert not result.timed_out
    await asyncio.sleep(0.1)
    assert server.received == []


@ROOT
async def test_network_is_the_sandboxs_own_never_the_hosts_loopback(workspace: Path, server: LoopbackServer) -> None:
    box = get_sandbox("bwrap", workspace=workspace, network=True)
    try:
        routes = await box.exec("cat /proc/net/route /proc/net/dev")
        default = [line.split() for line in routes.stdout.splitlines() if line.split()[1:2] == ["00000000"]]
        assert default and default[0][0] == "eth0"  # an interface of its own, with a default route
        result = await box.exec(connect_command(server.port), limits=Limits(timeout=10))
        assert result.exit_code != 0 and "refused" in result.stderr.lower()
        # Nor may root inside hand-build packets to 127.0.0.1 or re-address the interface, which pasta would carry.
        raw = "python3 -c 'import socket; socket.socket(socket.AF_PACKET, socket.SOCK_RAW)'"
        assert "PermissionError" in (await box.exec(raw, as_root=True)).stderr
        readdress = await box.exec("ip addr flush dev eth0", as_root=True)
        assert readdress.exit_code != 0 and "Operation not permitted" in readdress.stderr
        await asyncio.sleep(0.1)
        assert server.received == []
    finally:
        await box.close()
    assert box._internet is None  # pasta stopped with the sandbox


async def test_fork_bomb_is_bounded_and_the_host_still_spawns(workspace: Path) -> None:
    box = get_sandbox("bwrap", workspace=workspace, limits=Limits(processes=64))
    marker = f"bomb{uuid.uuid4().hex[:8]}"
    # The bomb rages in the background while the shell sleeps past the time limit.
    bomb = f"bash -c ': {marker}; :(){{ :|:& }};:; sleep 30'"
    result = await box.exec(bomb, limits=Limits(timeout=3))
    assert result.timed_out
    assert result.duration < 5
    assert "Resource temporarily unavailable" in result.stderr  # forks hit the process limit
    assert subprocess.run(["true"], check=False).returncode == 0
    assert await gone(marker)
    # The limit holds inside too: 100 background sleeps cannot all start under a limit of 64.
    many = await box.exec("for i in $(seq 100); do sleep 2 & done; wait")
    assert many.exit_code != 0
    assert "fork" in many.stderr.lower()
    await box.close()


async def test_four_gib_allocation_fails(box: BwrapSandbox) -> None:
    result = await box.exec("python3 -c 'bytearray(4 << 30)'")  # the sandbox has 1024 MiB
    assert result.exit_code != 0
    assert box.cgroup is None or box.cgroup.usage().oom_kills >= 1


@ROOT
async def test_memory_is_limited_for_the_sandbox_as_a_whole(box: BwrapSandbox) -> None:
    # Four processes of 400 MB each: fine one by one under 1 GiB, not together.
    hold = "python3 -c 'import time; b = bytearray(400 << 20); time.sleep(3)'"
    result = await box.exec(f"for i in 1 2 3 4; do {hold} & done; wait", limits=Limits(timeout=20))
    assert box.cgroup is not None
    usage = box.cgroup.usage()
    assert usage.oom_kills >= 1, result
    assert usage.memory_peak_bytes <= 1024 << 20
    assert (await box.exec("echo alive")).stdout == "alive\n"  # the sandbox outlives its OOM kills


@ROOT
async def test_tmpfs_counts_against_the_memory_limit(workspace: Path) -> None:
    # /tmp is memory: its pages are charged to the sandbox, and it holds at most half of the sandbox's memory, so
    # filling it can take neither the host's memory nor the room the sandbox's commands need.
    box = get_sandbox("bwrap", workspace=workspace, limits=Limits(memory_mb=256))
    assert isinstance(box, BwrapSandbox)
    limits = Limits(timeout=20)
    kept = await box.exec("head -c 100M /dev/zero > /tmp/kept && echo ok", limits=limits)
    assert kept.stdout == "ok\n"
    assert box.cgroup is not None
    assert box.cgroup.usage().memory_bytes >= 100 << 20
    fill = await box.exec("head -c 700M /dev/zero > /tmp/fill", limits=limits)
    assert "No space left on device" in fill.stderr
    assert box.cgroup.usage().memory_peak_bytes <= 256 << 20
    again = await box.exec("rm /tmp/fill && echo noted > /tmp/note && cat /tmp/note && ls /tmp", limits=limits)
    assert again.stdout.split() == ["noted", "kept", "note"]
    await box.close()


async def test_without_a_cgroup_limits_hold_per_process_and_tmpfs_is_capped(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The documented fallback where no cgroup can be made (an ordinary user, no delegated cgroup).
    monkeypatch.setattr(_bwrap.SandboxCgroup, "create", classmethod(lambda cls, name: None))
    monkeypatch.setattr(_bwrap, "mount_workspace", lambda *args, **kwargs: False)  # nor a disk of its own
    box = get_sandbox("bwrap", workspace=workspace, limits=Limits(memory_mb=512, processes=32, disk_mb=32))
    assert isinstance(box, BwrapSandbox)
    try:
        big = await box.exec("python3 -c 'bytearray(2 << 30)'")
        assert big.exit_code != 0 and "MemoryError" in big.stderr
        fill = await box.exec("for i in $(seq 10); do head -c 30M /dev/zero > /tmp/fill$i || exit; done")
        assert fill.exit_code != 0 and "No space left on device" in fill.stderr
        large = await box.exec("head -c 40M /dev/zero > large; head -c 20M /dev/zero > fits && ls -s fits")
        assert "File size limit exceeded" in large.stderr and large.stdout == "20480 fits\n"
        many = await box.exec("for i in $(seq 100); do sleep 2 & done; wait")
        assert "fork" in many.stderr.lower()
    finally:
        await box.close()


NOBODY_SCRIPT = """
import asyncio, json, sys
from pathlib import Path
from proctor.sandbox import BwrapSandbox, Limits

async def main():
    box = BwrapSandbox(workspace=Path(sys.argv[1]), limits=Limits(memory_mb=256, processes=32, disk_mb=16))
    commands = {"id": "id -u", "large": "head -c 32M /dev/zero > large", "fits": "head -c 8M /dev/zero > fits",
                "memory": "python3 -c 'bytearray(1 << 30)'",
                "tmp": "for i in $(seq 10); do head -c 15M /dev/zero > /tmp/f$i || exit; done",
                "forks": "for i in $(seq 60); do sleep 2 & done; wait"}
    try:
        print(json.dumps({name: (await box.exec(command)).model_dump() for name, command in commands.items()}))
    finally:
        await box.close()

asyncio.run(main())
"""


@ROOT
def test_run_by_an_ordinary_user_limits_hold_per_process(workspace: Path) -> None:
    # The documented fallback, end to end: proctor run by `nobody` (no cgroup, no uid map, no disk image).
    # proctor and its packages are bound where nobody can read them, since their folders may be private.
    import pydantic

    top = workspace.parent
    (top / "run.py").write_text(NOBODY_SCRIPT)
    (top / "workspace").mkdir()
    os.chown(top / "workspace", 65534, 65534)
    binds = [Path(_bwrap.__file__).parents[2], Path(pydantic.__file__).parents[1]]
    shell = f'mkdir {top}/src {top}/site && mount --bind "$1" {top}/src && mount --bind "$2" {top}/site'
    shell += ' && shift 2 && exec "$@"'
    argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", shell, "sh", *map(str, binds)]
    argv += ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env", f"HOME={top}"]
    argv += [f"PYTHONPATH={top}/src:{top}/site", "/usr/bin/python3", str(top / "run.py"), str(top / "workspace")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert results["id"]["stdout"] == "1000\n"
    assert "File size limit exceeded" in results["large"]["stderr"] and results["fits"]["exit_code"] == 0
    assert "MemoryError" in results["memory"]["stderr"]
    assert "No space left on device" in results["tmp"]["stderr"]  # /tmp is capped at half the memory
    assert "fork" in results["forks"]["stderr"].lower()
    assert (top / "workspace" / "fits").stat().st_uid == 65534


@ROOT
async def test_the_workspace_is_a_disk_of_its_own_size(workspace: Path) -> None:
    box = get_sandbox("bwrap", workspace=workspace, limits=Limits(disk_mb=32))
    try:
        listed = await box.exec("ls -A")
        size = await box.exec("df -k --output=size . | tail -1")
        filled = await box.exec("head -c 64M /dev/zero > fill")
        freed = await box.exec("rm fill && echo fits > after && cat after")
    finally:
        await box.close()
    assert listed.stdout == "" and int(size.stdout) <= 32 << 10  # no lost+found shown
    assert filled.exit_code != 0 and "No space left on device" in filled.stderr
    assert freed.stdout == "fits\n"
    image = disk_image(workspace)
    assert image.stat().st_mode & 0o777 == 0o600 and image.stat().st_uid == 0
    assert image.stat().st_blocks * 512 < 48 << 20  # sparse: the host holds what was written, not more


@ROOT
async def test_a_closed_runs_workspace_opens_to_read(workspace: Path) -> None:
    box = get_sandbox("bwrap", workspace=workspace)
    await box.exec("mkdir out && echo 42 > out/answer.txt")
    await box.close()
    assert not os.path.ismount(workspace) and not (workspace / "out").exists()
    with open_workspace(workspace) as folder:
        assert (folder / "out" / "answer.txt").read_text() == "42\n"
    assert not os.path.ismount(workspace)
    remove_workspace(workspace)
    assert not workspace.exists() and not disk_image(workspace).exists()


@ROOT
async def test_sandboxes_on_one_workspace_share_one_disk(workspace: Path) -> None:
    # A delegated run's sandbox shares its parent's workspace; either may close first, another may start later.
    parent = get_sandbox("bwrap", workspace=workspace)
    try:
        await parent.exec("echo a > a")
        child = get_sandbox("bwrap", workspace=workspace)
        seen = await child.exec("cat a && echo b > b")
        await child.close()
        after_child = await parent.exec("cat b && echo c > c")
        later = get_sandbox("bwrap", workspace=workspace)
        try:
            seen_later = await later.exec("cat c && echo d > d")
            last = await parent.exec("cat d")
        finally:
            await later.close()
    finally:
        await parent.close()
    assert (seen.stdout, after_child.stdout, seen_later.stdout, last.stdout) == ("a\n", "b\n", "c\n", "d\n")
    with open_workspace(workspace) as folder:
        assert sorted(p.name for p in folder.iterdir()) == ["a", "b", "c", "d"]
    loops = subprocess.run(["losetup", "-j", str(disk_image(workspace))], capture_output=True, text=True, check=True)
    assert loops.stdout == ""  # the loop device went with the last mount


async def test_time_limit_kills_the_whole_tree(box: BwrapSandbox) -> None:
    result = await box.exec("sleep 100.4321 & sleep 100.4321", limits=Limits(timeout=1))
    assert result.timed_out
    assert result.exit_code != 0
    assert 0.9 < result.duration < 2.5
    assert await gone("sleep 100.4321")


async def test_output_is_capped_quickly(box: BwrapSandbox) -> None:
    result = await box.exec("yes | head -c 100000000", limits=Limits(output_bytes=1_000_000))
    assert result.truncated
    assert len(result.stdout) == 1_000_000
    assert result.stdout.startswith("y\ny\n")
    assert result.duration < 5


async def test_writes_persist_in_the_workspace(box: BwrapSandbox) -> None:
    first = await box.exec("mkdir -p notes && echo kept > notes/a.txt && pwd")
    assert first.exit_code == 0 and first.stdout == "/home/agent\n"
    assert (box.workspace / "notes" / "a.txt").read_text() == "kept\n"
    second = await box.exec("cat notes/a.txt")
    assert second.stdout == "kept\n"


async def test_root_setup_then_agent_uses_the_files(box: BwrapSandbox, workspace: Path) -> None:
    task = workspace.parent / "task"
    task.mkdir()
    (task / "asset.txt").write_text("from the task\n")
    await copy_in(box, task, "/root/task", as_root=True)
    setup = await box.exec(
        "id -u && cp /root/task/asset.txt /home/agent/ && mkdir /home/agent/data "
        "&& chown -R agent:agent /home/agent/asset.txt /home/agent/data && chmod 600 /home/agent/asset.txt",
        as_root=True,
    )
    assert setup.exit_code == 0, setup.stderr
    assert setup.stdout == "0\n"
    # On the host, root-in-sandbox is an unprivileged user, never root; the agent is another one.
    assert box.host_uid != 0
    assert (box.workspace / "asset.txt").stat().st_uid == box.agent_host_uid
    agent = await box.exec("id -u && echo edited >> asset.txt && cat asset.txt && touch data/new && ls /root/task")
    assert agent.stdout == "1000\nfrom the task\nedited\n"
    assert agent.exit_code != 0  # /root is root's alone
    assert (box.workspace / "data" / "new").exists()


@ROOT
async def test_the_agent_is_its_own_user(box: BwrapSandbox) -> None:
    setup = await box.exec(
        "echo rules > /home/agent/rules.txt && chmod 644 /home/agent/rules.txt && mkdir -p /home/agent/locked "
        "&& echo hidden > /run/proctor/key && echo tests > /scorer/hidden.py && sleep 60 & echo started",
        as_root=True,
    )
    assert setup.exit_code == 0, setup.stderr
    assert box.agent_host_uid != box.host_uid
    attacks = {
        "echo forged > rules.txt": "Permission denied",
        "rm -f rules.txt && echo removed": "",  # the folder is the agent's: it may unlink, not rewrite in place
        "touch locked/x": "Permission denied",
        "cat /run/proctor/key": "Permission denied",
        "ls /scorer": "Permission denied",
        "kill -9 $(pgrep -u root sleep)": "Operation not permitted",
    }
    for command, error in attacks.items():
        result = await box.exec(command)
        assert error in result.stderr, (command, result)
    assert (await box.exec("cat /run/proctor/key", as_root=True)).stdout == "hidden\n"


@ROOT
async def test_root_files_stay_roots_in_a_new_sandbox_on_the_workspace(workspace: Path) -> None:
    # A resumed run gets a new sandbox on its workspace: what set-up made root's must not become the agent's.
    first = get_sandbox("bwrap", workspace=workspace)
    await first.exec("echo rules > rules.txt && chmod 644 rules.txt", as_root=True)
    await first.close()
    with open_workspace(workspace) as folder:
        (folder / "from-host.txt").write_text("put there by proctor")
    second = get_sandbox("bwrap", workspace=workspace)
    try:
        result = await second.exec("echo mine > rules.txt; echo mine >> from-host.txt && cat from-host.txt")
        assert "Permission denied" in result.stderr and result.stdout.endswith("mine\n")
    finally:
        await second.close()


@ROOT
async def test_root_inside_cannot_read_another_process_memory(box: BwrapSandbox) -> None:
    # Root in the sandbox has no CAP_SYS_PTRACE: an undumpable process (the METR driver makes itself one) keeps
    # its memory and descriptors to itself, even from another root process.
    hold = (
        "python3 -c 'import ctypes, time; ctypes.CDLL(None).prctl(4, 0, 0, 0, 0); time.sleep(30)' & "
        "sleep 0.5; cat /proc/$!/environ; echo forged > /proc/$!/fd/1; head -c 1 /proc/$!/mem; echo done"
    )
    result = await box.exec(hold, as_root=True, limits=Limits(timeout=10))
    assert result.stdout.strip() == "done"
    assert result.stderr.count("Permission denied") == 3, result.stderr


async def test_state_lives_between_commands_and_close_ends_it(box: BwrapSandbox) -> None:
    marker = f"99.{uuid.uuid4().int % 10**6}"
    started = await box.exec(f"nohup setsid sleep {marker} > /dev/null 2>&1 & echo $!")
    assert started.exit_code == 0
    seen = await box.exec(f"pgrep -f '^sleep {marker}'")
    assert seen.stdout.strip() == started.stdout.strip()
    assert running_with(f"sleep {marker}")
    await box.close()
    assert await gone(f"sleep {marker}")


async def test_commands_and_files_of_any_size(box: BwrapSandbox) -> None:
    long_command = "echo " + "y" * 300_000 + " | wc -c"
    assert (await box.exec(long_command)).stdout.strip() == "300001"
    written = await box.exec("cat > big.bin && wc -c < big.bin", stdin=b"x" * 3_000_000)
    assert written.stdout.strip() == "3000000"


async def test_environment_is_cleared(box: BwrapSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROCTOR_HOST_ONLY", "leaked")
    result = await box.exec("env", env={"TASK_VAR": "given"})
    assert "PROCTOR_HOST_ONLY" not in result.stdout
    assert "TASK_VAR=given" in result.stdout
    assert "HOME=/home/agent" in result.stdout
    assert "PATH=" in result.stdout


async def test_no_user_namespaces_inside(box: BwrapSandbox) -> None:
    for as_root in (False, True):
        result = await box.exec("unshare -U true", as_root=as_root)
        assert result.exit_code != 0 and "No space left on device" in result.stderr
    assert int(Path("/proc/sys/user/max_user_namespaces").read_text()) > 0  # the host's own limit is untouched


async def test_agent_is_not_root(box: BwrapSandbox) -> None:
    result = await box.exec("id -u; id -un; touch /etc/x 2>&1 || echo readonly")
    assert result.stdout.splitlines() == [
        "1000",
        "agent",
        "touch: cannot touch '/etc/x': Read-only file system",
        "readonly",
    ]


def test_missing_bubblewrap_says_how_to_install(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(workspace.parent))
    with pytest.raises(SandboxError, match="bubblewrap not found: apt-get install bubblewrap"):
        get_sandbox("bwrap", workspace=workspace)


async def test_unreachable_workspace(tmp_path: Path) -> None:
    # pytest's tmp_path sits in a 0700 folder: a dropped host uid cannot reach it.
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    if os.geteuid() == 0:
        with pytest.raises(SandboxError, match="chmod o\\+x"):
            get_sandbox("bwrap", workspace=private / "ws")
    else:  # as an ordinary user the sandbox runs as that user, who owns the folder
        box = get_sandbox("bwrap", workspace=private / "ws")
        assert (await box.exec("true")).exit_code == 0


async def test_closing_sandboxes_reaps_nothing_behind_the_child_watcher(
    workspace: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Closing must not reap an exited bubblewrap itself (asyncio's kill() polls first): the child watcher would
    # log "Unknown child process" on standard error, a stray line among a command's one-line errors.
    boxes = [get_sandbox("bwrap", workspace=workspace.parent / f"box{i}") for i in range(8)]
    await asyncio.gather(*(box.exec("true") for box in boxes))
    await asyncio.gather(*(box.close() for box in boxes))
    await asyncio.sleep(0.2)
    assert not [r for r in caplog.records if "Unknown child process" in r.getMessage()]


async def test_many_commands_leave_no_process_behind(workspace: Path) -> None:
    # Each command's processes must be gone once it returns: leftovers (say, zombies nobody reaps) would count
    # against the process limit until a long run could start no command at all.
    box = get_sandbox("bwrap", workspace=workspace, limits=Limits(processes=6))
    results = [await box.exec("true", limits=Limits(timeout=10)) for _ in range(40)]
    assert [r.exit_code for r in results] == [0] * 40
    assert isinstance(box, BwrapSandbox)
    if box.cgroup is not None:
        assert box.cgroup.usage().pids <= 3  # bubblewrap's two processes and the resident sleep
    await box.close()


def test_leftovers_of_earlier_sandboxes_are_cleaned(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(_bwrap, "LEGACY_STAGING", str(tmp_path))
    staged = tmp_path / "proctor-staged-abc" / "task"
    staged.mkdir(parents=True)
    (staged / "solution.txt").write_text("a private file, world-readable")
    cache = tmp_path / f"proctor-{os.getuid()}" / "metr"
    cache.mkdir(parents=True)
    keep = tmp_path / "proctor-staged-link"
    keep.symlink_to(staged)
    removed = clean_leftovers()
    assert staged.parent in removed and cache.parent in removed
    assert not staged.parent.exists() and not cache.parent.exists() and keep.is_symlink()
