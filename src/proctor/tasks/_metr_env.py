"""A METR family's environment: calling its driver inside a sandbox, installing it, and the install cache.

The driver hands back its result on a channel agent code cannot write: a line marked with a secret that reaches
the driver on its standard input, which it reads before any family code runs and holds in memory no other process
of the sandbox may read (the driver is not dumpable, and root in the sandbox has no CAP_SYS_PTRACE). A driver
that dies, or exits non-zero, gives an error, never a result.

`install()` runs once per family content. Where the sandbox can layer (bwrap, proctor run by root) it runs as root
with network in a layer over the host's system folders, kept as the family's layer; elsewhere in a plain sandbox,
and only the /root it leaves is kept.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shlex
import shutil
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import platformdirs

from proctor.sandbox import BwrapSandbox, Limits, Sandbox, copy_in, get_sandbox, open_workspace
from proctor.sandbox._layers import Layer
from proctor.sandbox._net import internet_available
from proctor.tasks._spec import TaskRunError

DRIVER = (Path(__file__).parent / "_metr_driver.py").read_text(encoding="utf-8")
FAMILY_TARGET = "/root"
PYTHON = "/usr/bin/python3"
INSTALLED = ".proctor-installed.tar"
"""The installed /root, as the install sandbox leaves it in its workspace for proctor to cache."""


async def run_driver(
    sandbox: Sandbox,
    family_name: str,
    operation: str,
    request: dict[str, Any] | None = None,
    *,
    env: dict[str, str] | None = None,
    timeout: float = 600.0,
) -> dict[str, Any]:
    """Run one driver operation as root in `sandbox`, whose /root holds the family.

    Returns:
        The driver's output: `{"ok": True, "result": ...}` or `{"ok": False, "file": ..., "error": ...}`, with the
        driver's standard error under `stderr`.

    Raises:
        TaskRunError: the driver gave no authentic result, or exited non-zero (Python crashed, something
            killed it, the sandbox's limits ended it).
    """
    secret = secrets.token_hex(16)
    message = {"family": family_name, "operation": operation, "secret": secret, **(request or {})}
    result = await sandbox.exec(
        f"cd {FAMILY_TARGET} && exec {PYTHON} -c {shlex.quote(DRIVER)}",
        as_root=True,
        env=env,
        stdin=json.dumps(message).encode(),
        limits=Limits(timeout=timeout),
    )
    found = [line[len(secret) + 1 :] for line in result.stdout.splitlines() if line.startswith(secret + " ")]
    if result.exit_code != 0 or len(found) != 1:
        reason = "timed out" if result.timed_out else f"exited {result.exit_code}"
        if result.exit_code == 0:
            reason = "printed too much" if result.truncated else "gave no result"
        tail = (result.stderr.strip().splitlines() or [""])[-1]
        raise TaskRunError(
            f"{family_name}: METR {operation} {reason}: {tail or 'no message'}; "
            f"check that {PYTHON} exists inside the sandbox"
        )
    output: dict[str, Any] = json.loads(found[0])
    output["stderr"] = result.stderr
    return output


class FamilyError(TaskRunError):
    """The family's own code failed; `file` names the file to fix."""

    def __init__(self, message: str, file: str) -> None:
        super().__init__(message)
        self.file = file


def checked(output: dict[str, Any]) -> Any:
    """The result of a driver's output.

    Raises:
        FamilyError: the family's code failed (the output names its file).
    """
    if not output["ok"]:
        raise FamilyError(output["error"], output["file"])
    return output["result"]


def family_environment(name: str, required: list[str]) -> dict[str, str]:
    """The host environment variables a family requires, for its set-up and scoring only."""
    missing = [variable for variable in required if variable not in os.environ]
    if missing:
        raise TaskRunError(f"{name} needs environment variables {', '.join(missing)}; set them before running")
    return {variable: os.environ[variable] for variable in required}


_install_locks: dict[tuple[int, str], asyncio.Lock] = {}
STALE_SECONDS = 3600.0
"""Staging folders older than this are left from an install that died; they are removed."""


def layered(backend: str) -> bool:
    """Whether families install into a layer over the host's system folders (`apt-get install`, `pip install`
    work): with the bwrap backend, when proctor runs as root. Otherwise only /root persists from install()."""
    return backend == "bwrap" and os.geteuid() == 0


async def family_layer(folder: Path, name: str, digest: str, cache_dir: Path, env: dict[str, str]) -> Layer:
    """The family's layer: `install()` run once, as root with network, in a sandbox layered over the host's system
    folders with the family in /root; what it wrote is kept, keyed by the family's content digest.

    Raises:
        TaskRunError: the cache folder is not proctor's own, or install failed (with what its command printed).
    """
    layer = Layer(f"{name}-{digest[:20]}", cache=private_folder(cache_dir) / "layers")
    lock = _install_locks.setdefault((id(asyncio.get_running_loop()), str(layer.path)), asyncio.Lock())
    async with lock:
        if layer.ready:
            return layer
        with tempfile.TemporaryDirectory(prefix="proctor-install-") as scratch:
            os.chmod(scratch, 0o711)  # the sandbox's host user only needs to pass through
            workspace = Path(scratch) / "workspace"
            # With network where the host has one: an offline host still installs families that need none.
            sandbox = BwrapSandbox(workspace=workspace, network=internet_available(), layer=layer, install=True)
            try:
                await copy_in(sandbox, folder, FAMILY_TARGET, as_root=True)
                _installed(folder, await run_driver(sandbox, name, "install", env=env))
                await sandbox.commit()
            finally:
                await sandbox.close()
    return layer


def _installed(folder: Path, output: dict[str, Any]) -> None:
    """Raise when install() failed, saying what its command (apt-get, pip…) printed last.

    Raises:
        TaskRunError: naming the family file, the error, and the end of the driver's standard error.
    """
    if not output["ok"]:
        tail = " | ".join(output["stderr"].strip().splitlines()[-3:])
        said = f"; its standard error ended: {tail}" if tail else ""
        raise TaskRunError(f"{folder / output['file']}: {output['error']}{said}")


async def installed_root(
    folder: Path, name: str, digest: str, backend: str, cache_dir: Path, env: dict[str, str]
) -> Path:
    """The family's /root after `install()`: installed once in a throwaway sandbox, cached by content digest in
    a private folder.

    Raises:
        TaskRunError: the cache folder is not proctor's own, or install failed (with its error).
    """
    cache = private_folder(cache_dir)
    base = cache / f"{name}-{digest[:20]}"
    # One lock per event loop and family: asyncio locks cannot be shared between loops.
    lock = _install_locks.setdefault((id(asyncio.get_running_loop()), str(base)), asyncio.Lock())
    async with lock:
        if (base / "installed").exists():
            return base / "root"
        private_folder(base)
        for stale in base.glob("staging-*"):
            if time.time() - stale.lstat().st_mtime > STALE_SECONDS:
                shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix="staging-", dir=base))
        try:
            await _install(folder, name, backend, env, staging)
            if not (base / "installed").exists():  # another process may have finished first
                shutil.rmtree(base / "root", ignore_errors=True)
                (staging / "root").rename(base / "root")
                (base / "installed").write_text(digest + "\n", encoding="utf-8")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return base / "root"


