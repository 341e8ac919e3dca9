"""Layered system folders: a family's install() writes, as root inside a sandbox with network, a layer over the
host's /usr, /etc and /var (`apt-get install`, `pip install`, as in METR's Dockerfile); its runs start from that
layer with a writable one of their own on top, thrown away when the run ends.

How, as measured on Debian 12 (kernel 6.18, bubblewrap 0.8, util-linux 2.38), when proctor runs as root:

- Root inside a sandbox is host uid `uid_base`. The host's system files are host root's, a uid the sandbox does
  not map, so root inside may not write them and overlayfs refuses to copy them up for it. Each host folder is
  therefore cloned as a read-only *idmapped mount* (`open_tree`, `mount_setattr(MOUNT_ATTR_IDMAP)`; kernel 5.12,
  under overlayfs 5.19) in which host uid N shows as `uid_base + N`: host root's files are root inside's, and the
  host's own folders are never written. util-linux 2.38's `mount` ignores `X-mount.idmap`, hence the syscalls.
- Over the clone, overlayfs, mounted by host root in a private mount namespace that only the sandbox inherits, with
  an upper folder of plain host files: what root inside writes belongs to host uid `uid_base`, never to host root.
- Between them a *base* made for each sandbox, since the clone would show host root's private files as root
  inside's own: /etc/passwd and /etc/group with `agent`, /etc/shadow without hashes, empty stand-ins for what
  others may not read, and of /var only what package managers use (not proctor's workspaces, nor other services').
- bubblewrap, started as uid `uid_base`, binds the merged folders. The launcher (this file, run as a script by
  root, importing no more than the standard library) makes the namespace and the mounts, then becomes `uid_base`
  and runs bubblewrap; the mounts end with the sandbox's last process.
"""

from __future__ import annotations

import ctypes
import functools
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, NoReturn

UID_COUNT = 65536
NEW_TREES = {"root": 0o700, "opt": 0o755}
"""Folders that start empty (the host's are not shown) and keep what install() puts there."""
VAR_SHOWN = {"cache/apt", "cache/debconf", "cache/ldconfig", "lib/apt", "lib/dpkg", "lib/misc", "lib/pam", "local"}
VAR_SHOWN |= {"lib/python", "lib/sgml-base", "lib/systemd", "lib/ucf", "lib/xml-core", "opt"}
"""What of the host's /var a layered sandbox sees: the package managers' state. The rest is hidden."""
VAR_EMPTY = {"log": 0o755, "tmp": 0o1777}
"""Folders of /var shown empty; /var/run and /var/lock are links to the sandbox's /run."""
MOUNTS = Path("/run/proctor-layers")
"""Where the launcher mounts, in its own namespace: empty folders on the host, reachable by bubblewrap."""
_PLAIN = (stat.S_IFREG, stat.S_IFDIR)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_CLONE_NEWNS, _CLONE_NEWUSER, _MS_REC, _MS_PRIVATE, _MS_NOSUID, _MS_NODEV = 0x20000, 0x10000000, 0x4000, 1 << 18, 2, 4
_SYS_OPEN_TREE, _SYS_MOVE_MOUNT, _SYS_MOUNT_SETATTR = 428, 429, 442  # the same on every architecture
_AT_FDCWD, _AT_EMPTY_PATH, _OPEN_TREE_CLONE, _MOVE_MOUNT_F_EMPTY_PATH = -100, 0x1000, 1, 4
_MOUNT_ATTR_RDONLY, _MOUNT_ATTR_NOSUID, _MOUNT_ATTR_NODEV, _MOUNT_ATTR_IDMAP = 1, 2, 4, 0x100000


@functools.cache
def host_trees() -> tuple[str, ...]:
    """Host folders a layered sandbox sees (idmapped, under the base); /bin, /lib... only where they are not links."""
    tops = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
    return ("usr", "etc", "var", *(t for t in tops if os.path.isdir(f"/{t}") and not os.path.islink(f"/{t}")))


def _error(message: str) -> Exception:
    from proctor.sandbox._base import SandboxError  # here, not above: the launcher runs this file without proctor

    return SandboxError(message)


