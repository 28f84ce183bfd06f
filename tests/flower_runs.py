"""What the Flower deployment tests share: a run with a SuperNode killed after round 1, and the
search for any process a run left behind (by its FLWR_HOME, anywhere on the machine)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

from fl_engine.flower.deployment import Deployment
from fl_engine.flower.spec import FlowerOutcome, FlowerSpec

TIMEOUT_S = 240.0  # a whole run, rounds and start-up, on two busy cores


def leftovers(root: Path) -> list[str]:
    """Processes anywhere on the machine that belong to the deployment under `root`."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "environ"]):
        try:
            env = proc.info["environ"] or {}
            if str(env.get("FLWR_HOME", "")).startswith(str(root)):
                found.append(f"{proc.pid} {' '.join(proc.info['cmdline'] or [])}")
        except (psutil.Error, KeyError):
            continue
    return found


def run_killing_after_round_1(
    spec: FlowerSpec, victim: int, restart: bool = False
) -> tuple[list[dict[str, Any]], FlowerOutcome, Deployment]:
    """Deploy `spec`, kill SuperNode `victim` once round 1 is recorded, run to the end (a round
    goes ahead with 2 nodes after 20 s); with `restart`, start it again once a round reported it
    dropped. Every round's record, the outcome, the deployment."""
    records: list[dict[str, Any]] = []
    with Deployment(spec, round_timeout_s=20.0, min_nodes=2) as deployment:
        deployment.start()
        deployment.submit()
        t0 = time.monotonic()
        for record in deployment.rounds(timeout_s=TIMEOUT_S):
            records.append(record)
            if record["round"] == 1:
                deployment.kill_node(victim)
            elif restart and record["dropped"] == [victim]:
                deployment.restart_node(victim)
                restart = False
        outcome = deployment.outcome(None)
        assert time.monotonic() - t0 < TIMEOUT_S
    return records, outcome, deployment