async def _install(folder: Path, name: str, backend: str, env: dict[str, str], staging: Path) -> None:
    """Run `install()` with the family at /root in a throwaway sandbox and extract its /root into `staging/root`."""
    with tempfile.TemporaryDirectory(prefix="proctor-install-") as scratch:
        os.chmod(scratch, 0o711)  # the sandbox's host user only needs to pass through
        workspace = Path(scratch) / "workspace"
        sandbox = get_sandbox(backend, workspace=workspace, network=False)
        try:
            await copy_in(sandbox, folder, FAMILY_TARGET, as_root=True)
            _installed(folder, await run_driver(sandbox, name, "install", env=env))
            packed = await sandbox.exec(
                f"umask 077 && tar -c -f {sandbox.workdir}/{INSTALLED} -C {FAMILY_TARGET} .", as_root=True
            )
            if packed.exit_code != 0:
                raise TaskRunError(f"{name}: cannot read back the installed /root: {packed.stderr.strip()}")
        finally:
            await sandbox.close()
        with open_workspace(workspace), tarfile.open(workspace / INSTALLED) as archive:
            archive.extractall(staging / "root", filter="data")  # no links out, no devices, no setuid bits


def private_folder(folder: Path) -> Path:
    """`folder`, made if missing with mode 0700; refused unless it is this user's own and closed to others.

    Raises:
        TaskRunError: it belongs to another user, is open to others, or is a symbolic link.
    """
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = folder.lstat()
    if folder.is_symlink() or st.st_uid != os.geteuid() or st.st_mode & 0o077:
        owner = "is a symbolic link" if folder.is_symlink() else f"has owner uid {st.st_uid}, mode {st.st_mode:o}"
        raise TaskRunError(
            f"refusing the cache folder {folder}: it {owner}; proctor uses only a folder it made, private to "
            f"uid {os.geteuid()} (mode 700): remove it, or set PROCTOR_CACHE_DIR"
        )
    return folder


def default_cache_dir() -> Path:
    """Where installed METR families are kept: `$PROCTOR_CACHE_DIR/metr`, else the user's cache folder."""
    configured = os.environ.get("PROCTOR_CACHE_DIR")
    return (Path(configured) if configured else Path(platformdirs.user_cache_dir("proctor"))) / "metr"
