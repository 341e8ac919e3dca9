"""Internet without the host: pasta against real bubblewrap namespaces and real network namespaces (run as root).

Nothing here uses the machine's own network. Each test builds a small world: a "host" network namespace, where
proctor's side (and so pasta) runs, with a loopback service, a service on all addresses, an outbound interface
(198.18.0.2/24, default route via 198.18.0.1) and a second interface (198.18.5.2/24); and an "outside" namespace
behind the outbound interface: the gateway, and a server further away at 198.19.0.1. A bubblewrap sandbox, started
as an unprivileged uid as proctor starts them, holds the namespaces that get the internet.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from proctor.sandbox._base import SandboxError
from proctor.sandbox._net import attach_internet

OWNER = 200000  # the host uid the sandbox runs as, which owns its user namespace
GATEWAY, REMOTE, HOST_ADDRESS, HOST_SIDE_ADDRESS = "198.18.0.1", "198.19.0.1", "198.18.0.2", "198.18.5.2"

SERVER = r"""
import socket, sys, threading
name, address = sys.argv[1], sys.argv[2]
tcp = socket.create_server((address, 0))
port = tcp.getsockname()[1]
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind((address, port))
def answer_udp():
    while True:
        _, peer = udp.recvfrom(100)
        udp.sendto(f"{name} {peer[0]}".encode(), peer)
threading.Thread(target=answer_udp, daemon=True).start()
print(port, flush=True)
while True:
    conn, peer = tcp.accept()
    conn.sendall(f"{name} {peer[0]}\n".encode())
    conn.close()
"""

# Run inside the sandbox: optionally serve on the sandbox's own loopback, then say who answers at each target
# ("tcp:ADDRESS:PORT" or "udp:..."): the answering server's name and the address it saw, or the error.
PROBE = r"""
import errno, json, socket, sys, threading
serve = int(sys.argv[1])
if serve:
    server = socket.create_server(("127.0.0.1", serve))
    def answer():
        while True:
            conn, _ = server.accept()
            conn.sendall(b"sandbox-loopback\n")
            conn.close()
    threading.Thread(target=answer, daemon=True).start()
results = {}
for target in sys.argv[2:]:
    kind, address, port = target.split(":")
    try:
        if kind == "tcp":
            with socket.create_connection((address, int(port)), timeout=1) as conn:
                results[target] = conn.recv(100).decode().strip()
        else:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as conn:
                conn.settimeout(1)
                conn.connect((address, int(port)))  # connected, so that a port unreachable shows as refused
                conn.send(b"?")
                results[target] = conn.recv(100).decode().strip()
    except OSError as e:
        results[target] = errno.errorcode.get(e.errno or 0, type(e).__name__)
print(json.dumps(results))
"""

# proctor's side: joins the world's host namespace, becomes `uid` if one is given (proctor run by an ordinary
# user), attaches, reports, and holds pasta until its standard input closes.
ATTACH = r"""
import asyncio, concurrent.futures.thread, ctypes, json, os, sys, time
from proctor.sandbox._base import SandboxError
from proctor.sandbox._net import attach_internet
pid, netns, uid = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
if ctypes.CDLL(None, use_errno=True).setns(os.open(netns, os.O_RDONLY), 0x40000000) != 0:  # CLONE_NEWNET
    raise OSError(ctypes.get_errno(), "setns")
if uid:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
async def main():
    start = time.perf_counter()
    try:
        internet = await attach_internet(pid)
    except SandboxError as e:
        print(json.dumps({"error": str(e)}), flush=True)
        return
    seconds = time.perf_counter() - start
    fields = ("interface", "address", "gateway", "host_interface", "pid")
    print(json.dumps({"seconds": seconds, **{name: getattr(internet, name) for name in fields}}), flush=True)
    await asyncio.to_thread(sys.stdin.read)
    await internet.close()
