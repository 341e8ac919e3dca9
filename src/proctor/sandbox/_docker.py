"""The Docker sandbox: one container per run, each command a `docker exec` in it, for hosts with a daemon."""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import subprocess
import uuid
from pathlib import Path

from proctor.sandbox._base import ExecResult, Limits, SandboxError, sandbox_backend
from proctor.sandbox._process import run_capped, send_signal

AGENT_USER = "1000:1000"
"""The agent's uid:gid inside the container."""
DEFAULT_IMAGE = "python:3.11-slim"
"""The image commands run in unless another is given."""
ARG_ROOM = 64 * 1024
"""Commands longer than this reach the shell on its standard input."""
ROOT_CAPS = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "SETUID", "SETGID", "KILL", "NET_BIND_SERVICE")
"""What root in the container may do (set-up copies files, installs packages, hands files to the agent)."""


@sandbox_backend("docker")
class DockerSandbox:
    """A sandbox in one Docker container, started with the first command and removed by `close()`.

    The daemon is asked once, when the sandbox is built; without one it cannot run at all.
    """

    def __init__(
        self,
        *,
        workspace: Path,
        network: bool = False,
        limits: Limits | None = None,
        workdir: str = "/home/agent",
        image: str = DEFAULT_IMAGE,
        docker: str | None = None,
    ) -> None:
        """Check that a Docker daemon answers and prepare the workspace.

        Args:
            workspace: The host folder the agent works in; created if missing.
            network: Attach the default bridge network (otherwise `--network none`).
            limits: Memory and processes of the container (default `Limits()`).
            workdir: Where the workspace appears inside the container.
            image: The image commands run in.
            docker: The docker CLI; found on PATH when not given.

        Raises:
            SandboxError: the CLI is missing or no daemon answers.
        """
        found = shutil.which(docker or "docker")
        if found is None:
            raise SandboxError("docker CLI not found: install Docker, or use the bwrap sandbox")
        self.docker = found
        try:
            probe = subprocess.run(
                [found, "version", "--format", "{{.Server.Version}}"],
                capture_output=True,
                text=True,
                timeout=15,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise SandboxError(
                "Docker daemon not reachable (no answer in 15 s): start it, or use the bwrap sandbox"
            ) from error
        if probe.returncode != 0:
            detail = probe.stderr.strip().splitlines()[-1:] or ["no detail"]
            raise SandboxError(f"Docker daemon not reachable: start it, or use the bwrap sandbox ({detail[0]})")
        self.workspace = workspace.resolve()
        self.workdir = workdir
        self.network = network
        self.limits = limits or Limits()
        self.image = image
        self.name = f"proctor-{uuid.uuid4().hex[:12]}"
        self._started = False
        self._lock = asyncio.Lock()
        self.workspace.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:  # the agent (uid 1000, no user-namespace remapping) must own its workspace
            for folder, _, files in os.walk(self.workspace):
                for name in [folder, *(os.path.join(folder, f) for f in files)]:
                    os.lchown(name, 1000, 1000)

    def start_command(self) -> list[str]:
        """The `docker run` argv of the container whose resident process keeps it alive."""
        limits = self.limits
        memory = f"{limits.memory_mb}m"
        argv = [self.docker, "run", "--detach", "--name", self.name, "--init"]
        argv += ["--network", "bridge" if self.network else "none"]
        argv += ["--memory", memory, "--memory-swap", memory, "--pids-limit", str(limits.processes)]
        argv += ["--security-opt", "no-new-privileges", "--cap-drop", "ALL"]
        for cap in ROOT_CAPS:
            argv += ["--cap-add", cap]
        argv += ["--tmpfs", f"/tmp:size={memory}", "--tmpfs", "/run/proctor:mode=0700", "--tmpfs", "/scorer:mode=0700"]
        argv += ["--volume", f"{self.workspace}:{self.workdir}", "--workdir", self.workdir, "--user", "0:0"]
        return [*argv, self.image, "sleep", "infinity"]

    def command(
        self,
        command: str,
        *,
        marker: str,
        as_root: bool = False,
        env: dict[str, str] | None = None,
        stdin: bool = False,
    ) -> list[str]:
        """The `docker exec` argv for `command`; `marker` tags its processes so a time limit can end them."""
        argv = [self.docker, "exec", *(["--interactive"] if stdin else [])]
        argv += ["--user", "0:0" if as_root else AGENT_USER, "--workdir", self.workdir]
        home = "/root" if as_root else self.workdir
        for key, value in {"HOME": home, "LANG": "C.UTF-8", "PROCTOR_EXEC": marker, **(env or {})}.items():
            argv += ["--env", f"{key}={value}"]
        return [*argv, self.name, "/bin/sh", *(["-s"] if len(command.encode()) > ARG_ROOM else ["-c", command])]

    async def exec(
        self,
        command: str,
        *,
        limits: Limits | None = None,
        as_root: bool = False,
        env: dict[str, str] | None = None,
        stdin: bytes | None = None,
    ) -> ExecResult:
        """Run `command` with `/bin/sh` in the container, in the workspace.

        Args:
            command: The shell command.
            limits: Time and output limits (defaults: `Limits()`); memory and processes are the container's.
            as_root: Run as root in the container (task set-up and scoring only).
            env: Extra environment variables.
            stdin: Bytes for the command's standard input.

        Returns:
            What the command did; limits show as `timed_out`, `truncated` or a failing exit code.

        Raises:
            SandboxError: the container cannot start, or a long command is given standard input too.
        """
        limits = limits or Limits()
        async with self._lock:
            if not self._started:
                result = await run_capped(self.start_command(), Limits(timeout=120))
                if result.exit_code != 0:
                    raise SandboxError(f"docker could not start the sandbox: {result.stderr.strip()}")
                self._started = True
        if len(command.encode()) > ARG_ROOM:
            if stdin is not None:
                raise SandboxError("a command this long cannot also be given standard input")
            stdin = command.encode()
        marker = uuid.uuid4().hex

        async def kill(proc: asyncio.subprocess.Process) -> None:
            # Killing the client alone would leave the command running in the container.
            find = f"grep -lz PROCTOR_EXEC={marker} /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3"
            await run_capped(
                [self.docker, "exec", "--user", "0:0", self.name, "/bin/sh", "-c", f"kill -9 $({find})"],
                Limits(timeout=30),
            )
            send_signal(proc)

        argv = self.command(command, marker=marker, as_root=as_root, env=env, stdin=stdin is not None)
        return await run_capped(argv, limits, stdin=stdin, kill=kill)

    async def close(self) -> None:
        """Remove the container and every process in it (the workspace stays)."""
        if self._started:
            await run_capped([self.docker, "rm", "--force", shlex.quote(self.name)], Limits(timeout=60))
            self._started = False
