"""Disk limits: a file system of its own, of a fixed size, for each workspace and each run's writable layer.

This kernel's file systems may have no quotas (ext4 project quotas need the kernel's quota formats), so proctor,
as root, gives each workspace an ext4 file system in a sparse image file beside it, `<workspace>.disk`: it takes
the host's disk only for what is written, and what does not fit fails with "No space left on device" inside
the sandbox, never on the host. The image is mounted on the workspace folder (a loop device) while a sandbox
starts on it and unmounted when that sandbox closes; sandboxes already running keep their own view, and every
mount of one image shares one loop device and so one file system (a delegated run's sandbox and its parent's).
Read a closed run's files with `open_workspace`.

A process that mounts an image first writes who it is (pid and start time) to `<workspace>.disk.pid`. A runner
stopped by Ctrl-C or SIGTERM unmounts as its sandboxes close; one killed by SIGKILL cannot, so its mount stays
until a later process finds it stale (its owner gone): before mounting, opening or removing that workspace, and in
`unmount_stale`, which `proctor run`, `resume` and `worker` call as they start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from proctor.sandbox._base import SandboxError

logger = logging.getLogger(__name__)

SUFFIX = ".disk"
OWNER_SUFFIX = ".pid"
"""Beside the image, `<workspace>.disk.pid`: the process that mounted it last."""
MOUNT_OPTIONS = "loop,discard,nosuid,nodev"
"""discard: what the sandbox deletes is given back to the host's disk."""


def image_of(workspace: Path) -> Path:
    """Where a workspace's disk image is (whether or not it has one)."""
    return workspace.with_name(workspace.name + SUFFIX)


def owner_file(workspace: Path) -> Path:
    """Where the process that mounted a workspace's disk is recorded (`<workspace>.disk.pid`)."""
    image = image_of(workspace)
    return image.with_name(image.name + OWNER_SUFFIX)


def _process(pid: int) -> str | None:
    """`pid` and its start time (clock ticks after boot), which a reused pid does not share; None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return f"{pid} {stat.rsplit(')', 1)[1].split()[19]}"  # field 22, counted after the command's name


def _record_owner(workspace: Path) -> None:
    owner_file(workspace).write_text(f"{_process(os.getpid())}\n")


def _owner_gone(workspace: Path) -> bool:
    """Whether the process recorded as the mounter has ended; a mount with no record is not proctor's to judge."""
    try:
        recorded = owner_file(workspace).read_text().strip()
    except FileNotFoundError:
        return False
    try:
        return _process(int(recorded.split()[0])) != recorded
    except (ValueError, IndexError):  # an unreadable record: no live process wrote it whole
        return True


def _unmount(workspace: Path) -> None:
    _run(["umount", str(workspace)], f"cannot unmount the disk of {workspace}")
    owner_file(workspace).unlink(missing_ok=True)


def clear_stale_mount(workspace: Path) -> bool:
    """Unmount a workspace's disk if the process that mounted it is gone (a runner killed by SIGKILL).

    Returns:
        Whether a stale mount was unmounted.
    """
    if not (os.path.ismount(workspace) and image_of(workspace).exists() and _owner_gone(workspace)):
        return False
    _unmount(workspace)
    logger.info("unmounted the disk of %s: the process that mounted it is gone", workspace)
    return True


def _mount_points() -> list[Path]:
    """This mount namespace's mount points (octal escapes such as `\\040` for a space decoded)."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    unescape = re.compile(r"\\([0-7]{3})")
    return [Path(unescape.sub(lambda m: chr(int(m[1], 8)), line.split()[4])) for line in lines if line.strip()]


def unmount_stale() -> list[Path]:
    """Unmount every workspace disk on this machine whose mounting process is gone; what cannot be unmounted (a
    shell's current folder in it) is logged and left.

    Returns:
        The workspaces unmounted.
    """
    cleared = []
    for target in _mount_points():
        if target.name and owner_file(target).exists():
            try:
                if clear_stale_mount(target):
                    cleared.append(target)
            except SandboxError as error:
                logger.warning("%s", error)
    return cleared


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
    try:
        clear_stale_mount(workspace)  # a killed runner's: mounted afresh below, owned by this process
    except SandboxError as error:  # still busy (a leftover shell in it): taken over as it is
        logger.warning("%s; using the mount as it is", error)
    if os.path.ismount(workspace):
        if image_of(workspace).exists():
            _record_owner(workspace)  # the last to mount unmounts (sandboxes already running keep their view)
        return True
    image = image_of(workspace)
    if not image.exists():
        if workspace.is_dir() and any(workspace.iterdir()):
            return False
        make_image(image, size_mb, owner=owner)
    workspace.mkdir(parents=True, exist_ok=True)
    _mount(image, workspace, f"cannot mount the disk of {workspace}")
    with contextlib.suppress(OSError):  # mkfs's lost+found would show in the agent's workspace
        (workspace / "lost+found").rmdir()
    return True


def _mount(image: Path, workspace: Path, what: str) -> None:
    _record_owner(workspace)  # first: a kill between the two leaves a record, never a mount no one owns
    try:
        _run(["mount", "-o", MOUNT_OPTIONS, str(image), str(workspace)], what)
    except BaseException:
        owner_file(workspace).unlink(missing_ok=True)
        raise


def unmount_workspace(workspace: Path) -> None:
    """Unmount a workspace's disk from the host (sandboxes still running keep theirs)."""
    if os.path.ismount(workspace) and image_of(workspace).exists():
        _unmount(workspace)


@contextlib.contextmanager
def open_workspace(workspace: Path) -> Iterator[Path]:
    """A workspace's files at its path for the `with` block, its disk mounted for the time if it has one.

    Example:
        with open_workspace(Path(run.workspace)) as folder:
            print((folder / "answer.txt").read_text())
    """
    clear_stale_mount(workspace)
    mounted = not os.path.ismount(workspace) and image_of(workspace).exists()
    if mounted:
        workspace.mkdir(parents=True, exist_ok=True)
        _mount(image_of(workspace), workspace, f"cannot mount {workspace}")
    try:
        yield workspace
    finally:
        if mounted:
            _unmount(workspace)


def remove_workspace(workspace: Path) -> None:
    """Remove a workspace and its disk image (unmounted first, whoever mounted it)."""
    unmount_workspace(workspace)
    shutil.rmtree(workspace, ignore_errors=True)
    image_of(workspace).unlink(missing_ok=True)
    owner_file(workspace).unlink(missing_ok=True)