asyncio.run(main())
"""


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@dataclass
class World:
    """The host and outside namespaces, and the ports their servers listen on."""

    host: str
    outside: str
    loopback_port: int
    """The host's service on 127.0.0.1 (TCP and UDP)."""
    any_port: int
    """The host's service on all its addresses (TCP and UDP)."""
    outside_port: int
    """The outside's service on all its addresses, the gateway's and 198.19.0.1."""

    @property
    def host_netns(self) -> str:
        return f"/run/netns/{self.host}"


@pytest.fixture
def world() -> Iterator[World]:
    token = uuid.uuid4().hex[:8]
    host, outside = f"proctor-test-host-{token}", f"proctor-test-out-{token}"
    servers: list[subprocess.Popen[str]] = []

    def serve(netns: str, name: str, address: str) -> int:
        argv = ["ip", "netns", "exec", netns, "/usr/bin/python3", "-c", SERVER, name, address]
        servers.append(subprocess.Popen(argv, stdout=subprocess.PIPE, text=True))
        assert servers[-1].stdout is not None
        return int(servers[-1].stdout.readline())

    try:
        ip("netns", "add", host)
        ip("netns", "add", outside)
        ip("-n", host, "link", "add", "up0", "type", "veth", "peer", "name", "up1", "netns", outside)
        ip("-n", host, "link", "add", "side0", "type", "veth", "peer", "name", "side1", "netns", outside)
        ip("-n", host, "addr", "add", f"{HOST_ADDRESS}/24", "dev", "up0")
        ip("-n", host, "addr", "add", f"{HOST_SIDE_ADDRESS}/24", "dev", "side0")
        ip("-n", outside, "addr", "add", f"{GATEWAY}/24", "dev", "up1")
        ip("-n", outside, "addr", "add", f"{REMOTE}/32", "dev", "lo")
        for netns, devices in ((host, ("lo", "up0", "side0")), (outside, ("lo", "up1", "side1"))):
            for device in devices:
                ip("-n", netns, "link", "set", device, "up")
        ip("-n", host, "route", "add", "default", "via", GATEWAY)
        yield World(
            host=host,
            outside=outside,
            loopback_port=serve(host, "host-loopback", "127.0.0.1"),
            any_port=serve(host, "host-any", "0.0.0.0"),
            outside_port=serve(outside, "outside", "0.0.0.0"),
        )
    finally:
        for server in servers:
            server.kill()
            server.wait()
            if server.stdout is not None:
                server.stdout.close()
        for netns in (host, outside):
            subprocess.run(["ip", "netns", "del", netns], capture_output=True, timeout=10)


@pytest.fixture
def sandbox() -> Iterator[int]:
    """A bubblewrap sandbox started as an unprivileged uid; yields the host pid of its first process."""
    info_r, info_w = os.pipe()
    argv = ["bwrap", "--unshare-all", "--unshare-user", "--die-with-parent", "--ro-bind", "/usr", "/usr"]
    argv += ["--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64"]
    argv += ["--ro-bind", "/etc", "/etc", "--proc", "/proc", "--dev", "/dev", "--info-fd", str(info_w)]
    command = ["--", "/bin/sh", "-c", "echo ready; exec sleep infinity"]  # says so once the sandbox is set up
    bwrap = subprocess.Popen(
        [*argv, *command], stdout=subprocess.PIPE, pass_fds=(info_w,), user=OWNER, group=OWNER, extra_groups=[]
    )
    os.close(info_w)
    try:
        data = b""
        with os.fdopen(info_r, "rb") as info:
            while b"}" not in data and (chunk := info.read1(4096)):
                data += chunk
        assert bwrap.stdout is not None and bwrap.stdout.readline() == b"ready\n", "bubblewrap did not start"
        yield int(json.loads(data)["child-pid"])
    finally:
        bwrap.kill()
        bwrap.wait()
        if bwrap.stdout is not None:
            bwrap.stdout.close()


