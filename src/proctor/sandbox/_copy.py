"""Copying a host folder into a sandbox as a tar stream, never following a symbolic link out of it."""

from __future__ import annotations

import io
import os
import shlex
import stat
import tarfile
from pathlib import Path

from proctor.sandbox._base import Sandbox, SandboxError


def check_link(link: Path, root: Path) -> None:
    """Refuse a symbolic link under `root` whose target leads out of `root` (or is absolute).

    Raises:
        SandboxError: naming the link and where it leads.
    """
    target = os.readlink(link)
    inside = os.path.normpath(os.path.join(os.path.dirname(link.relative_to(root)), target))
    if os.path.isabs(target) or inside == ".." or inside.startswith("../"):
        raise SandboxError(
            f"{link}: symbolic link to {target} leads out of {root}; replace it with the file itself or a link "
            "inside the folder"
        )


def folder_entries(root: Path) -> list[Path]:
    """Every path under `root`, parents first, without following links; links leading out are refused.

    Raises:
        SandboxError: `root` is a link or not a folder, or a link under it leads out of it.
    """
    if root.is_symlink() or not root.is_dir():
        what = "is a symbolic link" if root.is_symlink() else "is not a folder"
        raise SandboxError(f"{root}: {what}; task folders are copied as they are, never through links")
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):  # os.walk does not descend into linked folders
        dirs.sort()
        for name in [*sorted(dirs), *sorted(files)]:
            path = Path(folder, name)
            if path.is_symlink():
                check_link(path, root)
            found.append(path)
    return found


def _add_file(archive: tarfile.TarFile, path: Path, info: tarfile.TarInfo) -> None:
    # O_NOFOLLOW: a file swapped for a link since it was listed is refused, not followed.
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as file:
        st = os.fstat(file.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise SandboxError(f"{path}: not a regular file")
        info.size = st.st_size
        archive.addfile(info, file)


def pack(root: Path) -> bytes:
    """A tar of the folder's contents: files, folders and links that stay inside, owned by root, modes kept
    without setuid bits.

    Raises:
        SandboxError: a link leads out of the folder, or an entry is neither file, folder nor link.
    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path in folder_entries(root):
            st = path.lstat()
            info = tarfile.TarInfo(str(path.relative_to(root)))
            info.mode, info.mtime = stat.S_IMODE(st.st_mode) & 0o777, int(st.st_mtime)
            if stat.S_ISLNK(st.st_mode):
                info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
                archive.addfile(info)
            elif stat.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            elif stat.S_ISREG(st.st_mode):
                _add_file(archive, path, info)
            else:
                raise SandboxError(f"{path}: neither a file, a folder nor a link; remove it from the task")
    return buffer.getvalue()


async def copy_in(sandbox: Sandbox, source: Path, target: str, *, as_root: bool) -> None:
    """Copy the folder `source` into the sandbox at `target` (made if missing), through the command's input.

    As root the copy belongs to root; otherwise to the agent.

    Raises:
        SandboxError: a link leads out of `source`, or the copy failed in the sandbox.
    """
    quoted = shlex.quote(target)
    result = await sandbox.exec(
        f"mkdir -p {quoted} && tar -x -f - -C {quoted} --no-same-owner",
        as_root=as_root,
        stdin=pack(source),
    )
    if result.exit_code != 0:
        raise SandboxError(f"copying {source} to {target} in the sandbox failed: {result.stderr.strip()}")
