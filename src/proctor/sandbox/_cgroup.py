"""One cgroup per sandbox, so limits hold for the sandbox as a whole: every process, and the tmpfs pages they touch.

Each sandbox gets a folder `proctor/<name>` under the cgroup proctor itself runs in (read from `/proc/self/cgroup`),
so the limits nest inside whatever limits proctor. With cgroup v1 that is two folders, one in the `memory` and one in
the `pids` hierarchy; with cgroup v2 one folder. v2 needs `memory` and `pids` passed down (`cgroup.subtree_control`),
which the kernel allows only in the root cgroup or one without processes: so unless proctor runs in the root cgroup,
its folder goes under the parent of proctor's cgroup, meant for proctor running in a leaf of a delegated cgroup
(systemd's `DelegateSubgroup=`). Where nothing works (not root, read-only cgroupfs, controllers not delegated)
`SandboxCgroup.create` returns None and the caller falls back to per-process limits (`prlimit`) and size-capped tmpfs.

Example:
    cgroup = SandboxCgroup.create("run-42")
    if cgroup is not None:
        cgroup.set_limits(memory_bytes=1 << 30, pids=128)
        subprocess.Popen(["/bin/sh", "-c", cgroup.shell_prefix() + "exec bwrap ..."])
        ...
        cgroup.remove()  # kills whatever is left
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shlex
import signal
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from proctor.sandbox._base import SandboxError

Version = Literal["v1", "v2"]
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,200}")
_UNAVAILABLE = {errno.EACCES, errno.EPERM, errno.EROFS}
_UNLIMITED = 1 << 62  # v1 reports "no limit" as a page-rounded LONG_MAX


class CgroupUsage(BaseModel):
    """What a sandbox's processes use now, and the limits in force."""

    memory_bytes: int
    """Memory charged now: process memory, page cache, tmpfs/shared-memory pages, kernel memory."""
    memory_peak_bytes: int | None
    """The most memory charged at once since creation; None where the kernel does not report it (v2 before 5.19)."""
    memory_limit_bytes: int | None
    """The memory limit; None for none."""
    memory_limit_hits: int
    """How often a charge hit the limit (v1 `memory.failcnt`, v2 `max` in `memory.events`); reclaim may have met it."""
    oom_kills: int
    """Processes the OOM killer killed in this cgroup; above 0 means the sandbox ran out of memory."""
    pids: int
    """Processes and threads now, counting exited ones until their parent reaps them."""
    pids_limit: int | None
    """The most processes and threads at once; None for none."""


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _own_cgroups(proc: Path) -> list[tuple[Version, list[Path]]]:
    """Cgroup folders to put sandbox cgroups under, best first: proctor's own (v2: or its parent), v2 before v1."""
    paths: dict[str, str] = {}  # controller ("" for v2) -> cgroup path
    for line in (proc / "cgroup").read_text().splitlines():
        hierarchy, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if hierarchy != "0" else [""]:
            paths[controller] = path
    dirs: dict[str, Path] = {}
    mounts: dict[str, Path] = {}
    for line in (proc / "mountinfo").read_text().splitlines():
        fields, _, fs = line.partition(" - ")
        root, mountpoint = (_unescape(f) for f in fields.split()[3:5])
        fstype, _, options = fs.split()[:3]
        keys = [""] if fstype == "cgroup2" else options.split(",") if fstype == "cgroup" else []
        for key in keys:
            own = paths.get(key)
            if key not in dirs and own is not None and (own + "/").startswith(root.rstrip("/") + "/"):
                dirs[key] = Path(mountpoint, own[len(root) :].lstrip("/"))
                mounts[key] = Path(mountpoint)
    found: list[tuple[Version, list[Path]]] = []
    with contextlib.suppress(FileNotFoundError):
        if "" in dirs and {"memory", "pids"} <= set((dirs[""] / "cgroup.controllers").read_text().split()):
            # Only the root cgroup, or one without processes, may pass controllers down; proctor's own has proctor.
            # The parent works when proctor runs in a leaf of its delegated cgroup (systemd's DelegateSubgroup=).
            found += [("v2", [d]) for d in (dirs[""], dirs[""].parent) if d.is_relative_to(mounts[""])]
    if "memory" in dirs and "pids" in dirs:
        found.append(("v1", [dirs["memory"], dirs["pids"]]))
    return found