def inside(pid: int, *argv: str) -> str:
    """Run a command in the sandbox's namespaces as its unprivileged user; its standard output."""
    nsenter = ["nsenter", "-t", str(pid), "-U", "-n", "-S", str(OWNER), "-G", str(OWNER), "--"]
    return subprocess.run([*nsenter, *argv], check=True, capture_output=True, text=True, timeout=60).stdout


def probe(pid: int, *targets: str, serve: int = 0) -> dict[str, str]:
    return dict(json.loads(inside(pid, "/usr/bin/python3", "-c", PROBE, str(serve), *targets)))


def interfaces(pid: int) -> dict[str, list[str]]:
    """The sandbox's interfaces that are up, with their IPv4 addresses."""
    links = json.loads(inside(pid, "ip", "-j", "-4", "addr", "show", "up"))
    return {link["ifname"]: [f"{a['local']}/{a['prefixlen']}" for a in link["addr_info"]] for link in links}


def routes(pid: int) -> list[tuple[str, str, str]]:
    return [(r["dst"], r.get("gateway", ""), r["dev"]) for r in json.loads(inside(pid, "ip", "-j", "-4", "route"))]


@contextmanager
def attached(world: World, pid: int, *, uid: int = 0) -> Iterator[tuple[dict[str, object], subprocess.Popen[str]]]:
    """attach_internet run by a proctor process on the world's host (as `uid`, if given); its report."""
    argv = [sys.executable, "-c", ATTACH, str(pid), world.host_netns, str(uid)]
    with subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None and process.stdin is not None
        try:
            yield json.loads(process.stdout.readline()), process
        finally:
            if process.poll() is None:
                process.stdin.close()  # the proctor process calls close() and ends
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
    assert process.returncode in (0, -signal.SIGKILL)