def default_layer_cache() -> Path:
    """Where layers are kept: beside installed METR families, `$PROCTOR_CACHE_DIR/metr/layers`, else under the
    user's cache folder."""
    configured = os.environ.get("PROCTOR_CACHE_DIR")
    if not configured:
        import platformdirs  # here, not above: the launcher runs this file with the standard library only

        configured = platformdirs.user_cache_dir("proctor")
    return Path(configured) / "metr" / "layers"


def _private(folder: Path, mode: int = 0o700) -> Path:
    folder.mkdir(mode=mode, parents=True, exist_ok=True)
    st = folder.lstat()
    if folder.is_symlink() or st.st_uid != 0 or st.st_mode & 0o022 or st.st_mode & 0o777 & ~mode:
        raise _error(
            f"refusing {folder} for sandbox layers: it must be root's, mode {mode:o} at most (has uid "
            f"{st.st_uid}, mode {st.st_mode & 0o7777:o}); remove it, or set PROCTOR_CACHE_DIR"
        )
    if any(c in str(folder) for c in ",:\\"):
        raise _error(f"{folder} has ',', ':' or '\\', which overlayfs options cannot hold: set PROCTOR_CACHE_DIR")
    return folder


class Layer:
    """A family's layer: what its install() changed in the system folders, one folder per tree (`usr`, `etc`,
    `var`, `root`...), as overlayfs left it (whiteouts included), owned by the sandbox's host uids.

    Example:
        layer = Layer(family_digest)
        if not layer.ready: build it with `LayeredRoot(layer, install=True, ...)`, then `close(keep=True)`
    """

    def __init__(self, digest: str, cache: Path | None = None) -> None:
        if not _NAME.fullmatch(digest):
            raise _error(f"layer name {digest!r} must be letters, digits, '_', '.' or '-' (a content digest)")
        self.digest = digest
        self.cache = cache if cache is not None else default_layer_cache()
        self.path = self.cache / digest
        """The finished layer; it exists only once an install sandbox committed it."""

    @property
    def ready(self) -> bool:
        return self.path.is_dir()

    def remove(self) -> None:
        """Delete the layer (runs started from it must have ended), so the next install rebuilds it."""
        shutil.rmtree(self.path, ignore_errors=True)


