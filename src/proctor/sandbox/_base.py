"""The sandbox interface: where every command an agent issues runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel


class SandboxError(Exception):
    """The sandbox cannot run at all (missing tool, no daemon); says how to fix it."""


class Limits(BaseModel):
    """Resource limits: time and output of one command; memory and processes of the sandbox it runs in (given when
    the sandbox is built; per command where the sandbox has no cgroup)."""

    timeout: float = 60.0
    """Wall-clock seconds before the command is killed."""
    memory_mb: int = 1024
    """Memory of the sandbox as a whole, in MiB: all its processes and its tmpfs folders together (a cgroup);
    where no cgroup can be made, the address space of each process and the size of each tmpfs."""
    processes: int = 128
    """Most processes (and threads) alive at once in the sandbox (per command where no cgroup can be made)."""
    output_bytes: int = 1_000_000
    """Most bytes of stdout and stderr each that are kept; past it the command is killed."""
    disk_mb: int = 8192
    """Disk, in MiB, of the workspace, and of a layered sandbox's writable layer, each: a file system of that size
    (sparse: the host's disk holds only what is written); where proctor is not root, the size of each file."""


class ExecResult(BaseModel):
    """What a command did: the observation of a shell action."""

    exit_code: int
    """The exit status; negative for a signal, as in `subprocess`."""
    stdout: str
    """Standard output, cut at the output limit."""
    stderr: str
    """Standard error, cut at the output limit."""
    duration: float
    """Wall-clock seconds."""
    timed_out: bool = False
    """Killed at the time limit."""
    truncated: bool = False
    """Output went past the limit, was cut, and the command was killed."""


class Sandbox(Protocol):
    """A per-run isolated environment with a workspace folder.

    One sandbox holds its state between commands, as a machine does: files outside the workspace (`/tmp`,
    `/root`), processes left running, and the root-only folders `/run/proctor` and `/scorer`, where set-up and
    scoring keep what the agent must not see.
    """

    workspace: Path
    """The host folder the agent works in (seen inside as `workdir`)."""
    workdir: str
    """The workspace's path inside the sandbox."""

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

        `as_root` runs it as root *inside* the sandbox (task set-up and scoring); agents never get it. `stdin`
        is written to the command's standard input (how files of any size reach the sandbox).
        """
        ...

    async def close(self) -> None:
        """End every process of the sandbox and release what it holds (the workspace folder stays)."""
        ...


SandboxFactory = Callable[..., Sandbox]
_backends: dict[str, SandboxFactory] = {}


def sandbox_backend(name: str) -> Callable[[SandboxFactory], SandboxFactory]:
    """Register a sandbox backend under `name`.

    The factory is called as `factory(workspace=Path, network=bool, limits=Limits, **options)`: `limits` gives
    the memory and processes of the sandbox as a whole; each command's own `limits` give its time and output.
    """

    def register(factory: SandboxFactory) -> SandboxFactory:
        _backends[name] = factory
        return factory

    return register


def sandbox_backends() -> list[str]:
    """The names of the registered backends."""
    return sorted(_backends)


def backend_of(sandbox: Sandbox) -> str:
    """The name a sandbox's backend is registered under (to build another of the same kind).

    Raises:
        SandboxError: its class is no registered factory.
    """
    for name, factory in _backends.items():
        if factory is type(sandbox):
            return name
    raise SandboxError(
        f"{type(sandbox).__name__} is not a registered sandbox backend: register it with @sandbox_backend"
    )


def get_sandbox(
    name: str, *, workspace: Path, network: bool = False, limits: Limits | None = None, **options: Any
) -> Sandbox:
    """Build a sandbox of backend `name` on `workspace`, with `limits` on its memory and processes (default:
    `Limits()`).

    Raises:
        SandboxError: no backend of that name, or the backend cannot run here.
    """
    factory = _backends.get(name)
    if factory is None:
        raise SandboxError(f"unknown sandbox backend {name!r} (backends: {', '.join(sandbox_backends())})")
    return factory(workspace=workspace, network=network, limits=limits or Limits(), **options)