def exited(pid: int, timeout: float = 5.0) -> bool:
    """Whether process `pid` ends within `timeout` seconds (a zombie waiting for init has ended)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        except FileNotFoundError:
            return True
        time.sleep(0.02)
    return False


def test_without_internet_the_sandbox_has_only_loopback(world: World, sandbox: int) -> None:
    assert interfaces(sandbox) == {"lo": ["127.0.0.1/8"]}
    assert routes(sandbox) == []
    assert probe(sandbox, f"tcp:{REMOTE}:{world.outside_port}") == {f"tcp:{REMOTE}:{world.outside_port}": "ENETUNREACH"}


def test_granted_sandbox_gets_an_interface_a_route_and_reaches_past_the_gateway(world: World, sandbox: int) -> None:
    with attached(world, sandbox) as (report, _):
        assert report["interface"] == "eth0" and report["host_interface"] == "up0"
        assert report["address"] == f"{HOST_ADDRESS}/24" and report["gateway"] == GATEWAY
        assert isinstance(report["seconds"], float) and report["seconds"] < 2.0
        assert interfaces(sandbox) == {"lo": ["127.0.0.1/8"], "eth0": [f"{HOST_ADDRESS}/24"]}
        assert ("default", GATEWAY, "eth0") in routes(sandbox)
        port = world.outside_port
        # The outside sees the host's address: pasta carries the traffic on the host's own sockets. (UDP goes to
        # the gateway: the outside's server, on all addresses, answers from the address facing the host.)
        targets = (f"tcp:{REMOTE}:{port}", f"tcp:{GATEWAY}:{port}", f"udp:{GATEWAY}:{port}")
        assert probe(sandbox, *targets) == dict.fromkeys(targets, f"outside {HOST_ADDRESS}")


def test_granted_sandbox_cannot_reach_the_hosts_loopback(world: World, sandbox: int) -> None:
    port = world.loopback_port
    with attached(world, sandbox) as (report, _):
        assert "error" not in report
        # 127.0.0.1 is the sandbox's own (its server on the same port answers); the gateway address is the
        # outside's, where nothing listens on that port, not a way to the host's loopback.
        tcp = probe(sandbox, f"tcp:127.0.0.1:{port}", f"tcp:{GATEWAY}:{port}", serve=port)
        assert tcp[f"tcp:127.0.0.1:{port}"] == "sandbox-loopback"
        assert tcp[f"tcp:{GATEWAY}:{port}"] in ("ECONNREFUSED", "TimeoutError")
        udp = probe(sandbox, f"udp:127.0.0.1:{port}", f"udp:{GATEWAY}:{port}")
        assert udp[f"udp:127.0.0.1:{port}"] == "ECONNREFUSED"  # nothing on the sandbox's own loopback
        assert udp[f"udp:{GATEWAY}:{port}"] in ("ECONNREFUSED", "TimeoutError")


def test_granted_sandbox_cannot_reach_the_hosts_services_by_its_addresses(world: World, sandbox: int) -> None:
    port = world.any_port
    with attached(world, sandbox) as (report, _):
        assert "error" not in report
        # The host's outbound address is the sandbox's own; its other interfaces are out of TCP's reach.
        assert probe(sandbox, f"tcp:{HOST_ADDRESS}:{port}", f"tcp:{HOST_SIDE_ADDRESS}:{port}") == {
            f"tcp:{HOST_ADDRESS}:{port}": "ECONNREFUSED",
            f"tcp:{HOST_SIDE_ADDRESS}:{port}": "TimeoutError",
        }


def test_pasta_never_runs_as_root_and_close_ends_it(world: World, sandbox: int) -> None:
    with attached(world, sandbox) as (report, process):
        pasta = report["pid"]
        assert isinstance(pasta, int)
        status = Path(f"/proc/{pasta}/status").read_text()
        assert f"Uid:\t{OWNER}\t{OWNER}\t{OWNER}\t{OWNER}" in status
        assert f"Gid:\t{OWNER}\t{OWNER}\t{OWNER}\t{OWNER}" in status
        assert re.search(r"^Groups:\s*$", status, re.MULTILINE)
        assert process.stdin is not None
        process.stdin.close()  # proctor's side calls close()
        assert process.wait(10) == 0
    assert exited(pasta)
    assert interfaces(sandbox) == {"lo": ["127.0.0.1/8"]}


def test_pasta_ends_with_the_process_that_started_it(world: World, sandbox: int) -> None:
    with attached(world, sandbox) as (report, process):
        pasta = report["pid"]
        assert isinstance(pasta, int)
        process.kill()  # proctor dies without closing anything
        process.wait()
        assert exited(pasta)
    assert interfaces(sandbox) == {"lo": ["127.0.0.1/8"]}


def test_an_ordinary_user_attaches_its_own_sandbox(world: World, sandbox: int) -> None:
    with attached(world, sandbox, uid=OWNER) as (report, _):
        assert report["address"] == f"{HOST_ADDRESS}/24", report
        target = f"tcp:{REMOTE}:{world.outside_port}"
        assert probe(sandbox, target) == {target: f"outside {HOST_ADDRESS}"}


def test_another_user_is_told_whose_sandbox_it_is(world: World, sandbox: int) -> None:
    with attached(world, sandbox, uid=OWNER + 1) as (report, _):
        assert report == {
            "error": f"process {sandbox}'s network namespace is another user's: run proctor as the user that "
            "started the sandbox, or as root"
        }


async def test_a_missing_process_or_pasta_is_a_sandbox_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(
        SandboxError, match=r"no network namespace for process \d+ \(No such file or directory\): pass the host pid"
    ):
        await attach_internet(2**22 + 1)  # above the largest pid Linux hands out
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SandboxError, match=r"^passt not found: apt-get install passt$"):
        await attach_internet(os.getpid())


def test_internet_is_available_only_with_pasta_and_a_default_route(monkeypatch: pytest.MonkeyPatch) -> None:
    from proctor.sandbox import _net

    assert _net.internet_available() == (shutil.which("pasta") is not None and "00000000" in _default_routes())
    monkeypatch.setenv("PATH", "/nonexistent")
    assert not _net.internet_available()


def _default_routes() -> str:
    return " ".join(line.split()[1] for line in Path("/proc/net/route").read_text().splitlines()[1:])
