"""The federation across hosts (issue 22): Flower's deployment runtime over a network, with TLS
and node authentication, as docs/flower.md's multi-machine recipe says.

The hosts are Linux network namespaces on this machine (`fl_engine.flower.netns`): the SuperLink
and the ``flwr`` CLI in one (10.231.0.1, a bridge), each SuperNode and its ClientApp executor in
its own (10.231.0.2-4, a veth into the bridge), no default route anywhere. Certificates (a CA, the
SuperLink's certificate for 10.231.0.1) and the SuperNodes' keys are made fresh by
`fl_engine.flower.tls`; each public key is registered with ``flwr supernode register`` before the
SuperNodes start. On that one setup:

(a) 3 rounds of FF09 with 3 SuperNodes end with the in-process engine's global model;
(b) SuperNodes with an unregistered key, with no key, or trusting another CA are refused;
(c) every process of the deployment ran inside the namespaces, the SuperLink served HTTPS on the
namespace address only, and no namespace could route anywhere else;
(d) no process, namespace or interface is left afterwards.

Needs root and iproute2 (skipped with the reason otherwise) and Flower (`pip install -e
.[flower]`). `make flower-hosts` runs this file alone.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("flwr")

import torch
from flower_runs import leftovers

from fl_engine.data import Runs
from fl_engine.experiment import (
    ExperimentConfig,
    ExperimentResult,
    FederatedInputs,
    FederatedStage,
    federate_in_process,
    run_experiment,
)
from fl_engine.flower import netns
from fl_engine.flower.deployment import Deployment, run_deployment_runtime
from fl_engine.flower.hosts import (
    Attempt,
    NamespaceCluster,
    namespace_inodes,
    net_namespace,
    try_join,
)
from fl_engine.flower.spec import FlowerOutcome, FlowerSpec, OnRound
from fl_engine.flower.stage import FlowerStage
from fl_engine.flower.tls import write_ca, write_node_key, write_server_tls

REASON = netns.unavailable()
needs_netns = pytest.mark.skipif(bool(REASON), reason=REASON)

NODES, ROUNDS = 3, 3
PREFIX = f"tyco-{os.getpid()}"


@dataclass
class Across:
    """What the one deployment across namespaces gave, gathered while it ran."""

    ref: FederatedStage | None = None  # the in-process federated stage, same inputs
    fl: ExperimentResult | None = None
    stage: FlowerStage | None = None
    deployment: Deployment | None = None
    attempts: list[Attempt] = field(default_factory=list)
    online_after_attempts: int = -1
    process_namespaces: dict[int, str] = field(default_factory=dict)  # pid -> namespace
    routes: dict[str, str] = field(default_factory=dict)
    pids_left_inside: dict[str, list[int]] = field(default_factory=dict)
    namespaces_left: list[str] = field(default_factory=list)
    link_log: str = ""


def _run(runs: Runs, data_dir: Path, folder: Path, net: netns.Network, got: Across) -> None:
    certs = folder / "certs"
    tls = write_server_tls(certs, [net.address(0)])
    keys = [write_node_key(certs / f"factory{i}") for i in range(NODES)]
    stranger, other_ca = write_node_key(certs / "stranger"), write_ca(certs / "other-ca")
    make = functools.partial(NamespaceCluster, net=net, tls=tls, node_keys=keys)
    got.routes = {name: netns.ip("-n", name, "route") for name in net.made}

    def started(deployment: Deployment) -> None:
        got.deployment = deployment
        cluster = deployment.cluster
        assert isinstance(cluster, NamespaceCluster)
        got.attempts = try_join(
            cluster,
            {
                "unregistered": (stranger.private, tls.ca_cert),
                "no-key": (None, tls.ca_cert),
                "wrong-ca": (keys[0].private, other_ca),  # a registered key, the wrong trust
            },
        )
        got.online_after_attempts = cluster.online_nodes()
        got.link_log = cluster.logs("superlink", chars=100_000)  # the folder goes on success

    def runtime(spec: FlowerSpec, on_round: OnRound | None) -> FlowerOutcome:
        inodes = namespace_inodes(net)

        def each(number: int, record: dict[str, Any]) -> None:
            if number == 1 and got.deployment is not None:  # the ServerApp is alive now
                for proc in got.deployment.cluster.procs.scan():
                    got.process_namespaces[proc.pid] = inodes.get(net_namespace(proc.pid) or 0, "")
            if on_round is not None:
                on_round(number, record)

        return run_deployment_runtime(spec, each, on_started=started, make_cluster=make)

    stage = got.stage = FlowerStage(runtime, data_dir, folder / "deployed")

    def both(inputs: FederatedInputs) -> FederatedStage:
        """The in-process federation, then the deployed one, on the same inputs (the rest of the
        experiment, centralized and every node alone, runs once: minutes on 2 busy cores)."""
        got.ref = federate_in_process(inputs)
        return stage(inputs)

    got.fl = run_experiment(
        runs, ExperimentConfig(seed=0, n_nodes=NODES, rounds=ROUNDS), None, both
    )


def test_without_root_or_ip_the_reason_is_said(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert "root" in netns.unavailable()
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(netns.shutil, "which", lambda _name: None)
    assert "`ip`" in netns.unavailable()


@pytest.fixture(scope="module")
def across(
    runs: Runs, data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Across]:
    got = Across()
    net = netns.Network(PREFIX, hosts=NODES + 1)
    try:
        net.create()
        _run(runs, data_dir, tmp_path_factory.mktemp("hosts"), net, got)
        got.pids_left_inside = net.pids()  # after the deployment stopped, before any sweep
    finally:
        net.destroy()
        got.namespaces_left = netns.namespaces_named(f"{PREFIX}-")
    yield got


@needs_netns
def test_across_hosts_gives_the_in_process_global_model(across: Across) -> None:
    ref, fl, stage = across.ref, across.fl, across.stage
    assert ref is not None and fl is not None and stage is not None
    assert torch.allclose(fl.params["federated"], ref.global_params, atol=1e-4, rtol=0)
    assert torch.allclose(fl.params["local"], ref.local_params, atol=1e-4, rtol=0)
    assert fl.federated_curve == pytest.approx(ref.curve, abs=1e-3)
    (outcome,) = stage.outcomes
    assert len(outcome.rounds) == ROUNDS
    assert all(r["dropped"] == [] for r in outcome.rounds)


@needs_netns
def test_unregistered_keyless_and_wrong_ca_nodes_are_refused(across: Across) -> None:
    verdicts = {a.name: a for a in across.attempts}
    assert sorted(verdicts) == ["no-key", "unregistered", "wrong-ca"]
    assert all(a.refused for a in across.attempts), [
        (a.name, a.returncode) for a in verdicts.values()
    ]
    assert "Failed to activate SuperNode" in verdicts["unregistered"].log
    assert "must be registered" in verdicts["no-key"].log
    assert "CERTIFICATE_VERIFY_FAILED" in verdicts["wrong-ca"].log
    assert across.online_after_attempts == NODES  # the registered ones, no more


@needs_netns
def test_every_process_ran_inside_the_namespaces(across: Across) -> None:
    deployment = across.deployment
    assert deployment is not None
    names = across.process_namespaces
    # SuperLink, its SuperExec and ServerApp; per node a SuperNode and an executor.
    assert len(names) >= 3 + 2 * NODES
    assert all(name.startswith(f"{PREFIX}-") for name in names.values()), names
    assert len(set(names.values())) == NODES + 1  # the hub and one per node
    assert f"https://10.231.0.1:{deployment.cluster.link_port}" in across.link_log
    for name, routes in across.routes.items():
        lines = [line for line in routes.splitlines() if line.strip()]
        assert lines and all(line.startswith("10.231.0.0/24 ") for line in lines), (name, routes)


@needs_netns
def test_no_process_namespace_or_interface_is_left(across: Across) -> None:
    deployment = across.deployment
    assert deployment is not None
    assert across.pids_left_inside == {}
    assert deployment.alive_pids() == []
    assert leftovers(deployment.cluster.root) == []
    assert across.namespaces_left == []