def _write(path: Path, text: str) -> None:
    with path.open("w") as f:  # one write() per value: cgroupfs files take one value per write
        f.write(text)


def _read_int(path: Path) -> int | None:
    text = path.read_text().strip()
    return None if text == "max" or int(text) >= _UNLIMITED else int(text)


def _counter(path: Path, key: str) -> int:
    """A `key value` line of a flat-keyed file such as `memory.events`; 0 when absent."""
    with contextlib.suppress(FileNotFoundError):
        for line in path.read_text().splitlines():
            if line.split()[0] == key:
                return int(line.split()[1])
    return 0


def _proctor_parents(proc: Path = Path("/proc/self")) -> tuple[Version, list[Path]] | None:
    """Where sandbox cgroups go (the `proctor` folders), creating them; None if cgroups are unusable here."""
    for version, own in _own_cgroups(proc):
        parents = [d / "proctor" for d in own]
        try:
            for d in own + parents:
                d.mkdir(exist_ok=True)
                # v2: each level must pass the controllers down; EBUSY if the cgroup has processes (and is not root)
                control = d / "cgroup.subtree_control"
                if version == "v2" and not {"memory", "pids"} <= set(control.read_text().split()):
                    _write(control, "+memory +pids")
        except OSError as e:
            if e.errno in _UNAVAILABLE or e.errno == errno.EBUSY:
                continue
            raise SandboxError(f"cannot prepare cgroup folders {parents}: {e}") from e
        return version, parents
    return None


def cgroup_support() -> Version | None:
    """Which cgroup version can limit a sandbox as a whole here, found by creating and removing a probe cgroup.

    Returns:
        "v2" or "v1"; None when neither works (not root, no writable memory and pids controllers).
    """
    probe = SandboxCgroup.create(f"probe-{os.getpid()}-{time.monotonic_ns()}")
    if probe is None:
        return None
    probe.remove()
    return probe.version


def remove_stale_cgroups(min_age: float = 10.0) -> list[Path]:
    """Removes empty sandbox cgroups left by sandboxes that are gone; run it when proctor starts.

    Args:
        min_age: Seconds a cgroup must have existed; younger empty ones may belong to a sandbox being started.

    Returns:
        The folders removed.
    """
    found = _proctor_parents()
    removed: list[Path] = []
    for parent in found[1] if found else []:
        for d in parent.iterdir():
            if not d.is_dir() or time.time() - d.stat().st_mtime < min_age:  # kernfs mtime: creation time
                continue
            with contextlib.suppress(FileNotFoundError):
                if (d / "cgroup.procs").read_text().strip():
                    continue
            try:
                d.rmdir()
                removed.append(d)
            except OSError as e:  # another proctor removed it, or a process joined it meanwhile
                if e.errno not in (errno.ENOENT, errno.EBUSY):
                    raise SandboxError(f"cannot remove stale cgroup {d}: {e}") from e
    return removed


def protect_from_oom_killer(pid: int) -> None:
    """Makes the OOM killer spare process `pid` (`oom_score_adj` = -1000), e.g. the sandbox's init.

    Needs CAP_SYS_RESOURCE, which containers often drop; without it, make the commands the preferred victims instead
    with `shell_prefix(oom_score_adj=1000)`. Children forked afterwards inherit the setting, so protect only a process
    that does not fork the sandbox's workload (commands that join with `nsenter` are children of proctor, not of it).
    """
    try:
        _write(Path(f"/proc/{pid}/oom_score_adj"), "-1000")
    except (FileNotFoundError, ProcessLookupError) as e:
        raise SandboxError(f"cannot protect process {pid} from the OOM killer: it has exited") from e
    except PermissionError as e:
        raise SandboxError(
            f"cannot protect process {pid} from the OOM killer: needs CAP_SYS_RESOURCE; "
            "use shell_prefix(oom_score_adj=1000) for the commands instead"
        ) from e


