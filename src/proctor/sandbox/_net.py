"""Internet without the host: pasta (Debian's `passt`) connects a sandbox's network namespace to the outside.

pasta makes a tap interface in the namespace and carries its traffic on ordinary sockets of its own on the host,
as the host user owning the sandbox's user namespace. Measured with passt 0.0~git20230309 (Debian 12):

- The host's loopback is out of reach: 127.0.0.1 inside is the sandbox's own; `--tcp-ns none --udp-ns none` stop
  pasta forwarding the sandbox's loopback ports to the host's (its default), `--no-map-gw` stops it sending what
  goes to the gateway address to the host's loopback (its default too).
- The host's address on its outbound interface is the sandbox's own address, so the host is not reached there.
- Host addresses on other interfaces (docker0, VPNs, veths) are out of TCP's reach: `--outbound-if4` binds pasta's
  TCP sockets to the outbound interface. This pasta does not bind its UDP sockets: UDP still reaches them.
- No IPv6 (`--ipv4-only`): with it, the host's link-local address is reachable, so every host service on `::`.
- Reachable: what the host reaches through its outbound interface (the internet, the gateway, the local network,
  cloud metadata at 169.254.169.254, other addresses of that interface). Filter by pasta's uid on the host.
- CAP_NET_RAW or CAP_NET_ADMIN over the namespace undo this: crafted packets to 127.0.0.1 reach the host's
  loopback, and a re-addressed interface reaches the host's outbound address. The agent has neither; root in a
  sandbox proctor started as root has both unless they leave its bounding set (`-net_raw,-net_admin`).

Names resolve with the host's /etc/resolv.conf (the sandbox sees the host's /etc): that works for resolvers off
loopback; a loopback one (systemd-resolved's 127.0.0.53) would be the sandbox's own loopback, where nothing
answers. Ping gets no answer: pasta relays it on ping sockets, which `net.ipv4.ping_group_range` usually forbids.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import pwd
import shutil
import signal
import socket
import struct
import sys
from pathlib import Path

from proctor.sandbox._base import SandboxError
from proctor.sandbox._process import send_signal

INTERFACE = "eth0"
"""The interface's name inside the sandbox, whatever the host's is called."""
START_TIMEOUT = 10.0
"""Seconds pasta may take to configure the namespace."""
_NS_GET_USERNS = 0xB701  # ioctl: the user namespace owning a namespace, as a new descriptor
_NS_GET_OWNER_UID = 0xB704  # ioctl: the uid that created a user namespace
_SIOCGIFADDR, _SIOCGIFNETMASK = 0x8915, 0x891B


class Internet:
    """A running pasta giving one sandbox's network namespace outbound IPv4; `close()` stops it."""

    def __init__(self, process: asyncio.subprocess.Process, log: int, *, route: tuple[str, str, str]) -> None:
        self._process, self._log = process, log
        self.interface = INTERFACE
        """The interface's name inside the sandbox."""
        self.host_interface, self.address, self.gateway = route
        """The host interface that carries the traffic; the sandbox's address (`a.b.c.d/prefix`, the host's own
        there); its default gateway (the host's)."""

    @property
    def pid(self) -> int:
        """pasta's host pid."""
        return self._process.pid

    async def close(self) -> None:
        """Stop pasta; the sandbox's interface goes with it. Calling it again does nothing."""
        if self._process.returncode is None:
            send_signal(self._process, signal.SIGTERM)
            try:
                await asyncio.wait_for(self._process.wait(), 5)
            except TimeoutError:
                send_signal(self._process)
                await self._process.wait()
        if self._log >= 0:
            os.close(self._log)
            self._log = -1

    def log(self) -> str:
        """What pasta wrote to standard error (warnings and errors only), without its syslog complaints."""
        lines = os.pread(self._log, 1 << 16, 0).decode(errors="replace").splitlines() if self._log >= 0 else []
        return "; ".join(line for line in lines if line and not line.startswith("Failed to send"))