class LayeredRoot:
    """One sandbox's system folders: the host's (idmapped, read-only), a base, the family's layer when running,
    and a writable upper folder: the layer being built (install), or the run's own, removed by `close()`, on a
    file system of `disk_mb` MiB of its own (an image the launcher mounts).

    Usage: `prepare()`, start bubblewrap as `[*launcher(), bwrap, ..., *bwrap_args(), ...]` *as host root* (the
    launcher drops to `uid_base`), let the sandbox end, then `close(keep=...)`.
    """

    def __init__(
        self, layer: Layer, *, install: bool, uid_base: int, agent_uid: int = 1000, disk_mb: int = 8192
    ) -> None:
        if install and layer.ready:
            raise _error(f"layer {layer.digest} is already built: start run sandboxes from it, or remove() it")
        if not install and not layer.ready:
            raise _error(f"layer {layer.digest} is not built: run the family's install in an install sandbox")
        if os.geteuid() != 0:
            raise _error("layered sandboxes need proctor to run as root (idmapped mounts and overlayfs need it)")
        self.layer, self.install, self.uid_base, self.agent_uid = layer, install, uid_base, agent_uid
        self.disk_mb = disk_mb
        name = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.scratch = layer.cache / ".scratch" / name
        """This sandbox's base, upper and work folders (private)."""
        self.rw = self.scratch if install else self.scratch / "rw"
        """Where the upper and work folders are: for a run, the mount point of their disk image."""
        self.mounts = MOUNTS / name
        self.trees = (*host_trees(), *NEW_TREES)

    def _shift(self, st: os.stat_result) -> tuple[int, int]:
        """Host owner -> the owner a file must have on disk to show inside as the host's does through the clone."""
        uid, gid = (i if i < UID_COUNT else 65534 for i in (st.st_uid, st.st_gid))
        return self.uid_base + uid, self.uid_base + gid

    def _like(self, target: Path, st: os.stat_result) -> None:
        os.chown(target, *self._shift(st), follow_symlinks=False)
        if not stat.S_ISLNK(st.st_mode):
            os.chmod(target, stat.S_IMODE(st.st_mode))

    def prepare(self) -> None:
        """Make this sandbox's folders and its base (about 35 ms: /etc and the shown /var are read)."""
        try:
            self._prepare()
        except BaseException:
            self.close()
            raise

    def _prepare(self) -> None:
        _private(self.layer.cache)
        _private(self.layer.cache / ".scratch")
        os.mkdir(self.scratch, 0o700)
        _private(MOUNTS, 0o711)
        for tree in self.trees:
            st = os.stat(f"/{tree}") if tree in host_trees() else os.stat("/")
            for made in (self.scratch / "base" / tree, self.rw / "upper" / tree):
                made.mkdir(parents=True)
                self._like(made, st)
                if tree in NEW_TREES:
                    os.chmod(made, NEW_TREES[tree])
            (self.rw / "work" / tree).mkdir(parents=True)
            for kind in ("host", "root") if tree in host_trees() else ("root",):
                (self.mounts / kind / tree).mkdir(parents=True, mode=0o711)
        os.chmod(self.mounts, 0o711)
        self._fill_base(self.scratch / "base")
        if not self.install:  # the run's writes go to an image of their own; its mount point starts empty
            from proctor.sandbox._disk import make_image  # here, not above, as in _error

            make_image(self.scratch / "rw.disk", self.disk_mb, owner=0, content=self.rw)
            shutil.rmtree(self.rw)
            os.mkdir(self.rw, 0o700)

    def _fill_base(self, base: Path) -> None:
        shown = ["/etc"]
        for name in sorted(os.listdir("/var")):
            inside = {s.split("/")[1] for s in VAR_SHOWN if s.startswith(f"{name}/")}
            if name in VAR_SHOWN:
                shown.append(f"/var/{name}")
            elif inside and os.path.isdir(f"/var/{name}") and not os.path.islink(f"/var/{name}"):
                self._mirror(base, f"var/{name}")
                for child in sorted(os.listdir(f"/var/{name}")):
                    if child in inside:
                        shown.append(f"/var/{name}/{child}")
                    else:
                        os.mknod(base / "var" / name / child, stat.S_IFCHR, os.makedev(0, 0))  # a whiteout
            elif name not in VAR_EMPTY and name not in ("run", "lock"):
                os.mknod(base / "var" / name, stat.S_IFCHR, os.makedev(0, 0))
        for name, mode in VAR_EMPTY.items():
            self._stand_in(base / "var" / name, os.stat("/"), stat.S_IFDIR | mode)
        for name, target in (("run", "/run"), ("lock", "/run/lock")):
            os.symlink(target, base / "var" / name)
            os.lchown(base / "var" / name, self.uid_base, self.uid_base)
        for top in shown:
            if self._hidden(base, os.path.dirname(top), os.path.basename(top)):
                continue
            for folder, dirs, files in os.walk(top):
                dirs[:] = [d for d in dirs if not self._hidden(base, folder, d)]  # a hidden folder's content too
                for entry in files:
                    self._hidden(base, folder, entry)
        self._accounts(base / "etc")

    def _hidden(self, base: Path, folder: str, entry: str) -> bool:
        """Whether host file folder/entry is hidden: others may not read it (or enter the folder), or it is no file,
        folder or link (a socket could reach a host service); if so, an empty stand-in is put in the base."""
        st = os.lstat(os.path.join(folder, entry))
        wanted = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(st.st_mode) else 0)
        if stat.S_ISLNK(st.st_mode) or (st.st_mode & wanted == wanted and stat.S_IFMT(st.st_mode) in _PLAIN):
            return False
        mode = st.st_mode if stat.S_ISDIR(st.st_mode) else stat.S_IFREG | stat.S_IMODE(st.st_mode)
        self._stand_in(self._mirror(base, folder[1:]) / entry, st, mode)
        return True

    def _mirror(self, base: Path, relative: str) -> Path:
        """base/relative, its folders made as the host's are (a folder's owner and mode show from the top layer)."""
        target = base
        for part in Path(relative).parts:
            target = target / part
            if not target.exists():
                target.mkdir()
                self._like(target, os.stat(base.anchor + str(target.relative_to(base))))
        return target

    def _stand_in(self, target: Path, st: os.stat_result, mode: int) -> None:
        """An empty file, or an empty opaque folder, with the owner and mode of what it hides."""
        if stat.S_ISDIR(mode):
            target.mkdir()
            os.setxattr(target, "trusted.overlay.opaque", b"y")
        else:
            target.touch()
        self._like(target, st)
        os.chmod(target, stat.S_IMODE(mode))

    def _accounts(self, etc: Path) -> None:
        """The host's users and groups with `agent` (replacing whatever had its name or id), without passwords."""
        agent = str(self.agent_uid)

        def kept(path: str) -> list[list[str]]:
            rows = [line.split(":") for line in Path(path).read_text(encoding="utf-8").splitlines()]
            return [row for row in rows if len(row) > 3 and row[0] != "agent" and row[2] != agent]

        users = [*kept("/etc/passwd"), ["agent", "x", agent, agent, "agent", "/home/agent", "/bin/sh"]]
        groups = [*kept("/etc/group"), ["agent", "x", agent, ""]]
        files = {"passwd": users, "group": groups, "shadow": [[u[0], "*", *[""] * 7] for u in users]}
        files["gshadow"] = [[g[0], "*", "", ""] for g in groups]
        for name, rows in files.items():
            path = etc / name
            path.write_text("".join(":".join(row) + "\n" for row in rows), encoding="utf-8")
            host = Path("/etc") / name
            self._like(path, host.stat() if host.exists() else os.stat("/etc/passwd"))

    def _options(self, tree: str) -> str:
        """overlayfs's options for `tree`: lower folders top first (the layer for a run, the base, the host's)."""
        lowers = [] if self.install else [str(self.layer.path / tree)]
        lowers.append(str(self.scratch / "base" / tree))
        lowers += [str(self.mounts / "host" / tree)] if tree in host_trees() else []
        upper, work = self.rw / "upper" / tree, self.rw / "work" / tree
        return f"lowerdir={':'.join(lowers)},upperdir={upper},workdir={work},redirect_dir=off,index=off,metacopy=off"

    def launcher(self) -> list[str]:
        """The command line bubblewrap's must follow: it mounts, becomes `uid_base`, and runs the rest. Start it
        as host root, with no `user=`; its errors reach bubblewrap's standard error."""
        overlays = [(str(self.mounts / "root" / tree), self._options(tree)) for tree in self.trees]
        host = [(f"/{tree}", str(self.mounts / "host" / tree)) for tree in host_trees()]
        disk = [] if self.install else [str(self.scratch / "rw.disk"), str(self.rw)]
        spec = {"uid": self.uid_base, "host": host, "disk": disk, "overlays": overlays}
        return [sys.executable, "-I", "-S", str(Path(__file__).resolve()), json.dumps(spec), "--"]

    def bwrap_args(self) -> list[str]:
        """bubblewrap's binds of the layered folders, replacing `--ro-bind /usr /usr`, `--ro-bind /etc /etc`,
        `--ro-bind` of /bin, /lib... where they are folders, `--tmpfs /root` and the `--ro-bind-data` /etc/passwd
        and /etc/group (the base has them)."""
        return [arg for tree in self.trees for arg in ("--bind", str(self.mounts / "root" / tree), f"/{tree}")]

    def close(self, *, keep: bool = False) -> None:
        """Once the sandbox has ended: remove this sandbox's folders; for an install with `keep`, its upper folder
        becomes the layer first (unless another install of the same layer finished before)."""
        if keep and not self.install:
            raise _error("only an install sandbox's layer can be kept: pass keep=False for a run")
        if keep:
            try:
                (self.scratch / "upper").rename(self.layer.path)
            except OSError as e:
                if not self.layer.ready:  # else another install of this layer finished first: keep that one
                    raise _error(f"cannot keep layer {self.layer.digest}: {e}; check {self.layer.cache}") from e
        shutil.rmtree(self.scratch, ignore_errors=True)
        shutil.rmtree(self.mounts, ignore_errors=True)


