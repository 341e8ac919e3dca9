"""Layered sandboxes against the real kernel, bubblewrap, apt and pip: an install sandbox apt-gets a Debian package
and pip-installs a package into a family's layer; run sandboxes start from it, each with writes of its own; the
host's system folders stay untouched and root inside stays an unprivileged host uid."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from proctor.sandbox import BwrapSandbox, Limits, SandboxError, _bwrap
from proctor.sandbox._layers import MOUNTS, VAR_SHOWN, Layer, LayeredRoot, remove_stale

pytestmark = pytest.mark.usefixtures("as_root")

INSTALL = (
    "apt-get update -q && apt-get install -y --no-install-recommends hello"
    " && python3 -m pip install --break-system-packages --no-cache-dir tabulate"
)
"""What the test family's install() runs, as METR's Dockerfile would: a small Debian package and a PyPI one."""
UID_BASE = _bwrap.HOST_UID_BASE


@dataclass
class Built:
    """The layer the module's tests share, and what building it showed."""

    layer: Layer
    seconds: float
    output: str
    host_before: dict[str, str]
    host_after: dict[str, str]
    install_upper_owners: set[int]


def host_state() -> dict[str, str]:
    """What must not change on the host: listings of system folders and the package database's content."""
    state = {}
    for folder in ("/usr/bin", "/usr/local/bin", "/usr/local/lib/python3.11/dist-packages", "/var/lib/dpkg/info"):
        path = Path(folder)
        state[folder] = "\n".join(sorted(os.listdir(path))) if path.is_dir() else "missing"
    for file in ("/var/lib/dpkg/status", "/etc/passwd", "/etc/group"):
        data = Path(file).read_bytes()
        state[file] = f"{hashlib.sha256(data).hexdigest()} {os.stat(file).st_mtime_ns}"
    return state


def stats(top: Path) -> list[os.stat_result]:
    """lstat of everything under `top` but overlayfs's whiteouts (made as the mounter, host root: empty devices)."""
    found = [os.lstat(p) for p in top.rglob("*")]
    return [st for st in found if not (stat.S_ISCHR(st.st_mode) and st.st_rdev == 0)]


def folder(prefix: str, mode: int) -> Path:
    made = Path(tempfile.mkdtemp(prefix=prefix))
    made.chmod(mode)
    return made


async def build(layer: Layer, workspaces: Path) -> Built:
    before = host_state()
    started = time.perf_counter()
    box = BwrapSandbox(workspace=workspaces / "install", network=True, layer=layer, install=True)
    assert box.layered is not None
    try:
        result = await box.exec(INSTALL, as_root=True, limits=Limits(timeout=120))
        owners = {st.st_uid for st in stats(box.layered.scratch / "upper")}
        await box.commit()
    finally:
        await box.close()
    seconds = time.perf_counter() - started
    assert result.exit_code == 0, result.stdout + result.stderr
    return Built(layer, seconds, result.stdout, before, host_state(), owners)


@pytest.fixture(scope="module")
def built() -> Iterator[Built]:
    cache, workspaces = folder("proctor-layers-test-", 0o700), folder("proctor-layers-ws-", 0o755)
    try:
        yield asyncio.run(build(Layer("family-test", cache=cache), workspaces))
    finally:
        shutil.rmtree(cache)
        shutil.rmtree(workspaces)


@pytest.fixture
def workspace() -> Iterator[Path]:
    made = folder("proctor-layers-ws-", 0o755)
    yield made / "workspace"
    shutil.rmtree(made)


def run_box(built: Built, workspace: Path) -> BwrapSandbox:
    """A run's sandbox on the built layer."""
    return BwrapSandbox(workspace=workspace, layer=built.layer)


