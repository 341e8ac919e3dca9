"""How commands end: SIGTERM taken as Ctrl-C, a worker that ends with the `proctor view` that started it, a port
claimed before anything says it is served, and a process that ends without the interpreter's teardown."""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import errno
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import NoReturn

WORKER_PARENT_ENV = "PROCTOR_WORKER_PARENT"
"""Set by `proctor view` for its worker: the view's process id, whose end ends the worker."""

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


class ListenError(Exception):
    """The web interface cannot listen where it was asked to (a port in use, an unknown host)."""


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # Sent on as SIGINT, SIGTERM is handled as Ctrl-C is: asyncio cancels what runs, so runs in flight are stored
    # as killed. Where SIGINT is ignored (a background job), it interrupts at once instead.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        raise KeyboardInterrupt
    os.kill(os.getpid(), signal.SIGINT)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within: SIGTERM stops the command as Ctrl-C does (in the main thread; elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def exit_with_parent(parent: int) -> None:
    """Stop this process as SIGTERM does when process `parent` ends, however it ends (SIGKILL included): on Linux
    the kernel sends the signal (`PR_SET_PDEATHSIG`); elsewhere a thread looks for a new parent every second."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    else:
        threading.Thread(target=_watch, args=(parent,), name="parent-watch", daemon=True).start()
    if os.getppid() != parent:  # it ended before the signal was asked for
        os.kill(os.getpid(), signal.SIGTERM)


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to `host:port`, for the server to listen on: taken now, so a port in use is reported before
    anything claims to be serving it.

    Raises:
        ListenError: the address cannot be had (the message names the fix).
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as error:
        raise ListenError(
            f"cannot listen on {host}: {error.strerror}: give an address of this machine with --host"
        ) from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port just freed is fine, one in use is not
    try:
        sock.bind(address)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            message = f"port {port} is in use on {host}: stop what listens there, or give another --port"
            raise ListenError(message) from None
        raise ListenError(f"cannot listen on {host}:{port}: {error.strerror}: give another --host or --port") from None
    return sock


def stop(process: subprocess.Popen[bytes]) -> None:
    """End a child process: SIGTERM (it stores its runs in flight as killed), then SIGKILL after 10 seconds."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def end_process(code: object) -> NoReturn:
    """End the process with `code` (as `sys.exit` takes it: None, a number, or a message for standard error), without
    the interpreter's teardown, which frees the objects of every module loaded one by one: with the model SDKs,
    SQLAlchemy and Rich loaded, that is a few tenths of a second of CPU after the command is done. What a normal
    exit does before that is done: other threads are joined (thread pools stopped), the exit functions run (the
    stores' connections closed, Ray shut down, temporary folders removed, logs flushed), and standard output and
    error are flushed."""
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)
        status = 1
    join_threads = getattr(threading, "_shutdown", None)  # what the interpreter calls first when it exits
    if join_threads is not None:
        join_threads()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (`proctor runs | head`) loses nothing more
            stream.flush()
    os._exit(status)