def remove_stale(cache: Path | None = None) -> list[Path]:
    """Remove what sandboxes of proctor processes now gone left (their scratch folders and mount points)."""
    removed = []
    for folder in [*((cache or default_layer_cache()) / ".scratch").glob("*-*"), *MOUNTS.glob("*-*")]:
        pid = int(folder.name.split("-")[0]) if folder.name.split("-")[0].isdigit() else 0
        if pid and not os.path.exists(f"/proc/{pid}"):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _fail(what: str, fix: str) -> NoReturn:
    raise SystemExit(f"proctor layers: {what} failed: {os.strerror(ctypes.get_errno())}; {fix}")


def _idmap_userns(libc: ctypes.CDLL, uid: int) -> int:
    """A user namespace mapping 0..65535 to uid.., for the clones' idmap: a child unshares, we map it."""
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(done_w)
        os.write(ready_w, b"1" if libc.unshare(_CLONE_NEWUSER) == 0 else b"0")
        os.read(done_r, 1)
        os._exit(0)
    if os.read(ready_r, 1) != b"1":
        _fail("unshare(CLONE_NEWUSER)", "allow user namespaces (sysctl user.max_user_namespaces)")
    for kind in ("uid", "gid"):
        Path(f"/proc/{pid}/{kind}_map").write_text(f"0 {uid} {UID_COUNT}\n", encoding="ascii")
    userns = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    os.close(done_w)  # the child ends
    os.waitpid(pid, 0)
    return userns


