"""Who is asked to train in each round of a Flower run: the in-process engine's own seeded rule.

Why not Flower's own sampling (`FedAvg(fraction_train=...)`, `random.sample` over connected node
ids): it draws from an unseeded `random` over node ids that differ run to run, so no node could
know which nodes trained beside it, and the minibatch stream it must replay
(`fl_engine.flower.task.PlanReplay`) is drawn for the round's trainers in index order. Here every
party computes the same plan from the run settings alone, exactly as `fl_engine.federated.
Federation` and `fl_engine.experiment._behaviours` draw it:

- failed nodes: `default_rng(seed + 1).choice(others, n_failed)`, down from `failure_round`
  (0-based) on, as `fl_engine.nodes.fails_at`;
- the non-participant trains alone every round ("local");
- sampling: per round, `max(1, round(fraction * len(federating)))` of the federating (not failed)
  nodes, `default_rng(seed).choice(federating, k, replace=False)`, one draw per round only when
  fraction < 1, as `Federation._sample` (a fixed-size cohort without replacement: the "uniform"
  sampling of `fl_engine.privacy.accountant`).

The server asks only the round's planned trainers (`fl_engine.flower.seeded.SeededFedAvg`); a
planned trainer that is not connected, does not answer within the round timeout, or answers with
an error is reported (`dropped` / `failed`) and left out, as Flower's FedAvg leaves out missing
replies. The plan does not change after a real fault, so later rounds still replay the in-process
stream: a run with a real fault differs from the in-process run only by the lost updates.

No flwr import here: the CLI and `FlowerSpec` validate settings without Flower installed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


class PlanSettings(Protocol):
    """What the plan depends on (`RunSettings` has all of it)."""

    @property
    def seed(self) -> int: ...
    @property
    def nodes(self) -> int: ...
    @property
    def rounds(self) -> int: ...
    @property
    def non_participant(self) -> int: ...
    @property
    def sample_fraction(self) -> float: ...
    @property
    def n_failed(self) -> int: ...
    @property
    def failure_round(self) -> int: ...


@dataclass(frozen=True)
class RoundPlan:
    """One round's plan (round from 1); partition ids ascending in every field."""

    round: int
    sampled: tuple[int, ...]  # federating nodes asked to train and averaged
    local: tuple[int, ...]  # the non-participant, training alone
    not_sampled: tuple[int, ...]  # federating nodes not asked this round
    offline: tuple[int, ...]  # failed nodes (down by the plan)

    @property
    def trainers(self) -> tuple[int, ...]:
        """Every node that trains this round, ascending: the order the stream is drawn in."""
        return tuple(sorted(self.sampled + self.local))

    @property
    def population(self) -> int:
        """Federating nodes that could have been sampled (the accountant's population)."""
        return len(self.sampled) + len(self.not_sampled)


def cohort_size(fraction: float, federating: int) -> int:
    """Nodes sampled from `federating` ones: `Federation._sample`'s k (all when fraction is 1)."""
    if fraction >= 1 or federating == 0:
        return federating
    return max(1, round(fraction * federating))


def failed_nodes(seed: int, nodes: int, non_participant: int, n_failed: int) -> set[int]:
    """The nodes `fl_engine.experiment._behaviours` makes fail (non_participant -1 = none)."""
    if not n_failed:
        return set()
    rng = np.random.default_rng(seed + 1)
    others = [i for i in range(nodes) if i != non_participant]
    return {int(i) for i in rng.choice(others, size=n_failed, replace=False).tolist()}


@functools.cache
def round_plans(settings: PlanSettings) -> tuple[RoundPlan, ...]:
    """Every round's plan, drawn as the in-process Federation draws it (cached per settings)."""
    failed = failed_nodes(
        settings.seed, settings.nodes, settings.non_participant, settings.n_failed
    )
    rng = np.random.default_rng(settings.seed)
    local = tuple(i for i in range(settings.nodes) if i == settings.non_participant)
    plans = []
    for r in range(settings.rounds):
        down = tuple(sorted(i for i in failed if r >= settings.failure_round))
        federating = [i for i in range(settings.nodes) if i not in local and i not in down]
        sampled = federating
        if settings.sample_fraction < 1 and federating:
            k = cohort_size(settings.sample_fraction, len(federating))
            sampled = sorted(int(i) for i in rng.choice(federating, size=k, replace=False))
        rest = tuple(i for i in federating if i not in sampled)
        plans.append(RoundPlan(r + 1, tuple(sampled), local, rest, down))
    return tuple(plans)


def spec_problem(spec: Any) -> str | None:
    """Why a Flower run cannot run `spec`'s participation and privacy settings, or None.

    `spec` is a `fl_engine.flower.spec.FlowerSpec` (untyped here: spec.py imports this module)."""
    if not 0 < spec.sample_fraction <= 1:
        return f"sample_fraction must be in (0, 1], got {spec.sample_fraction}"
    others = spec.nodes - (spec.non_participant is not None)
    if not 0 <= spec.n_failed < others:
        return "n_failed must leave at least one federating node"
    if spec.failure_round < 0:
        return "failure_round must be >= 0"
    if spec.dp_noise < 0 or spec.dp_clip <= 0:
        return "dp_noise must be >= 0 and dp_clip > 0"
    if spec.dp_delta is not None and not 0 < spec.dp_delta < 1:
        return f"dp_delta must be in (0, 1), got {spec.dp_delta}"
    if spec.secure_aggregation and spec.dp_noise > 0:
        return (
            "--secure-aggregation with --dp-noise is not offered on Flower: Flower 1.42's SecAgg+ "
            "has no distributed noise; use one or the other (or tycoon lab in process)"
        )
    if spec.secure_aggregation:
        fewest = cohort_size(spec.sample_fraction, others - spec.n_failed)
        if fewest < 2:
            return (
                "--secure-aggregation needs at least 2 sampled federating nodes a round "
                f"(Flower's SecAgg+), this run samples {fewest}"
            )
    return None