async def attach_internet(pid: int) -> Internet:
    """Give the network namespace of host process `pid` outbound internet, and not the host.

    pasta runs as the uid owning the namespace's user namespace (joining it needs that uid, or root), and ends
    when the calling thread does if `close()` is never called. The module's notes say what is reachable.

    Args:
        pid: The host pid of a process inside the sandbox (for example bubblewrap's `child-pid`).

    Returns:
        The running pasta, with the interface, address and gateway it configured (in about 20 ms).

    Raises:
        SandboxError: passt is not installed, the process or the host's default route is missing, this user
            may not join the namespaces, or pasta failed.
    """
    pasta, setpriv = shutil.which("pasta"), shutil.which("setpriv")
    if pasta is None:
        raise SandboxError("passt not found: apt-get install passt")
    if setpriv is None:
        raise SandboxError("setpriv not found: apt-get install util-linux")
    net, user, owner = _namespaces(pid)
    ready_r, ready_w = os.pipe()
    log = os.memfd_create("pasta-log")
    try:
        host_interface, gateway = _default_route()
        address, prefix = _address(host_interface)
        as_root, gid = os.geteuid() == 0, _gid_of(owner)  # as root, pasta runs as the namespaces' owner
        if as_root:  # pasta, as the owner, reopens it by /proc/self/fd
            os.fchown(ready_w, owner, gid)
        argv = [setpriv, "--pdeathsig", "TERM", "--", pasta, "--foreground", "--quiet", "--config-net"]
        argv += ["--pid", f"/proc/self/fd/{ready_w}", "--userns", f"/proc/self/fd/{user}"]
        argv += ["--netns", f"/proc/self/fd/{net}", "--ns-ifname", INTERFACE, "--ipv4-only"]
        argv += ["--outbound-if4", host_interface, "--address", address, "--netmask", str(prefix)]
        argv += ["--gateway", gateway, "--no-dhcp", "--no-map-gw"]
        argv += ["--tcp-ports", "none", "--udp-ports", "none", "--tcp-ns", "none", "--udp-ns", "none"]
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=log,
            pass_fds=(ready_w, user, net),
            user=owner if as_root else None,
            group=gid if as_root else None,
            extra_groups=[] if as_root else None,
        )
    except BaseException:
        os.close(log)
        os.close(ready_r)
        raise
    finally:
        for fd in (ready_w, user, net):
            os.close(fd)
    internet = Internet(process, log, route=(host_interface, f"{address}/{prefix}", gateway))
    ready = b""
    try:  # pasta writes its pid there once the namespace is configured, or exits, which closes the pipe
        ready = await asyncio.wait_for(asyncio.to_thread(os.read, ready_r, 64), START_TIMEOUT)
    except TimeoutError:
        pass
    finally:
        if not ready:
            message = internet.log()
            await internet.close()  # also ends a read that timed out
        os.close(ready_r)
    if not ready:
        raise SandboxError(f"pasta could not connect the sandbox to the internet: {message or 'no message'}")
    return internet


def internet_available() -> bool:
    """Whether a sandbox could be given the internet here: pasta is installed and the host has a default route."""
    try:
        _default_route()
    except SandboxError:
        return False
    return shutil.which("pasta") is not None


def _default_route() -> tuple[str, str]:
    """The interface and gateway of the host's first IPv4 default route."""
    routes = []
    for line in Path("/proc/net/route").read_text().splitlines()[1:]:
        name, destination, gateway, flags, _, _, metric, mask = line.split()[:8]
        if destination == mask == "00000000" and int(flags, 16) & 3 == 3:  # RTF_UP | RTF_GATEWAY
            routes.append((int(metric), name, socket.inet_ntoa(struct.pack("<I", int(gateway, 16)))))
    if not routes:
        raise SandboxError("the host has no IPv4 default route: connect the host to a network to grant internet")
    return min(routes)[1:]


def _address(interface: str) -> tuple[str, int]:
    """The IPv4 address of a host interface, and its prefix length."""
    request = struct.pack("256s", interface.encode())
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            address = fcntl.ioctl(sock, _SIOCGIFADDR, request)[20:24]
            mask = fcntl.ioctl(sock, _SIOCGIFNETMASK, request)[20:24]
        except OSError as e:
            raise SandboxError(f"the host's outbound interface {interface} has no IPv4 address: {e.strerror}") from e
    return socket.inet_ntoa(address), bin(int.from_bytes(mask, "big")).count("1")


def _namespaces(pid: int) -> tuple[int, int, int]:
    """Descriptors of `pid`'s network namespace and of the user namespace owning it, and that one's owner."""
    try:
        net = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except PermissionError as e:
        raise SandboxError(
            f"process {pid}'s network namespace is another user's: run proctor as the user that started the "
            "sandbox, or as root"
        ) from e
    except OSError as e:
        raise SandboxError(
            f"no network namespace for process {pid} ({e.strerror}): pass the host pid of a "
            "process inside a running sandbox"
        ) from e
    # bubblewrap may nest a user namespace in the one owning the network namespace: pasta must join the owner.
    try:
        user = fcntl.ioctl(net, _NS_GET_USERNS)
    except OSError as e:
        os.close(net)
        raise SandboxError(f"cannot find the user namespace owning process {pid}'s network: {e.strerror}") from e
    owner = bytearray(4)
    fcntl.ioctl(user, _NS_GET_OWNER_UID, owner)
    uid = int.from_bytes(owner, sys.byteorder)
    if os.geteuid() not in (0, uid):
        os.close(net)
        os.close(user)
        raise SandboxError(
            f"process {pid}'s network namespace belongs to uid {uid}, not to uid {os.geteuid()}: run proctor as "
            "the user that started the sandbox, or as root"
        )
    return net, user, uid


def _gid_of(uid: int) -> int:
    """The primary group of `uid`, or the same number if it has no account (as proctor's sandbox uids)."""
    try:
        return pwd.getpwuid(uid).pw_gid
    except KeyError:
        return uid
