"""Linux network namespaces as stand-in hosts: a private network on one machine.

Why: Flower across machines (TLS, node authentication, a SuperLink dialled by address) can be
exercised on one Linux box when each "host" is its own network namespace with its own
interfaces, addresses and loopback. `Network` makes ``hosts`` namespaces named
``PREFIX-0 .. PREFIX-k``; namespace 0 (the hub) holds a bridge ``br0`` with the first address
of the subnet, and every other namespace a veth ``eth0`` whose peer sits in the hub's bridge.
Interfaces are created directly inside the namespaces (``ip link add ... netns``), so the
machine's own namespace never sees them and parallel runs only need distinct prefixes. No
namespace has a default route: a process inside reaches its own loopback and the subnet, and
nothing else.

Needs root and iproute2 (`unavailable()` says why not). `destroy()` SIGKILLs whatever still
runs inside (only processes started there, by whoever created the network) and deletes the
namespaces, which deletes their interfaces.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"


def unavailable() -> str:
    """Why namespaces cannot be made here ("" when they can)."""
    if not hasattr(os, "geteuid") or not os.path.exists("/proc/self/ns/net"):
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add)"
    if shutil.which("ip") is None:
        return "no `ip` command (iproute2) to make network namespaces"
    return ""


def ip(*args: str) -> str:
    """Run ``ip ARGS``; its stdout. A failure raises with ip's own message."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip() or done.returncode}")
    return done.stdout


def exec_argv(namespace: str, argv: Sequence[str]) -> list[str]:
    """``argv`` run inside `namespace` (``ip netns exec`` execs it: same PID, same env)."""
    return ["ip", "netns", "exec", namespace, *argv]


def run_in(namespace: str, call: Callable[[], T]) -> T:
    """``call()`` on a thread that joined `namespace`: its sockets live there. The calling
    thread and the rest of the process stay where they are."""
    libc = ctypes.CDLL(None, use_errno=True)
    box: dict[str, object] = {}

    def target() -> None:
        try:
            fd = os.open(os.path.join(NETNS_DIR, namespace), os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns {namespace}: {os.strerror(err)}")
            finally:
                os.close(fd)
            box["value"] = call()
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"netns-{namespace}", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def port_open_in(namespace: str, host: str, port: int, timeout_s: float = 0.5) -> bool:
    """Whether ``host:port`` accepts TCP connections as seen from inside `namespace`."""

    def probe() -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout_s)
            return sock.connect_ex((host, port)) == 0

    return run_in(namespace, probe)


def wait_port_in(namespace: str, host: str, port: int, timeout_s: float) -> bool:
    """Wait until ``host:port`` accepts connections from inside `namespace`."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if port_open_in(namespace, host, port):
            return True
        time.sleep(0.1)
    return False


def namespaces_named(prefix: str) -> list[str]:
    """Namespaces on this machine whose name starts with `prefix`."""
    out = ip("netns", "list")
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    return sorted(n for n in names if n.startswith(prefix))


@dataclass
class Network:
    """``hosts`` namespaces on one bridged subnet (``{subnet}.1`` is the hub, namespace 0)."""

    prefix: str
    hosts: int = 2
    subnet: str = "10.231.0"  # a /24; private per namespace, so parallel runs may share it
    made: list[str] = field(default_factory=list)

    def name(self, index: int) -> str:
        return f"{self.prefix}-{index}"

    def address(self, index: int) -> str:
        return f"{self.subnet}.{index + 1}"

    def create(self) -> Network:
        """Make the namespaces, bridge and veths; on any failure undo what was made."""
        if self.hosts < 2:
            raise ValueError("a network needs at least two hosts")
        try:
            hub = self.name(0)
            self._namespace(hub)
            ip("-n", hub, "link", "add", "br0", "type", "bridge")
            ip("-n", hub, "addr", "add", f"{self.address(0)}/24", "dev", "br0")
            ip("-n", hub, "link", "set", "br0", "up")
            for index in range(1, self.hosts):
                host, port = self.name(index), f"p{index}"
                self._namespace(host)
                ip(
                    *f"link add name {port} netns {hub} type veth peer name eth0".split(),
                    "netns",
                    host,
                )
                ip("-n", hub, "link", "set", port, "master", "br0", "up")
                ip("-n", host, "addr", "add", f"{self.address(index)}/24", "dev", "eth0")
                ip("-n", host, "link", "set", "eth0", "up")
        except BaseException:
            self.destroy()
            raise
        return self

    def _namespace(self, name: str) -> None:
        ip("netns", "add", name)
        self.made.append(name)
        ip("-n", name, "link", "set", "lo", "up")

    def pids(self) -> dict[str, list[int]]:
        """Processes running inside each of this network's namespaces."""
        found: dict[str, list[int]] = {}
        for name in self.made:
            with contextlib.suppress(RuntimeError):
                found[name] = [int(p) for p in ip("netns", "pids", name).split()]
        return {k: v for k, v in found.items() if v}

    def destroy(self) -> None:
        """SIGKILL what still runs inside, then delete every namespace made (their veths and
        bridge go with them). Safe to call twice."""
        for pids in self.pids().values():
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        for name in reversed(self.made):
            with contextlib.suppress(RuntimeError):
                ip("netns", "delete", name)
        self.made.clear()

    def __enter__(self) -> Network:
        return self.create()

    def __exit__(self, *exc: object) -> None:
        self.destroy()
