"""The bubblewrap sandbox: one set of namespaces per run, which each command joins; no daemon.

The sandbox starts with its first command. bubblewrap makes user, pid, mount, ipc, uts and network namespaces
with the host's system folders read-only, size-capped tmpfs folders for `/tmp` and `/root`, the root-only folders
`/run/proctor` and `/scorer`, and the workspace at `workdir`; a resident `sleep` keeps them alive. Each command
joins them with nsenter, as the agent (uid 1000) or, for set-up and scoring, as root inside the sandbox, which
holds no CAP_SYS_PTRACE, CAP_SYS_ADMIN, CAP_NET_RAW or CAP_NET_ADMIN; no process inside may make a user namespace.
State lives on between commands as on a machine: files, and processes a command leaves running. A sandbox may
start from a layer over the host's system folders (`_layers`), and may have outbound network of its own (`_net`).

Run by root, proctor maps 65536 uids into the sandbox (uid N inside is host uid `HOST_UID_BASE + N`), so the agent
is a host user of its own, apart from set-up and scoring: what set-up makes root-owned stays unwritable by the
agent. The sandbox then has a cgroup: memory (tmpfs pages included) and processes are limited for all its
processes together; the workspace, and a layered sandbox's writable layer, are file systems of a fixed size
(`_disk`). Run by another user, one uid is mapped, that user's: every command runs as uid 1000 and
limits hold per process (see docs/sandbox.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import json
import os
import shutil
import signal
import stat
import uuid
from pathlib import Path
from typing import Any

from proctor.sandbox._base import ExecResult, Limits, SandboxError, sandbox_backend
from proctor.sandbox._cgroup import SandboxCgroup, remove_stale_cgroups
from proctor.sandbox._disk import mount_workspace, unmount_stale, unmount_workspace
from proctor.sandbox._layers import Layer, LayeredRoot, remove_stale
from proctor.sandbox._net import Internet, attach_internet
from proctor.sandbox._process import run_capped, send_signal

AGENT_UID = 1000
"""The agent's uid (and gid) inside the sandbox."""
HOST_UID_BASE = int(os.environ.get("PROCTOR_UID_BASE", "200000"))
"""When proctor runs as root, uid N inside a sandbox is host uid HOST_UID_BASE + N (N < 65536)."""
UID_COUNT = 65536
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ROOT_ONLY = ("/run/proctor", "/scorer")
"""Folders only root inside the sandbox can enter: what set-up and scoring keep from the agent."""
ARG_ROOM = 64 * 1024
"""Commands longer than this reach the shell through a file descriptor, not the argument list."""
NS_GET_USERNS = 0xB701
"""ioctl on a namespace: the user namespace owning it, as a new descriptor."""
DROPPED_CAPS = "-sys_ptrace,-sys_admin,-net_raw,-net_admin"
"""What root inside the sandbox cannot do: read other processes' memory and descriptors, mount, and (what would
reach the host's loopback through pasta) forge packets or re-address the sandbox's interface."""

_PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "agent:x:1000:1000:agent:/home/agent:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
)
_GROUP = "root:x:0:\nagent:x:1000:\nnogroup:x:65534:\n"


@functools.cache
def _system_binds(layered: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Read-only /usr and /etc, and /bin, /lib... as the host has them (symlinks or folders), but for the folders
    a layered sandbox binds itself; looked up once."""
    args = [arg for top in ("usr", "etc") if top not in layered for arg in ("--ro-bind", f"/{top}", f"/{top}")]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top) and top[1:] not in layered:
            args += ["--ro-bind", top, top]
    resolv = Path("/etc/resolv.conf")
    if resolv.is_symlink():  # e.g. into /run/systemd/resolve, which is not bound otherwise
        real = str(resolv.resolve())
        args += ["--ro-bind-try", real, real]
    return tuple(args)


@functools.cache
def _which(name: str, path: str | None) -> str | None:
    return shutil.which(name, path=path)


def _tool(name: str) -> str:
    """The executable `name` on PATH (looked up once per PATH: a search costs a stat per folder, per sandbox)."""
    found = _which(name, os.environ.get("PATH"))
    if found is None:
        package = {"bwrap": "bubblewrap"}.get(name, "util-linux")
        raise SandboxError(f"{package if name == 'bwrap' else name} not found: apt-get install {package}")
    return found


@functools.lru_cache(maxsize=64)
def _resolved(folder: Path) -> Path:
    """A workspaces folder, resolved (links followed) once: every run's workspace is in one."""
    return folder.resolve()


_REACHABLE: set[tuple[Path, int]] = set()
"""Folders found to let a host uid through: the runs' workspaces share one, looked up once."""


def _unreachable(path: Path, uid: int) -> Path | None:
    """The first folder on the way to `path` that host user `uid` cannot search, if any (folders still to be made
    are made searchable)."""
    for folder in reversed(path.parents):
        try:
            st = folder.stat()
        except FileNotFoundError:
            return None
        if not st.st_mode & stat.S_IXOTH and st.st_uid != uid:
            return folder
    return None


def _tasks_of(uid: int) -> int:
    """How many processes and threads host user `uid` has (what RLIMIT_NPROC counts)."""
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry.name}/task"))
            except OSError:  # the process ended while we looked
                continue
    return count