def test_install_builds_a_layer_with_apt_and_pip(built: Built, capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        print(f"\nlayer build (prepare, apt-get install hello, pip install tabulate, commit): {built.seconds:.2f} s")
    assert built.layer.ready
    assert (built.layer.path / "usr/bin/hello").is_file()
    assert (built.layer.path / "usr/local/lib/python3.11/dist-packages/tabulate").is_dir()
    assert "Setting up hello" in built.output
    assert built.seconds < 60
    assert not list((built.layer.cache / ".scratch").iterdir())  # the install's scratch folders are gone


async def test_the_agent_uses_what_install_installed(built: Built, workspace: Path) -> None:
    box = run_box(built, workspace)
    root = box.layered
    assert root is not None
    try:
        result = await box.exec("id -un; hello; python3 -c 'import tabulate; print(tabulate.tabulate([[1, 2]]))'")
        status = await box.exec("dpkg-query -W -f '${Status}\\n' hello; getent passwd agent _apt; ls -ld /root")
    finally:
        await box.close()
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[:2] == ["agent", "Hello, world!"]
    assert "1  2" in result.stdout
    lines = status.stdout.splitlines()
    assert lines[0] == "install ok installed"
    assert lines[1] == "agent:x:1000:1000:agent:/home/agent:/bin/sh"
    assert lines[2].startswith("_apt:x:42:")  # apt's own user, from the host's accounts
    assert lines[-1].startswith("drwx------") and " root root " in lines[-1]
    assert not root.scratch.exists() and not root.mounts.exists()


async def test_runs_do_not_see_each_others_writes(built: Built, workspace: Path) -> None:
    layer_files = sorted(str(p) for p in built.layer.path.rglob("*"))
    box = run_box(built, workspace)
    first = box.layered
    assert first is not None
    try:
        wrote = await box.exec(
            "echo run1 > /usr/bin/proctor-marker && echo run1 > /etc/proctor-marker && rm /usr/bin/hello"
            " && dpkg -r hello >/dev/null && python3 -m pip uninstall -y --break-system-packages tabulate >/dev/null",
            as_root=True,
        )
        agent = await box.exec("echo run1 > /var/tmp/proctor-marker && echo run1 > /tmp/proctor-marker")
        assert box._init is not None  # bubblewrap's first process stays in the launcher's namespace, on the disk
        upper = Path(f"/proc/{box._init.pid}/root") / str(first.rw).lstrip("/") / "upper"
        upper_owner = os.stat(upper / "usr/bin/proctor-marker").st_uid
    finally:
        await box.close()
    assert wrote.exit_code == 0 and agent.exit_code == 0, wrote.stderr + agent.stderr
    assert upper_owner == UID_BASE  # root inside wrote it: host uid UID_BASE, not host root
    box = run_box(built, workspace.parent / "second")
    try:
        seen = await box.exec(
            "ls /usr/bin/proctor-marker /etc/proctor-marker /var/tmp/proctor-marker /tmp/proctor-marker; hello;"
            " dpkg-query -W -f '${Status}' hello; python3 -c 'import tabulate'"
        )
    finally:
        await box.close()
    assert seen.stderr.count("No such file or directory") == 4
    assert "Hello, world!" in seen.stdout and "install ok installed" in seen.stdout
    assert seen.exit_code == 0  # tabulate is there again
    assert sorted(str(p) for p in built.layer.path.rglob("*")) == layer_files
    assert not Path("/usr/bin/proctor-marker").exists() and not Path("/etc/proctor-marker").exists()


async def test_a_runs_writable_layer_has_a_disk_limit(built: Built, workspace: Path) -> None:
    box = BwrapSandbox(workspace=workspace, layer=built.layer, limits=Limits(disk_mb=48))
    root = box.layered
    assert root is not None
    try:
        filled = await box.exec("head -c 64M /dev/zero > /usr/share/filler", as_root=True)
        freed = await box.exec("rm /usr/share/filler && echo fits > /etc/after", as_root=True)
    finally:
        await box.close()
    assert filled.exit_code != 0 and "No space left on device" in filled.stderr
    assert freed.exit_code == 0, freed.stderr
    assert not root.scratch.exists()  # the image went with the sandbox


def test_the_hosts_system_folders_are_untouched(built: Built) -> None:
    assert built.host_after == built.host_before
    assert shutil.which("hello") is None
    assert not Path("/usr/local/lib/python3.11/dist-packages/tabulate").exists()


async def test_root_inside_is_an_unprivileged_host_uid(built: Built, workspace: Path) -> None:
    assert built.install_upper_owners  # every file install wrote belongs to a sandbox uid, none to host root
    assert all(UID_BASE <= uid < UID_BASE + 65536 for uid in built.install_upper_owners), built.install_upper_owners
    assert all(UID_BASE <= st.st_uid < UID_BASE + 65536 for st in stats(built.layer.path))
    box = run_box(built, workspace)
    root = box.layered
    assert root is not None
    try:
        inside = await box.exec("cat /proc/self/uid_map; id -u; mount -o remount,rw /usr", as_root=True)
        status = Path(f"/proc/{box._pid}/status").read_text().splitlines()
        host_uids = {uid for line in status if line.startswith("Uid:") for uid in line.split()[1:]}
    finally:
        await box.close()
    assert inside.stdout.split()[:4] == ["0", str(UID_BASE), "65536", "0"]
    assert inside.exit_code != 0  # no CAP_SYS_ADMIN: the layered folders cannot be remounted
    assert host_uids == {str(UID_BASE)}


async def test_host_secrets_and_other_data_stay_hidden(built: Built, workspace: Path) -> None:
    # The idmapped clone shows host root's files as root inside's own: what others may not read is emptied.
    private = [
        str(p)
        for p in Path("/etc").rglob("*")
        if p.is_file()
        and not p.is_symlink()
        and not p.stat().st_mode & 0o004
        and p.stat().st_size > 0
        and p.name not in ("shadow", "gshadow")
    ]
    assert private, "the host has no private file in /etc to check (Debian has /etc/shadow-)"
    box = run_box(built, workspace)
    root = box.layered
    assert root is not None
    try:
        sizes = await box.exec("stat -c %s " + " ".join(private), as_root=True)
        shadow = await box.exec("cat /etc/shadow /etc/gshadow", as_root=True)
        var = await box.exec("for d in /var /var/lib /var/cache /var/log; do echo $(ls -A $d); done", as_root=True)
    finally:
        await box.close()
    assert sizes.stdout.split() == ["0"] * len(private), sizes.stderr
    assert shadow.stdout and all(line.split(":")[1] == "*" for line in shadow.stdout.splitlines())
    # Of /var, the package managers' folders; /var/log and /var/tmp start empty: the rest comes from the layer.
    top, lib, cache, log = (set(line.split()) for line in var.stdout.splitlines())
    layer_var = built.layer.path / "var"
    assert top <= {entry.split("/")[0] for entry in VAR_SHOWN} | {"log", "tmp", "run", "lock"} | set(
        os.listdir(layer_var)
    )
    assert lib <= {e[4:] for e in VAR_SHOWN if e.startswith("lib/")} | set(os.listdir(layer_var / "lib"))
    assert cache <= {e[6:] for e in VAR_SHOWN if e.startswith("cache/")} | set(os.listdir(layer_var / "cache"))
    assert log == set(os.listdir(layer_var / "log"))  # what install's apt logged, none of the host's logs


async def test_run_sandbox_start_overhead(built: Built, capsys: pytest.CaptureFixture[str]) -> None:
    workspaces = folder("proctor-layers-ws-", 0o755)
    timings: dict[str, list[float]] = {"plain": [], "layered": []}
    try:
        for i in range(3):
            for kind, times in timings.items():
                started = time.perf_counter()
                layer = built.layer if kind == "layered" else None
                box = BwrapSandbox(workspace=workspaces / f"{kind}{i}", layer=layer)
                try:
                    assert (await box.exec("true")).exit_code == 0
                    times.append(time.perf_counter() - started)
                finally:
                    await box.close()
    finally:
        shutil.rmtree(workspaces)
    plain, layered = min(timings["plain"]), min(timings["layered"])
    with capsys.disabled():
        print(f"\nstart to first command: plain {plain * 1000:.0f} ms, layered {layered * 1000:.0f} ms")
    assert layered < plain + 1.0


def test_misuse_says_how_to_fix(built: Built, tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="letters, digits"):
        Layer("../escape", cache=tmp_path)
    with pytest.raises(SandboxError, match="not built: run the family's install"):
        LayeredRoot(Layer("absent", cache=tmp_path), install=False, uid_base=UID_BASE)
    with pytest.raises(SandboxError, match="already built"):
        LayeredRoot(built.layer, install=True, uid_base=UID_BASE)
    with pytest.raises(SandboxError, match="keep=False for a run"):
        LayeredRoot(built.layer, install=False, uid_base=UID_BASE).close(keep=True)
    open_cache = tmp_path / "open"
    open_cache.mkdir(mode=0o777)
    open_cache.chmod(0o777)
    (open_cache / "built").mkdir()
    with pytest.raises(SandboxError, match="mode 700 at most"):
        LayeredRoot(Layer("built", cache=open_cache), install=False, uid_base=UID_BASE).prepare()


def test_stale_folders_of_gone_processes_are_removed(tmp_path: Path) -> None:
    cache = tmp_path / "layers"
    gone = cache / ".scratch" / "999999999-abc"
    mine = cache / ".scratch" / f"{os.getpid()}-abc"
    mounts = MOUNTS / "999999999-abc"
    MOUNTS.mkdir(mode=0o711, exist_ok=True)  # as prepare() makes it: it refuses a folder open to others
    for made in (gone, mine, mounts):
        made.mkdir(parents=True)
    try:
        assert sorted(remove_stale(cache)) == sorted([gone, mounts])
        assert mine.exists() and not gone.exists() and not mounts.exists()
    finally:
        shutil.rmtree(mounts, ignore_errors=True)
