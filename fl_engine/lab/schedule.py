"""Who takes part in a round: client sampling, dropouts, stragglers, and the fixed attackers.

Every draw is seeded by (run seed, round, purpose), so a run replays exactly and one setting
(say the deadline) changes nothing else's draws. Stragglers: a node's simulated time for a round
is its share of the work (its rows over the mean node's rows) times a lognormal(0, 1) factor:
heavy-tailed (a few nodes take 5-10x the median), as device and network speeds in cross-device
federations are (Bonawitz et al., "Towards Federated Learning at Scale", MLSys 2019). Each node's
factor is drawn for every node every round, so it does not depend on who else was sampled. With a
deadline the server aggregates whoever arrived in time; the others are stragglers.

Sampling takes a fixed number of nodes, except under differential privacy with Poisson sampling
(the default there), where each node is asked independently with probability `sample_fraction`,
so the round size varies: the accountant's amplification by subsampling assumes exactly that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fl_engine.arrays import FloatArray, IndexArray
from fl_engine.lab.config import LabConfig
from fl_engine.privacy.sampling import poisson_sample, uniform_sample

SPEED_SIGMA = 1.0  # lognormal sigma of a node's time factor: median 1, p90 3.6, p99 10


@dataclass(frozen=True)
class RoundPlan:
    """One round's nodes (indices, ascending)."""

    sampled: IndexArray  # asked to train
    dropped: IndexArray  # sampled, dropped out
    stragglers: IndexArray  # sampled, trained, missed the deadline
    participants: IndexArray  # sampled, sent a model in time: the ones aggregated
    simulated_seconds: float  # when the server aggregated (deadline, or the last arrival)


def choose_attackers(config: LabConfig) -> IndexArray:
    """The attacking nodes, fixed for the run: the named ones, else a seeded random share."""
    if config.attack == "none":
        return np.zeros(0, dtype=np.intp)
    if config.attacker_nodes:
        return np.sort(np.asarray(config.attacker_nodes, dtype=np.intp))
    rng = np.random.default_rng([config.seed, 99])
    return np.sort(rng.choice(config.nodes, config.attacker_count, replace=False)).astype(np.intp)


def cohort_size(config: LabConfig) -> int:
    """A fixed cohort's size: sample_fraction of the nodes, rounded half up, at least 1."""
    return max(1, int(min(config.sample_fraction, 1.0) * config.nodes + 0.5))


def node_seconds(config: LabConfig, round_no: int, work: FloatArray) -> FloatArray:
    """Every node's simulated seconds this round [nodes]: `work` [nodes] (rows / mean rows)
    times a heavy-tailed lognormal factor."""
    rng = np.random.default_rng([config.seed, round_no, 2])
    return work * rng.lognormal(0.0, SPEED_SIGMA, config.nodes)


def plan_round(config: LabConfig, round_no: int, work: FloatArray) -> RoundPlan:
    """Round `round_no`'s (1-based) sampled, dropped, straggling and participating nodes."""
    n = config.nodes
    if config.sample_fraction >= 1:
        sampled = np.arange(n, dtype=np.intp)
    elif config.differential_privacy and config.dp_sampling == "poisson":
        # each node independently, as the accountant's Poisson subsampling assumes
        sampled = poisson_sample(
            n, config.sample_fraction, np.random.default_rng([config.seed, round_no, 0])
        )
    else:
        # a fixed cohort; the accountant is told the same size (`cohort_size`)
        sampled = uniform_sample(
            n, cohort_size(config), np.random.default_rng([config.seed, round_no, 0])
        )
    drop = np.random.default_rng([config.seed, round_no, 1]).random(n)[sampled] < config.dropout
    dropped, alive = sampled[drop], sampled[~drop]
    seconds = node_seconds(config, round_no, work)[alive]
    if config.deadline is None:
        late = np.zeros(len(alive), dtype=bool)
        finish = float(seconds.max()) if len(seconds) else 0.0
    else:
        late = seconds > config.deadline
        finish = float(config.deadline) if late.any() or not len(seconds) else float(seconds.max())
    return RoundPlan(sampled, dropped, alive[late], alive[~late], finish)