class SandboxCgroup:
    """The cgroup of one sandbox: its limits count the memory and processes of all the sandbox's processes together.

    Attributes:
        version: "v1" or "v2".
        paths: The cgroup folders: v1 the `memory` then the `pids` one; v2 a single folder.
    """

    def __init__(self, version: Version, paths: list[Path]) -> None:
        self.version: Version = version
        self.paths = paths

    @classmethod
    def create(cls, name: str) -> SandboxCgroup | None:
        """Creates the cgroup `proctor/<name>` under proctor's own cgroup.

        Returns:
            The cgroup, with no limits yet; None when cgroups cannot be used here (fall back to per-process limits).

        Raises:
            ValueError: `name` is not a plain folder name.
            SandboxError: The cgroup exists already (remove it, or use `remove_stale_cgroups`) or cannot be made.
        """
        if not _NAME.fullmatch(name):
            raise ValueError(f"cgroup name {name!r} must be letters, digits, '_', '.', '-' (at most 201)")
        found = _proctor_parents()
        if found is None:
            return None
        cgroup = cls(found[0], [])
        try:
            for parent in found[1]:
                (parent / name).mkdir()
                cgroup.paths.append(parent / name)
        except OSError as e:
            if cgroup.paths:  # a v1 hierarchy failed after the first one worked
                cgroup.remove()
            if e.errno in _UNAVAILABLE:
                return None
            hint = ": a sandbox with this name runs, or a dead one left it" if e.errno == errno.EEXIST else ""
            raise SandboxError(f"cannot create cgroup {parent / name}{hint}: {e}") from e
        return cgroup

    @property
    def procs_files(self) -> list[Path]:
        """The `cgroup.procs` files a process must be written to (as its pid) to join the sandbox's cgroup."""
        return [d / "cgroup.procs" for d in self.paths]

    def shell_prefix(self, oom_score_adj: int | None = None) -> str:
        """Shell code that moves the shell into this cgroup, or exits with status 125 if it cannot.

        Args:
            oom_score_adj: Also set the shell's OOM score adjustment (inherited by what it runs); 1000 makes the
                OOM killer take these processes before any other, such as the sandbox's init. Raising needs no
                privilege, and an unprivileged process cannot lower it again.

        Example: `["/bin/sh", "-c", cgroup.shell_prefix(oom_score_adj=1000) + "exec prlimit ... nsenter ..."]`.
        """
        steps = [f"echo $$ > {shlex.quote(str(f))}" for f in self.procs_files]
        if oom_score_adj is not None:
            steps.append(f"echo {int(oom_score_adj)} > /proc/self/oom_score_adj")
        return " && ".join(steps) + " || exit 125; "

    def add(self, pid: int) -> None:
        """Moves process `pid` (all its threads) into this cgroup; its children then start in it too."""
        try:
            for f in self.procs_files:
                _write(f, str(pid))
        except OSError as e:
            raise SandboxError(f"cannot move process {pid} into cgroup {f.parent}: {e}") from e

    def set_limits(self, memory_bytes: int | None, pids: int | None) -> None:
        """Sets the limits for all the sandbox's processes together; None removes a limit. May be called any time.

        Raises:
            SandboxError: With cgroup v1, the memory limit is lower than what the processes use and the kernel
                cannot reclaim enough (v2 OOM-kills instead); the limits are then unchanged.
        """
        if (memory_bytes is not None and memory_bytes < 1 << 20) or (pids is not None and pids < 1):
            raise ValueError(f"limits must be at least 1 MiB and 1 process, not {memory_bytes} bytes and {pids}")
        memory, procs = self.paths[0], self.paths[-1]
        value = "-1" if memory_bytes is None else str(memory_bytes)
        try:
            if self.version == "v2":
                _write(memory / "memory.max", "max" if memory_bytes is None else value)
                if (memory / "memory.swap.max").exists():
                    _write(memory / "memory.swap.max", "0")
            else:  # memory+swap must stay >= memory: raise it first, lower it last
                files = [memory / "memory.limit_in_bytes", memory / "memory.memsw.limit_in_bytes"]
                current = _read_int(files[0])
                if memory_bytes is None or (current is not None and memory_bytes >= current):
                    files.reverse()
                for f in files:
                    if f.exists():
                        _write(f, value)
            _write(procs / "pids.max", "max" if pids is None else str(pids))
        except OSError as e:
            hint = " (its processes use more and it cannot be reclaimed)" if e.errno == errno.EBUSY else ""
            raise SandboxError(f"cannot set cgroup {memory} to {memory_bytes} bytes, {pids} pids{hint}: {e}") from e

    def usage(self) -> CgroupUsage:
        """Reads current usage, peaks, limits and OOM kills."""
        memory, procs = self.paths[0], self.paths[-1]
        pids = int((procs / "pids.current").read_text())
        pids_limit = _read_int(procs / "pids.max")
        if self.version == "v1":
            return CgroupUsage(
                memory_bytes=int((memory / "memory.usage_in_bytes").read_text()),
                memory_peak_bytes=int((memory / "memory.max_usage_in_bytes").read_text()),
                memory_limit_bytes=_read_int(memory / "memory.limit_in_bytes"),
                memory_limit_hits=int((memory / "memory.failcnt").read_text()),
                oom_kills=_counter(memory / "memory.oom_control", "oom_kill"),
                pids=pids,
                pids_limit=pids_limit,
            )
        peak = memory / "memory.peak"
        return CgroupUsage(
            memory_bytes=int((memory / "memory.current").read_text()),
            memory_peak_bytes=int(peak.read_text()) if peak.exists() else None,
            memory_limit_bytes=_read_int(memory / "memory.max"),
            memory_limit_hits=_counter(memory / "memory.events", "max"),
            oom_kills=_counter(memory / "memory.events", "oom_kill"),
            pids=pids,
            pids_limit=pids_limit,
        )

    def _members(self) -> set[int]:
        members: set[int] = set()
        for f in self.procs_files:
            with contextlib.suppress(FileNotFoundError):
                members.update(int(pid) for pid in f.read_text().split())
        return members

    def kill_all(self, timeout: float = 5.0) -> None:
        """Sends SIGKILL to every process in the cgroup until none is left.

        Raises:
            SandboxError: Processes survived `timeout` seconds (stuck in the kernel, state D).
        """
        deadline = time.monotonic() + timeout
        kill_file = self.paths[0] / "cgroup.kill"  # v2, Linux 5.14+: kills all at once, forks included
        if self.version == "v2" and kill_file.exists():
            _write(kill_file, "1")
        while members := self._members():
            if time.monotonic() > deadline:
                raise SandboxError(f"processes {sorted(members)} of cgroup {self.paths[0]} survive SIGKILL; see ps")
            # Hold a pidfd, then re-read the list: a pid still listed is then that very process, never a reused pid.
            fds: dict[int, int] = {}
            for pid in members:
                with contextlib.suppress(ProcessLookupError):
                    fds[pid] = os.pidfd_open(pid)
            still = self._members()
            for pid, fd in fds.items():
                with contextlib.suppress(ProcessLookupError):
                    if pid in still:
                        signal.pidfd_send_signal(fd, signal.SIGKILL)
                os.close(fd)
            time.sleep(0.001)

    def remove(self, timeout: float = 5.0) -> None:
        """Kills what is left in the cgroup and deletes its folders; doing it twice is harmless.

        Raises:
            SandboxError: The folders could not be deleted within `timeout` seconds.
        """
        deadline = time.monotonic() + timeout
        self.kill_all(timeout)
        for d in self.paths:
            while True:
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    if e.errno != errno.EBUSY or time.monotonic() > deadline:
                        raise SandboxError(f"cannot remove cgroup {d}: {e}; remove it by hand with rmdir") from e
                    self.kill_all(max(deadline - time.monotonic(), 0.0))
                    time.sleep(0.005)