def _memfd(name: str, data: bytes) -> int:
    """An in-memory file holding `data`, positioned at its start, to hand to a child process."""
    fd = os.memfd_create(name, 0)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _read_json(fd: int) -> dict[str, Any]:
    """The JSON object bubblewrap writes to its info descriptor (empty when it failed first)."""
    data = b""
    while chunk := os.read(fd, 4096):
        data += chunk
        with contextlib.suppress(ValueError):
            found: dict[str, Any] = json.loads(data)
            return found
    return {}


LEGACY_STAGING = "/var/tmp"
"""Where earlier versions staged world-readable copies of task folders (`proctor-staged-*`, `proctor-<uid>`)."""


def clean_leftovers() -> list[Path]:
    """Remove what sandboxes that are gone left behind: their empty cgroups, the workspace disks still mounted by
    runners killed with SIGKILL, and staged copies of task folders earlier versions made (readable by others) that
    belong to this user. Run when a runner starts (`proctor run`, `resume`, `worker`).

    Returns:
        What was removed.
    """
    removed = [*remove_stale_cgroups(), *(remove_stale() + unmount_stale() if os.geteuid() == 0 else [])]
    legacy = [*Path(LEGACY_STAGING).glob("proctor-staged-*"), Path(LEGACY_STAGING) / f"proctor-{os.getuid()}"]
    for folder in legacy:
        with contextlib.suppress(FileNotFoundError):
            if folder.is_dir() and not folder.is_symlink() and folder.lstat().st_uid == os.geteuid():
                shutil.rmtree(folder)
                removed.append(folder)
    return removed


