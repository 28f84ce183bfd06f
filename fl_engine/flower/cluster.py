"""A SuperLink and N SuperNodes as processes on loopback, and ``flwr run`` against them.

Each SuperNode runs with ``--isolation process`` beside a long-lived ClientApp executor
(:mod:`fl_engine.flower.warm_clientapp`) unless ``warm=False``, which keeps Flower's
default (a fresh ``flwr-clientapp`` process per message).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fl_engine.flower.doorbell import ENV as DOORBELL_ENV
from fl_engine.flower.processes import (
    QUIET_ENV,
    ProcessSet,
    die_with_parent,
    free_ports,
    wait_for_port,
)

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]


class DeploymentError(RuntimeError):
    """A process the deployment cannot go on without has died: one line naming it, how it ended
    and where its log is (the CLI prints it as it is)."""


class Stopped(Exception):
    """The caller's `stop()` turned true: the deployment stops at once, mid-round or starting."""


def ended(code: int) -> str:
    """How a process ended, in words: "killed by SIGKILL", "exit code 1"."""
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


def toml_value(value: object) -> str:
    """One value as TOML writes it (node config, run config)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))


def key_values(config: Mapping[str, object]) -> str:
    """``k1=v1 k2="v2"``, the form ``--node-config`` and ``--run-config`` take."""
    return " ".join(f"{key}={toml_value(value)}" for key, value in config.items())


def connection_toml(name: str, address: str, insecure: bool, root_certificates: str = "") -> str:
    """The ``config.toml`` that ``flwr run APP NAME`` reads from ``$FLWR_HOME``."""
    lines = ["[superlink]", f'default = "{name}"', "", f"[superlink.{name}]"]
    lines.append(f'address = "{address}"')
    if insecure:
        lines.append("insecure = true")
    if root_certificates:
        lines.append(f'root-certificates = "{root_certificates}"')
    return "\n".join(lines) + "\n"


@dataclass
class LocalCluster:
    """SuperLink, SuperNodes and their executors, all under one temporary folder."""

    node_configs: Sequence[Mapping[str, object]]
    warm: bool = True
    fast_poll: bool = True
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="tycoon-flower-")))
    procs: ProcessSet = field(init=False)
    link_port: int = 0
    node_ports: list[int] = field(default_factory=list)
    node_ids: list[int] = field(default_factory=list)
    host: str = "127.0.0.1"  # where the SuperLink listens and the SuperNodes dial it

    def __post_init__(self) -> None:
        self.procs = ProcessSet(self.root / "logs")

    # Hooks: loopback and no TLS here; `fl_engine.flower.hosts` puts components on other hosts.
    def command(self, name: str, argv: list[str]) -> list[str]:
        """``argv`` as component ``name`` (superlink, nodeI, executorI, cli) is to run it."""
        return argv

    def link_security(self) -> list[str]:
        """The SuperLink's TLS / node-authentication flags."""
        return ["--insecure"]

    def node_security(self, index: int) -> list[str]:
        """SuperNode ``index``'s TLS / node-authentication flags."""
        return ["--insecure"]

    def connection(self) -> str:
        """The CLI's ``config.toml`` for this SuperLink."""
        return connection_toml("tycoon", self.address, True)

    def listening(self, port: int, timeout_s: float) -> bool:
        """Whether the SuperLink came to accept connections on ``port`` within ``timeout_s``."""
        return wait_for_port(port, timeout_s, self.host)

    def admit(self) -> None:
        """Between the SuperLink's start and the SuperNodes' (registering node keys)."""

    def env(self, home: Path) -> dict[str, str]:
        """Environment of one component: quiet Flower, its own FLWR_HOME, one thread."""
        home.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **QUIET_ENV, "FLWR_HOME": str(home)}
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
        paths = [str(REPO), *filter(None, [env.get("PYTHONPATH", "")])]
        env["PYTHONPATH"] = os.pathsep.join(paths)
        env.pop(DOORBELL_ENV, None)
        if self.fast_poll:  # our SuperNodes, executors and ServerApp ring instead of polling
            env[DOORBELL_ENV] = str(self.root / "doorbell")
        return env

    @property
    def address(self) -> str:
        return f"{self.host}:{self.link_port}"

    def start(
        self, online_timeout_s: float = 120.0, stop: Callable[[], bool] | None = None
    ) -> None:
        """Start the SuperLink and every SuperNode; return once they all registered (`Stopped`
        as soon as `stop()` is true while they come up)."""
        ports = free_ports(1 + len(self.node_configs))
        self.link_port, self.node_ports = ports[0], ports[1:]
        link = [str(BIN / "flower-superlink"), *self.link_security()]
        link += ["--disable-runtime-dependency-installation"]
        link += ["--host", self.host, "--port", str(self.link_port)]
        link = self.command("superlink", link)
        self.procs.start("superlink", link, self.env(self.root / "superlink"))
        if not self.listening(self.link_port, online_timeout_s):
            raise RuntimeError(f"SuperLink did not listen on {self.address}")
        self.admit()
        for index, config in enumerate(self.node_configs):
            self.start_node(index, config)
        self.wait_online(len(self.node_configs), online_timeout_s, stop)

    def start_node(self, index: int, config: Mapping[str, object]) -> None:
        """One SuperNode (its own port and FLWR_HOME) and, when warm, its executor."""
        port = self.node_ports[index]
        env = self.env(self.root / f"node{index}")
        launcher = [sys.executable, "-m", "fl_engine.flower.fast_supernode"]
        argv = launcher if self.fast_poll else [str(BIN / "flower-supernode")]
        argv += [*self.node_security(index), "--superlink", self.address]
        argv += ["--host", "127.0.0.1", "--port", str(port), "--node-config", key_values(config)]
        if self.warm:
            argv += ["--isolation", "process"]
        node = self.procs.start(f"node{index}", self.command(f"node{index}", argv), env)
        if self.warm:
            executor = [sys.executable, "-m", "fl_engine.flower.warm_clientapp"]
            executor += ["--runtime-api-address", f"127.0.0.1:{port}", "--insecure"]
            executor += ["--parent-pid", str(node.pid)]
            self.procs.start(f"executor{index}", self.command(f"executor{index}", executor), env)

    def flwr(self, *args: str, timeout_s: float = 120.0) -> str:
        """Run the ``flwr`` CLI against this SuperLink; its stdout."""
        home = self.root / "cli"
        if not (home / "config.toml").exists():
            home.mkdir(parents=True, exist_ok=True)
            (home / "config.toml").write_text(self.connection())
        done = subprocess.run(
            self.command("cli", [str(BIN / "flwr"), *args]),
            env=self.env(home),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
            preexec_fn=die_with_parent(),
        )
        if done.returncode != 0:
            raise RuntimeError(f"flwr {' '.join(args[:1])} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def online_nodes(self) -> int:
        """How many SuperNodes the SuperLink lists as online."""
        out = self.flwr("supernode", "list", "tycoon", "--format", "json")
        nodes = json.loads(out).get("nodes", [])
        online = [n for n in nodes if str(n.get("status", "")).lower() == "online"]
        self.node_ids = [int(n["node-id"]) for n in online if "node-id" in n]
        return len(online)

    def wait_online(
        self, count: int, timeout_s: float, stop: Callable[[], bool] | None = None
    ) -> None:
        """Wait for ``count`` SuperNodes to be online (via the SuperNodes' logs)."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            ready = sum(
                1
                for i in range(len(self.node_configs))
                if "SuperNode ID" in self.procs.get(f"node{i}").log_path.read_text(errors="replace")
            )
            if ready >= count:
                return
            if stop is not None and stop():
                raise Stopped("the deployment was asked to stop")
            self.check_alive()
            time.sleep(0.2)
        raise RuntimeError(f"only some of {count} SuperNodes came online in {timeout_s:.0f} s")

    def check_alive(self) -> None:
        """`DeploymentError` if the SuperLink has exited."""
        link = next((p for p in self.procs.started if p.name == "superlink"), None)
        if link is not None and link.popen.poll() is not None:
            raise DeploymentError(
                f"the Flower SuperLink died ({ended(link.popen.returncode)}); its log: "
                f"{link.log_path}"
            )

    def run_app(self, app_dir: Path, run_config: Mapping[str, object]) -> int:
        """``flwr run APP tycoon --run-config ...``; the run id."""
        args = ["run", str(app_dir), "tycoon", "--format", "json"]
        if run_config:
            args += ["--run-config", key_values(run_config)]
        out = self.flwr(*args)
        try:
            return int(json.loads(out)["run-id"])
        except (ValueError, KeyError) as err:
            raise RuntimeError(f"flwr run gave no run id: {out}") from err

    def run_status(self, run_id: int) -> str:
        """The run's status as ``flwr ls`` reports it (e.g. ``finished:completed``)."""
        out = json.loads(self.flwr("ls", "tycoon", "--run-id", str(run_id), "--format", "json"))
        runs = out.get("runs", [])
        return str(runs[0].get("status", "")) if runs else ""

    def run_log(self, run_id: int, chars: int = 4000) -> str:
        """The tail of the run's log as the SuperLink keeps it (ServerApp output)."""
        try:
            return self.flwr("log", str(run_id), "tycoon", "--show", timeout_s=30)[-chars:]
        except (RuntimeError, subprocess.TimeoutExpired) as err:
            return f"(no run log: {err})"

    def restart_node(self, index: int) -> None:
        """Start SuperNode ``index`` again (after `kill_node`): a machine back after a crash.
        It registers as a new node; the ServerApp reports its partition as ``joined``. A fresh
        port: the old one may still be held by the dead node's connections."""
        self.node_ports[index] = free_ports(1)[0]
        self.start_node(index, self.node_configs[index])

    def kill_node(self, index: int) -> None:
        """SIGKILL SuperNode ``index`` and its executor (a crashed machine)."""
        self.procs.kill_tree(f"node{index}")
        if self.warm:
            self.procs.kill_tree(f"executor{index}")

    def stop(self) -> None:
        """Stop every process this cluster started."""
        self.procs.stop_all()

    def logs(self, name: str, chars: int = 3000) -> str:
        """The tail of one component's log."""
        return self.procs.get(name).log_path.read_text(errors="replace")[-chars:]
