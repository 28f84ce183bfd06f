"""The federated stage on Flower's deployment runtime: a SuperLink and one SuperNode per factory
as separate processes on loopback, the app submitted with ``flwr run``.

Each SuperNode runs ``--isolation process`` beside a long-lived ClientApp executor
(``fl_engine.flower.warm_clientapp``), so torch, the app and the node's partition are loaded
once, not once per message (see docs/flower.md). The rounds are read from the ServerApp's
``rounds.jsonl`` as they land; each record gains ``dropped``: the partition ids that sent no
reply that round (a dead or late node).

Faults: the round waits at most ``round_timeout_s`` and the ServerApp may proceed with
``min_nodes`` of the N nodes (default ceil(N/2)), so a SuperNode that dies mid-run costs
the rounds it misses (at most one timeout each until the SuperLink declares it offline)
and the run completes with the others. A dead SuperLink ends the run with a one-line
`DeploymentError`. Every process started here is stopped on return, on error, on Ctrl-C,
when the caller's `stop()` turns true (`Stopped`, checked every 0.1 s), and, by
`processes.die_with_parent`, when the caller's process dies.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fl_engine.flower import outputs
from fl_engine.flower.cluster import REPO, DeploymentError, LocalCluster, Stopped
from fl_engine.flower.spec import FlowerOutcome, FlowerSpec, OnRound

APP_DIR = REPO / "flower-app"  # as fl_engine.flower.simulation (flwr build rejects "_")
DEFAULT_ROUND_TIMEOUT_S = 120.0
STATUS_EVERY_S = 10.0


def default_min_nodes(nodes: int) -> int:
    """The fewest replies a round goes on with: half the nodes, rounded up."""
    return max(1, math.ceil(nodes / 2))


def node_configs(spec: FlowerSpec) -> list[dict[str, object]]:
    """``--node-config`` of each SuperNode: its partition and where its files are."""
    data_dir = "" if spec.data_dir == Path() else str(spec.data_dir.resolve())
    return [
        {"partition-id": i, "num-partitions": spec.nodes, "data-dir": data_dir}
        for i in range(spec.nodes)
    ]


def with_dropped(record: dict[str, Any], nodes: int) -> dict[str, Any]:
    """``record`` with ``dropped``: partition ids that sent no reply this round (the ServerApp's
    own list where it keeps one: nodes it did not ask are not dropped, `fl_engine.flower.seeded`)."""
    if "dropped" in record:
        return record
    replied = {int(n["node"]) for n in record.get("nodes", [])}
    return {**record, "dropped": [i for i in range(nodes) if i not in replied]}


class Deployment:
    """One deployed run: ``start()``, ``submit()``, iterate ``rounds()``, ``stop()``.

    Use as a context manager so that every process is stopped whatever happens.
    """

    def __init__(
        self,
        spec: FlowerSpec,
        *,
        warm: bool = True,
        fast_poll: bool = True,
        round_timeout_s: float | None = None,
        min_nodes: int | None = None,
        app_dir: Path = APP_DIR,
        make_cluster: Callable[..., LocalCluster] = LocalCluster,
    ) -> None:
        timeout = round_timeout_s or min(spec.round_timeout_s, DEFAULT_ROUND_TIMEOUT_S)
        data_dir = spec.data_dir if spec.data_dir == Path() else spec.data_dir.resolve()
        self.spec = dataclasses.replace(
            spec, round_timeout_s=timeout, out_dir=spec.out_dir.resolve(), data_dir=data_dir
        )
        self.min_nodes = min_nodes or default_min_nodes(spec.nodes)
        self.app_dir = app_dir
        # `make_cluster`: another placement (e.g. `fl_engine.flower.hosts.NamespaceCluster`).
        self.cluster = make_cluster(node_configs(self.spec), warm=warm, fast_poll=fast_poll)
        self.t0 = time.time()
        self.run_id = 0

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.stop()
        if exc_type is None:  # keep the logs of a failed run
            shutil.rmtree(self.cluster.root, ignore_errors=True)

    def start(self, stop: Callable[[], bool] | None = None) -> None:
        """SuperLink and SuperNodes up, all nodes registered (`Stopped` once `stop()`)."""
        self.t0 = time.time()
        self.cluster.start(stop=stop)

    def run_config(self) -> dict[str, object]:
        """The spec's run config, plus the fault settings where the app declares them."""
        config: dict[str, object] = dict(self.spec.to_run_config())
        if self.spec.data_dir == Path():
            config["data-dir"] = ""  # the embedded data set, not the ServerApp's cwd
        declared = _declared_config_keys(self.app_dir)
        if "min-nodes" in declared:
            config["min-nodes"] = self.min_nodes
        return {k: v for k, v in config.items() if k in declared}

    def submit(self) -> int:
        """``flwr run`` the app; the run id."""
        outputs.start(self.spec.out_dir)
        self.run_id = self.cluster.run_app(self.app_dir, self.run_config())
        return self.run_id

    def rounds(
        self, timeout_s: float | None = None, stop: Callable[[], bool] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Each round's record (with ``dropped``) as the ServerApp writes it, until done;
        `Stopped` once `stop()` is true, `DeploymentError` once the SuperLink is dead."""
        try:
            yield from self._rounds(timeout_s, stop)
        except (RuntimeError, TimeoutError, OSError, ValueError) as exc:
            if isinstance(exc, DeploymentError):
                raise
            self.cluster.check_alive()  # a dead SuperLink is the cause, however it showed
            raise

    def _rounds(
        self, timeout_s: float | None, stop: Callable[[], bool] | None
    ) -> Iterator[dict[str, Any]]:
        limit = timeout_s or (self.spec.rounds + 2) * (self.spec.round_timeout_s + 60.0) + 120.0
        end = time.monotonic() + limit
        seen = 0
        next_status = time.monotonic() + STATUS_EVERY_S
        out = self.spec.out_dir
        while True:
            records = outputs.read_rounds(out)
            for record in records[seen:]:
                yield with_dropped(record, self.spec.nodes)
            if len(records) > seen:  # the run is alive: no need to ask (a `flwr ls` is ~1 CPU-s)
                next_status = time.monotonic() + STATUS_EVERY_S
            seen = len(records)
            if (out / outputs.DONE_FILE).exists():
                return
            if stop is not None and stop():
                raise Stopped("the deployment was asked to stop")
            self.cluster.check_alive()
            if time.monotonic() > next_status:
                status = self.cluster.run_status(self.run_id)
                if status.startswith("finished") and not (out / outputs.DONE_FILE).exists():
                    time.sleep(1.0)
                    if not (out / outputs.DONE_FILE).exists():
                        log = self.cluster.run_log(self.run_id)
                        raise RuntimeError(f"run {self.run_id} ended ({status}): {log}")
                next_status = time.monotonic() + STATUS_EVERY_S
            if time.monotonic() > end:
                raise TimeoutError(f"run {self.run_id}: no result after {limit:.0f} s")
            time.sleep(0.1)

    def outcome(self, first_round_at: float | None) -> FlowerOutcome:
        """The finished run, rounds with ``dropped``."""
        rounds = outputs.read_rounds(self.spec.out_dir)
        began = first_round_at if first_round_at is not None else time.time()
        result = outputs.read_outcome(self.spec.out_dir, began - self.t0)
        result.rounds = [with_dropped(r, self.spec.nodes) for r in rounds]
        return result

    def rss_bytes(self) -> int:
        """Resident memory of every process of the deployment, summed."""
        return self.cluster.procs.rss_bytes()

    def kill_node(self, index: int) -> None:
        """SIGKILL SuperNode ``index`` and its executor."""
        self.cluster.kill_node(index)

    def restart_node(self, index: int) -> None:
        """Start SuperNode ``index`` (and its executor) again after ``kill_node``."""
        self.cluster.restart_node(index)

    def stop(self) -> None:
        """Stop every process started for this deployment."""
        self.cluster.stop()

    def alive_pids(self) -> list[int]:
        """Processes of this deployment still running (empty after ``stop``)."""
        return self.cluster.procs.alive_pids()


def run_deployment_runtime(
    spec: FlowerSpec,
    on_round: OnRound | None = None,
    *,
    warm: bool = True,
    round_timeout_s: float | None = None,
    min_nodes: int | None = None,
    on_started: Callable[[Deployment], None] | None = None,
    stop: Callable[[], bool] | None = None,
    make_cluster: Callable[..., LocalCluster] = LocalCluster,
) -> FlowerOutcome:
    """Run ``spec`` on a loopback deployment; ``on_round(round, record)`` after each round;
    `Stopped` (every process stopped) as soon as ``stop()`` is true.

    ``startup_seconds`` counts from the call until the first round began (processes, nodes
    online, ``flwr run``, the ServerApp's start-up).
    """
    with Deployment(
        spec,
        warm=warm,
        round_timeout_s=round_timeout_s,
        min_nodes=min_nodes,
        make_cluster=make_cluster,
    ) as deployment:
        try:
            deployment.start(stop)
            if on_started is not None:
                on_started(deployment)
            deployment.submit()
        except (RuntimeError, TimeoutError, OSError) as exc:
            if not isinstance(exc, DeploymentError):
                deployment.cluster.check_alive()  # a dead SuperLink is the cause
            raise
        first: float | None = None
        for record in deployment.rounds(stop=stop):
            if first is None:
                first = float(record.get("started_at", time.time()))
            if on_round is not None:
                on_round(int(record["round"]), record)
        return deployment.outcome(first)


def _declared_config_keys(app_dir: Path) -> set[str]:
    import tomllib

    data = tomllib.loads((app_dir / "pyproject.toml").read_text())
    config = data.get("tool", {}).get("flwr", {}).get("app", {}).get("config", {})
    return set(_flatten(config))


def _flatten(table: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flatten(value, f"{name}.")
        else:
            yield name
