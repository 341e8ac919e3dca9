"""Disk limits: a file system of its own, of a fixed size, for each workspace and each run's writable layer.

This kernel's file systems may have no quotas (ext4 project quotas need the kernel's quota formats), so proctor,
as root, gives each workspace an ext4 file system in a sparse image file beside it, `<workspace>.disk`: it takes
the host's disk only for what is written, and what does not fit fails with "No space left on device" inside
the sandbox, never on the host. The image is mounted on the workspace folder (a loop device) while a sandbox
starts on it and unmounted when that sandbox closes; sandboxes already running keep their own view, and every
mount of one image shares one loop device and so one file system (a delegated run's sandbox and its parent's).
Read a closed run's files with `open_workspace`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from proctor.sandbox._base import SandboxError

SUFFIX = ".disk"
MOUNT_OPTIONS = "loop,discard,nosuid,nodev"
"""discard: what the sandbox deletes is given back to the host's disk."""


def image_of(workspace: Path) -> Path:
    """Where a workspace's disk image is (whether or not it has one)."""
    return workspace.with_name(workspace.name + SUFFIX)


def _run(argv: list[str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SandboxError(f"{what}: {done.stderr.strip() or f'{argv[0]} exited {done.returncode}'}")


def make_image(image: Path, size_mb: int, *, owner: int, content: Path | None = None) -> None:
    """A new sparse ext4 image of `size_mb` MiB, readable by root only, whose top folder is `owner`'s; filled
    with a copy of `content` (owners and modes kept) if given. About 10 ms."""
    fd = os.open(image, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.ftruncate(fd, size_mb << 20)
    finally:
        os.close(fd)
    extended = f"lazy_itable_init=1,lazy_journal_init=1,nodiscard,root_owner={owner}:{owner}"
    argv = ["mkfs.ext4", "-q", "-F", "-m", "0", "-E", extended, *(["-d", str(content)] if content else [])]
    try:
        _run([*argv, str(image)], f"cannot make the disk image {image} (install e2fsprogs)")
    except BaseException:
        image.unlink(missing_ok=True)
        raise


def mount_workspace(workspace: Path, size_mb: int, *, owner: int) -> bool:
    """Put `workspace` on its own file system of `size_mb` MiB, made the first time (the size then stays).

    Returns:
        Whether it is on one: a workspace that already has files and no image (made before disk limits, or by
        hand) stays as it is.
    """
    if os.path.ismount(workspace):
        return True
    image = image_of(workspace)
    if not image.exists():
        if workspace.is_dir() and any(workspace.iterdir()):
            return False
        make_image(image, size_mb, owner=owner)
    workspace.mkdir(parents=True, exist_ok=True)
    _run(["mount", "-o", MOUNT_OPTIONS, str(image), str(workspace)], f"cannot mount the disk of {workspace}")
    with contextlib.suppress(OSError):  # mkfs's lost+found would show in the agent's workspace
        (workspace / "lost+found").rmdir()
    return True


def unmount_workspace(workspace: Path) -> None:
    """Unmount a workspace's disk from the host (sandboxes still running keep theirs)."""
    if os.path.ismount(workspace) and image_of(workspace).exists():
        _run(["umount", str(workspace)], f"cannot unmount the disk of {workspace}")


@contextlib.contextmanager
def open_workspace(workspace: Path) -> Iterator[Path]:
    """A workspace's files at its path for the `with` block, its disk mounted for the time if it has one.

    Example:
        with open_workspace(Path(run.workspace)) as folder:
            print((folder / "answer.txt").read_text())
    """
    mounted = not os.path.ismount(workspace) and image_of(workspace).exists()
    if mounted:
        workspace.mkdir(parents=True, exist_ok=True)
        _run(["mount", "-o", MOUNT_OPTIONS, str(image_of(workspace)), str(workspace)], f"cannot mount {workspace}")
    try:
        yield workspace
    finally:
        if mounted:
            _run(["umount", str(workspace)], f"cannot unmount the disk of {workspace}")


def remove_workspace(workspace: Path) -> None:
    """Remove a workspace and its disk image."""
    unmount_workspace(workspace)
    shutil.rmtree(workspace, ignore_errors=True)
    image_of(workspace).unlink(missing_ok=True)