@sandbox_backend("bwrap")
class BwrapSandbox:
    """A sandbox whose namespaces bubblewrap makes once, and whose every command joins them.

    Example:
        box = get_sandbox("bwrap", workspace=Path("/srv/runs/1/workspace"))
        result = await box.exec("echo hi > note && cat note")  # result.stdout == "hi\\n"
        await box.close()
    """

    def __init__(
        self,
        *,
        workspace: Path,
        network: bool = False,
        limits: Limits | None = None,
        layer: Layer | None = None,
        install: bool = False,
        workdir: str = "/home/agent",
    ) -> None:
        """Check the tools and where the workspace is; nothing starts before the first command.

        Args:
            workspace: The host folder the agent works in; created if missing.
            network: Give the sandbox outbound network of its own (never the host's loopback).
            limits: Memory and processes of the sandbox as a whole (its cgroup; default `Limits()`).
            layer: Start from this layer over the host's system folders (a METR family's install), with a
                writable layer of the sandbox's own on top, thrown away by `close()`.
            install: Build `layer` instead: what root inside writes to the system folders becomes the layer
                when `commit()` ends the sandbox.
            workdir: Where the workspace appears inside the sandbox.

        Raises:
            SandboxError: bubblewrap or a util-linux tool is missing, the workspace is unreachable, or a layer is
                asked for when proctor does not run as root.
        """
        self.bwrap, self.nsenter, self.prlimit, self.setpriv = (
            _tool(name) for name in ("bwrap", "nsenter", "prlimit", "setpriv")
        )
        self.workspace = _resolved(workspace.parent) / workspace.name
        self.workdir = workdir
        self.network = network
        self.limits = limits or Limits()
        self.as_host_root = os.geteuid() == 0
        """Run by root: many uids are mapped and the sandbox gets a cgroup."""
        self.host_uid = HOST_UID_BASE if self.as_host_root else os.getuid()
        """The host uid of root inside the sandbox (of every uid inside, when not run by root)."""
        self.agent_host_uid = HOST_UID_BASE + AGENT_UID if self.as_host_root else os.getuid()
        self.layered = (
            None
            if layer is None
            else LayeredRoot(layer, install=install, uid_base=HOST_UID_BASE, disk_mb=self.limits.disk_mb)
        )
        """The sandbox's layered system folders, if it has them."""
        self._keep_layer = False
        self.cgroup: SandboxCgroup | None = None
        self._init: asyncio.subprocess.Process | None = None
        self._pid = 0  # the host pid of the namespaces' first process
        self._lock = asyncio.Lock()
        self._userns: tuple[int, int] | None = None
        """Not run by root: descriptors of the user namespace owning the sandbox's namespaces, and of the one
        bubblewrap nested in it, which commands join in turn."""
        self._internet: Internet | None = None
        self._disk = False
        """The workspace's own file system is mounted on the host (`_disk`), until `close()`."""
        if self.as_host_root:
            self._check_reachable(self.workspace)

    def _check_reachable(self, path: Path) -> None:
        if (path.parent, self.host_uid) in _REACHABLE:
            return
        blocked = _unreachable(path, self.host_uid)
        if blocked is None:
            _REACHABLE.add((path.parent, self.host_uid))
        else:
            raise SandboxError(
                f"{path} is not reachable by the sandbox's host uid {self.host_uid}: {blocked} is not "
                f"searchable by others; use a folder under a world-searchable one (e.g. /tmp or /srv), "
                f"or run `chmod o+x {blocked}`"
            )

    def _prepare(self) -> None:
        """Create the workspace and give the agent's host user what no sandbox user owns (files put there from the
        host); what a sandbox made stays whose it was (a resumed run keeps set-up's root-owned files root's)."""
        self.workspace.mkdir(parents=True, exist_ok=True)
        if self.as_host_root:
            self._disk = mount_workspace(self.workspace, self.limits.disk_mb, owner=self.agent_host_uid)
            for folder, _, files in os.walk(self.workspace):
                for name in [folder, *(os.path.join(folder, f) for f in files)]:
                    if not HOST_UID_BASE <= os.lstat(name).st_uid < HOST_UID_BASE + UID_COUNT:
                        os.lchown(name, self.agent_host_uid, self.agent_host_uid)

    def _start_argv(self, fds: dict[str, int]) -> list[str]:
        """bubblewrap's command line; `fds` are the descriptors it reads: info, passwd, group, and block (when
        proctor maps the uids)."""
        # tmpfs pages are memory the sandbox cannot free by killing a process: caps leave room for commands.
        tmp_size, root_size = str(self.limits.memory_mb << 19), str(self.limits.memory_mb << 18)
        layered = self.layered.trees if self.layered is not None else ()
        argv = [self.bwrap, "--unshare-all", "--unshare-user", "--die-with-parent", "--hostname", "sandbox"]
        argv += [*_system_binds(layered), *(self.layered.bwrap_args() if self.layered else [])]
        argv += ["--proc", "/proc", "--dev", "/dev"]
        if self.layered is None:  # a layered /etc has its own passwd and group (with the agent), and /root on disk
            for name in ("passwd", "group"):
                argv += ["--perms", "0644", "--ro-bind-data", str(fds[name]), f"/etc/{name}"]
            argv += ["--perms", "0700", "--size", root_size, "--tmpfs", "/root"]
        argv += ["--perms", "1777", "--size", tmp_size, "--tmpfs", "/tmp"]
        argv += ["--perms", "0755", "--dir", "/run"]
        for folder in ROOT_ONLY:
            argv += ["--perms", "0700", "--dir", folder]
        argv += ["--perms", "0755", "--dir", str(Path(self.workdir).parent)]
        argv += ["--bind", str(self.workspace), self.workdir, "--chdir", self.workdir, "--info-fd", str(fds["info"])]
        if "block" not in fds:  # bubblewrap maps the one uid it may, and can forbid nested user namespaces
            argv += ["--disable-userns", "--uid", str(AGENT_UID), "--gid", str(AGENT_UID)]
        else:  # proctor maps the uids itself once the namespace exists
            argv += ["--userns-block-fd", str(fds["block"]), "--uid", "0", "--gid", "0"]
        argv += ["--", "/bin/sh", "-c", "echo && exec sleep infinity"]
        # The layers' launcher starts as root, mounts them in a namespace of its own, and becomes host_uid.
        return [*self.layered.launcher(), *argv] if self.layered is not None else argv

    async def _start(self) -> None:
        """Make the namespaces (and the cgroup, with the sandbox's limits) and wait until they are ready."""
        self._prepare()
        if self.layered is not None:
            await asyncio.to_thread(self.layered.prepare)
        if self.as_host_root:
            self.cgroup = SandboxCgroup.create(f"sandbox-{uuid.uuid4().hex[:16]}")
            if self.cgroup is not None:  # the sandbox's resident processes count too
                self.cgroup.set_limits(self.limits.memory_mb << 20, self.limits.processes + 4)
        info_r, info_w = os.pipe()
        block_r, block_w = os.pipe() if self.as_host_root else (-1, -1)
        fds = {"info": info_w}
        if self.layered is None:  # a layered /etc has its own accounts
            fds |= {"passwd": _memfd("passwd", _PASSWD.encode()), "group": _memfd("group", _GROUP.encode())}
        if self.as_host_root:
            fds["block"] = block_r
        popen: dict[str, Any] = {}
        if self.as_host_root and self.layered is None:
            popen.update(user=self.host_uid, group=self.host_uid, extra_groups=[])
        try:
            self._init = await asyncio.create_subprocess_exec(
                *self._start_argv(fds),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,  # a line once the namespaces are ready
                stderr=asyncio.subprocess.PIPE,
                pass_fds=list(fds.values()),
                **popen,
            )
        finally:
            for fd in fds.values():
                os.close(fd)
        try:
            info = await asyncio.to_thread(_read_json, info_r)
            self._pid = int(info.get("child-pid", 0))
            if self._pid and self.as_host_root:
                self._map_uids()
                if self.cgroup is not None:
                    self.cgroup.add(self._init.pid)
                    self.cgroup.add(self._pid)
                os.write(block_w, b"1")
        finally:
            for fd in (info_r, block_w):
                if fd >= 0:
                    os.close(fd)
        assert self._init.stdout is not None
        if not await self._init.stdout.read(1):
            await self._failed_to_start()
        if not self.as_host_root:
            with open(f"/proc/{self._pid}/ns/ipc", "rb", buffering=0) as ipc:
                self._userns = (fcntl.ioctl(ipc.fileno(), NS_GET_USERNS), os.open(f"/proc/{self._pid}/ns/user", 0))
        else:  # what bubblewrap's --disable-userns does, which its --userns-block-fd excludes
            await self._forbid_nested_user_namespaces()
        if self.network:
            self._internet = await attach_internet(self._pid)

    async def _forbid_nested_user_namespaces(self) -> None:
        """No process of the sandbox may make a user namespace (a kernel attack surface it has no use for): the
        limit is set in the sandbox's own user namespace, from the host's /proc."""
        limit = "echo 0 > /proc/sys/user/max_user_namespaces"
        argv = [self.nsenter, "-t", str(self._pid), "-U", "-S", "0", "-G", "0", "--", "/bin/sh", "-c", limit]
        result = await run_capped(argv, Limits(timeout=10))
        if result.exit_code != 0:
            await self.close()
            raise SandboxError(f"cannot forbid user namespaces in the sandbox: {result.stderr.strip()}")

    def _map_uids(self) -> None:
        for kind in ("uid", "gid"):
            with open(f"/proc/{self._pid}/{kind}_map", "w", encoding="ascii") as file:
                file.write(f"0 {HOST_UID_BASE} {UID_COUNT}\n")

    async def _failed_to_start(self) -> None:
        assert self._init is not None and self._init.stderr is not None
        await self._init.wait()
        message = (await self._init.stderr.read()).decode(errors="replace").strip()
        await self.close()
        raise SandboxError(f"bubblewrap could not start the sandbox: {message or 'no message'}")

    def command(self, command: str, *, as_root: bool = False) -> tuple[list[str], list[int]]:
        """The host command line that runs `command` in the sandbox (which must have started).

        Returns:
            The argv, and descriptors to pass to it (the caller closes them afterwards).
        """
        uid = 0 if as_root and self.as_host_root else AGENT_UID
        joins = ["-t", str(self._pid), "-m", "-p", "-n", "-i", "-u", "-r", "-w"]
        if self._userns is None:  # root: any namespace may be joined, and any mapped uid taken
            argv = [self.nsenter, "-U", *joins, "-S", str(uid), "-G", str(uid), "--"]
        else:  # the namespaces' owner first, then the user namespace bubblewrap nested in it, as uid 1000 there
            outer, nested = (f"--user=/proc/self/fd/{fd}" for fd in self._userns)
            argv = [self.nsenter, outer, "--preserve-credentials", *joins, "--"]
            argv += [self.nsenter, nested, "--preserve-credentials", "--"]
        argv += [self.setpriv, f"--bounding-set={DROPPED_CAPS}" if uid == 0 else "--no-new-privs"]
        fds: list[int] = []
        if len(command.encode()) > ARG_ROOM:
            fds.append(_memfd("command", command.encode()))
            argv += ["--", "/bin/sh", f"/dev/fd/{fds[0]}"]
        else:
            argv += ["--", "/bin/sh", "-c", command]
        if self.cgroup is not None:
            # Commands are the OOM killer's first victims, so the namespaces' resident processes outlive them.
            prefix = self.cgroup.shell_prefix(oom_score_adj=1000)
            return ["/bin/sh", "-c", prefix + 'exec "$@"', "sh", *argv], fds
        # No cgroup: the sandbox's limits per process. bwrap's init and the resident sleep run as the same user.
        nproc = self.limits.processes + 2 + (0 if self.as_host_root else _tasks_of(self.host_uid))
        size = f"--fsize={self.limits.disk_mb << 20}"
        return [self.prlimit, f"--as={self.limits.memory_mb << 20}", f"--nproc={nproc}", size, "--", *argv], fds

    async def exec(
        self,
        command: str,
        *,
        limits: Limits | None = None,
        as_root: bool = False,
        env: dict[str, str] | None = None,
        stdin: bytes | None = None,
    ) -> ExecResult:
        """Run `command` with `/bin/sh` in the sandbox, in the workspace.

        Args:
            command: The shell command, of any length.
            limits: Time and output limits (defaults: `Limits()`); memory and processes are the sandbox's.
            as_root: Run as uid 0 inside the sandbox (task set-up and scoring only).
            env: Extra environment variables (the host's environment is never passed).
            stdin: Bytes for the command's standard input.

        Returns:
            What the command did; limits show as `timed_out`, `truncated` or a failing exit code.
        """
        limits = limits or Limits()
        async with self._lock:
            if self._init is None:
                await self._start()
            elif self._init.returncode is not None:
                raise SandboxError("the sandbox has ended (its resident processes were killed); resume the run")
        argv, fds = self.command(command, as_root=as_root)
        passed = [*fds, *(self._userns or ())]
        home = "/root" if as_root else self.workdir
        user = "root" if as_root else "agent"
        base_env = {"PATH": PATH, "HOME": home, "LANG": "C.UTF-8", "USER": user, "LOGNAME": user}
        try:
            return await run_capped(argv, limits, stdin=stdin, env={**base_env, **(env or {})}, pass_fds=passed)
        finally:
            for fd in fds:
                os.close(fd)

    async def close(self) -> None:
        """End every process of the sandbox (the workspace stays)."""
        if self._internet is not None:
            await self._internet.close()
            self._internet = None
        if self.cgroup is not None:
            await asyncio.to_thread(self.cgroup.kill_all)
        if self._pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)  # the pid namespace ends with its first process
        if self._init is not None:
            send_signal(self._init)
            await self._init.wait()
        if self.layered is not None:
            await asyncio.to_thread(self.layered.close, keep=self._keep_layer)
        if self.cgroup is not None:
            await asyncio.to_thread(self.cgroup.remove)
            self.cgroup = None
        for fd in self._userns or ():
            os.close(fd)
        if self._disk:
            await asyncio.to_thread(unmount_workspace, self.workspace)
        self._init, self._pid, self._userns, self._disk = None, 0, None, False

    async def commit(self) -> None:
        """End an install sandbox (built with `layer` and `install`), keeping what it wrote as the layer."""
        self._keep_layer = True
        await self.close()
