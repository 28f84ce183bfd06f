"""The deployment across (stand-in) hosts: SuperLink and SuperNodes in separate network
namespaces, talking TLS to the SuperLink's address, admitted by node authentication.

Why: docs/flower.md's multi-machine recipe is only worth something if it was run as written
across a network. `NamespaceCluster` is `LocalCluster` with its components placed in the
namespaces of a `fl_engine.flower.netns.Network`: the SuperLink and the ``flwr`` CLI in the hub
(namespace 0, listening on the hub's address only), SuperNode ``i`` and its ClientApp executor
together in namespace ``1 + i % (hosts - 1)``. With `tls` the SuperLink serves HTTPS with that
certificate and every SuperNode and the CLI verify it against the CA; with `node_keys` the
SuperLink runs ``--enable-supernode-auth``, each public key is registered with ``flwr supernode
register`` before any SuperNode starts, and SuperNode ``i`` signs with private key ``i``.
`try_join` starts one more SuperNode with other credentials and reports whether it was let in.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fl_engine.flower.cluster import BIN, LocalCluster, connection_toml, key_values
from fl_engine.flower.netns import Network, exec_argv, wait_port_in
from fl_engine.flower.tls import NodeKey, ServerTls


@dataclass
class NamespaceCluster(LocalCluster):
    """`LocalCluster` spread over a `Network`'s namespaces, with TLS and node keys."""

    net: Network | None = None
    tls: ServerTls | None = None
    node_keys: Sequence[NodeKey] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.net is None or not self.net.made:
            raise ValueError("NamespaceCluster needs a created Network")
        if self.node_keys and self.tls is None:
            raise ValueError("node authentication needs TLS")
        if self.node_keys and len(self.node_keys) != len(self.node_configs):
            raise ValueError("one node key per SuperNode")
        self.host = self.net.address(0)

    @property
    def network(self) -> Network:
        assert self.net is not None  # checked in __post_init__
        return self.net

    def namespace(self, name: str) -> str:
        """Where component ``name`` runs: the hub for the SuperLink and CLI, else its node's."""
        digits = "".join(c for c in name if c.isdigit())
        if not digits:
            return self.network.name(0)
        return self.network.name(1 + int(digits) % (self.network.hosts - 1))

    def command(self, name: str, argv: list[str]) -> list[str]:
        return exec_argv(self.namespace(name), argv)

    def link_security(self) -> list[str]:
        if self.tls is None:
            return ["--insecure"]
        flags = ["--ssl-certfile", str(self.tls.cert), "--ssl-keyfile", str(self.tls.key)]
        flags += ["--ssl-ca-certfile", str(self.tls.ca_cert)]
        return flags + (["--enable-supernode-auth"] if self.node_keys else [])

    def node_security(self, index: int) -> list[str]:
        if self.tls is None:
            return ["--insecure"]
        flags = ["--root-certificates", str(self.tls.ca_cert)]
        if self.node_keys:
            flags += ["--auth-supernode-private-key", str(self.node_keys[index].private)]
        return flags

    def connection(self) -> str:
        if self.tls is None:
            return connection_toml("tycoon", self.address, True)
        return connection_toml("tycoon", self.address, False, str(self.tls.ca_cert))

    def listening(self, port: int, timeout_s: float) -> bool:
        return wait_port_in(self.network.name(0), self.host, port, timeout_s)

    def admit(self) -> None:
        """Register every SuperNode's public key (``flwr supernode register KEY tycoon``)."""
        for key in self.node_keys:
            self.flwr("supernode", "register", str(key.public), "tycoon", "--format", "json")


@dataclass
class Attempt:
    """How a SuperNode that tried to join ended: exit code (None: still running when given up
    on, then killed), whether it ever got a node id, and its log."""

    name: str
    returncode: int | None
    joined: bool
    log: str = field(repr=False)

    @property
    def refused(self) -> bool:
        return not self.joined and self.returncode not in (None, 0)


def try_join(
    cluster: NamespaceCluster,
    attempts: dict[str, tuple[Path | None, Path]],
    host: int = 1,
    timeout_s: float = 90.0,
) -> list[Attempt]:
    """Start one stock ``flower-supernode`` per ``name: (private key or None, CA certificate)``
    in namespace ``host``, all at once, each allowed one retry; wait until each exits (or
    ``timeout_s``, then kill it). A refused node exits with an error; an admitted one logs its
    ``SuperNode ID`` (and is stopped here)."""
    namespace = cluster.network.name(host)
    started = []
    for offset, (name, (key, ca)) in enumerate(attempts.items()):
        argv = [str(BIN / "flower-supernode"), "--superlink", cluster.address]
        argv += ["--root-certificates", str(ca), "--max-retries", "1", "--max-wait-time", "20"]
        if key is not None:
            argv += ["--auth-supernode-private-key", str(key)]
        config = {"partition-id": 0, "num-partitions": 1, "data-dir": ""}
        argv += ["--host", "127.0.0.1", "--port", str(9300 + offset)]
        argv += ["--isolation", "process", "--node-config", key_values(config)]
        env = cluster.env(cluster.root / name)
        started.append(cluster.procs.start(name, exec_argv(namespace, argv), env))
    end = time.monotonic() + timeout_s
    while time.monotonic() < end and any(s.popen.poll() is None for s in started):
        if any("SuperNode ID" in _read(s.log_path) for s in started):
            break  # one got in: no need to wait for the others' verdicts
        time.sleep(0.2)
    results = []
    for item in started:
        code = item.popen.poll()
        if code is None:
            cluster.procs.kill_tree(item.name)
        log = _read(item.log_path)
        results.append(Attempt(item.name, code, "SuperNode ID" in log, log))
    return results


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def net_namespace(pid: int) -> int | None:
    """The inode of process ``pid``'s network namespace (None once it is gone)."""
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None


def namespace_inodes(net: Network) -> dict[int, str]:
    """Inode -> name of each namespace of ``net``."""
    return {os.stat(f"/run/netns/{name}").st_ino: name for name in net.made}


__all__ = ["Attempt", "NamespaceCluster", "namespace_inodes", "net_namespace", "try_join"]