def _syscall(libc: ctypes.CDLL, number: int, *args: int | bytes | Any) -> int:
    """syscall(2), every integer passed as a long, as the kernel reads them."""
    return int(libc.syscall(ctypes.c_long(number), *(ctypes.c_long(a) if isinstance(a, int) else a for a in args)))


class _MountAttr(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in ("attr_set", "attr_clr", "propagation", "userns_fd")]


def _launch(spec: dict[str, Any], argv: list[str]) -> NoReturn:
    """Run as root: a private mount namespace with the clones and overlays; then bubblewrap, as spec["uid"]."""
    if os.geteuid() != 0:
        raise SystemExit("proctor layers: the launcher must start as root (spawn it without user=); it drops itself")
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    private = ctypes.c_ulong(_MS_REC | _MS_PRIVATE)
    if libc.unshare(_CLONE_NEWNS) != 0 or libc.mount(b"none", b"/", None, private, None) != 0:
        _fail("a private mount namespace", "run proctor as root")
    userns = _idmap_userns(libc, spec["uid"])
    idmap = _MountAttr(_MOUNT_ATTR_IDMAP | _MOUNT_ATTR_RDONLY | _MOUNT_ATTR_NOSUID | _MOUNT_ATTR_NODEV, 0, 0, userns)
    for source, target in spec["host"]:
        tree = _syscall(libc, _SYS_OPEN_TREE, _AT_FDCWD, source.encode(), _OPEN_TREE_CLONE | os.O_CLOEXEC)
        if tree < 0:
            _fail(f"open_tree({source})", "use kernel 5.12 or later")
        if _syscall(libc, _SYS_MOUNT_SETATTR, tree, b"", _AT_EMPTY_PATH, ctypes.byref(idmap), ctypes.sizeof(idmap)):
            _fail(
                f"an idmapped mount of {source}",
                f"{source} must be on a file system with idmapped mounts (ext4, xfs, btrfs; tmpfs from 6.3)",
            )
        if _syscall(libc, _SYS_MOVE_MOUNT, tree, b"", _AT_FDCWD, target.encode(), _MOVE_MOUNT_F_EMPTY_PATH):
            _fail(f"move_mount to {target}", "check that the folder exists")
        os.close(tree)
    if spec["disk"]:
        image, target = spec["disk"]
        mount = subprocess.run(["mount", "-o", "loop,nosuid,nodev", image, target], capture_output=True, check=False)
        if mount.returncode != 0:
            _fail(f"the writable layer's disk {image}", mount.stderr.decode(errors="replace").strip())
    for target, options in spec["overlays"]:
        flags = ctypes.c_ulong(_MS_NOSUID | _MS_NODEV)
        if libc.mount(b"overlay", target.encode(), b"overlay", flags, options.encode()) != 0:
            _fail(f"overlay on {target} ({options})", "see dmesg; overlayfs needs kernel 5.19 over idmapped layers")
    uid = spec["uid"]
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # from root to another uid: every capability goes
    os.execv(argv[0], argv)


if __name__ == "__main__":
    _launch(json.loads(sys.argv[1]), sys.argv[3:])
