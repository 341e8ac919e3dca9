"""Run one sandbox process with a wall-time limit and capped, incrementally read output."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

from proctor.sandbox._base import ExecResult, Limits

_CHUNK = 65536
_DRAIN_SECONDS = 5.0
"""How long to wait for the pipes to close once a command was killed."""
_DRAIN_AFTER_EXIT = 0.25
"""How long to keep reading once the command exited: a process it left running may hold the pipes open."""


async def _reader(fd: int) -> tuple[asyncio.StreamReader, asyncio.BaseTransport]:
    """A stream over the read end of a pipe, with the transport that closes it."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=_CHUNK)
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
    )
    return reader, transport


async def run_capped(
    argv: list[str],
    limits: Limits,
    *,
    stdin: bytes | None = None,
    kill: Callable[[asyncio.subprocess.Process], Awaitable[None]] | None = None,
    **popen: Any,
) -> ExecResult:
    """Start `argv` and collect its output under `limits`; never raises for what the command does.

    The process is started in a new session. At the time limit, or once stdout or stderr passes
    `limits.output_bytes`, `kill` is awaited (default: SIGKILL to the process group). Once the process has
    exited, output still coming from processes it left running is read for a moment only.

    Args:
        argv: The program and its arguments.
        limits: The time and output limits (the others are the caller's business).
        stdin: Bytes written to the command's standard input (otherwise it reads nothing).
        kill: How to end the command early.
        **popen: Extra keyword arguments for `asyncio.create_subprocess_exec`.

    Returns:
        The command's result, with `timed_out` and `truncated` set when a limit ended it.
    """
    started = time.monotonic()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
            stdout=out_w,
            stderr=err_w,
            start_new_session=True,
            **popen,
        )
    except BaseException:
        for fd in (out_r, err_r):
            os.close(fd)
        raise
    finally:
        os.close(out_w)
        os.close(err_w)
    end = kill or _kill_group
    out, err = bytearray(), bytearray()
    truncated = timed_out = False
    (out_stream, out_pipe), (err_stream, err_pipe) = await _reader(out_r), await _reader(err_r)

    async def pump(stream: asyncio.StreamReader, buf: bytearray) -> None:
        # Past the limit the command is killed and the rest (what was in flight) is discarded.
        nonlocal truncated
        while chunk := await stream.read(_CHUNK):
            room = limits.output_bytes - len(buf)
            if len(chunk) > room and not truncated:
                truncated = True
                await end(proc)
            buf += chunk[: max(room, 0)]

    async def feed() -> None:
        assert proc.stdin is not None and stdin is not None
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            proc.stdin.write(stdin)
            await proc.stdin.drain()
        proc.stdin.close()

    pumps = asyncio.gather(pump(out_stream, out), pump(err_stream, err))
    feeding = asyncio.ensure_future(feed()) if stdin is not None else None
    try:
        async with asyncio.timeout(limits.timeout):
            await proc.wait()
    except TimeoutError:
        timed_out = True
    finally:
        if proc.returncode is None:  # timed out, or the caller cancelled: end the whole tree
            await end(proc)
        exit_code = await proc.wait()
        drain = _DRAIN_SECONDS if timed_out or truncated else _DRAIN_AFTER_EXIT
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(drain):
                await asyncio.shield(pumps)
        pumps.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pumps
        if feeding is not None:
            feeding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeding
        out_pipe.close()
        err_pipe.close()
    return ExecResult(
        exit_code=exit_code,
        stdout=out.decode(errors="replace"),
        stderr=err.decode(errors="replace"),
        duration=time.monotonic() - started,
        timed_out=timed_out,
        truncated=truncated,
    )


def send_signal(proc: asyncio.subprocess.Process, sig: int = signal.SIGKILL) -> None:
    """Signal a child that may have exited, without reaping it.

    asyncio's `kill()` and `terminate()` poll the child first, which reaps an exited one under the child
    watcher's feet: the watcher then logs "Unknown child process" and reports exit code 255.
    """
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)


async def _kill_group(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL the process group the command leads (it was started in its own session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
