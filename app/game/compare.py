"""Does federated beat local, and by how much? Every factory's local model against the federation.

For one set of models (one training seed) every policy plays the same engines in the same order
(fair draws: common random numbers), so differences come from the decisions alone. The local
models are the 80 factories' own, one fleet row each, which shows the luck in any one factory;
the federated model is the same for all of them. Profits are given as a percentage of an oracle
that maintains on every engine's last cycle.

The summary pairs each factory's local result with the federated result of the same seed and
bootstraps over seeds and factories (seeds resampled, then factories within each seed), so the
interval covers both the luck of the training split and the luck of the factory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from app.game.engines import EngineTrace
from app.game.fleet import Fates, baseline_fates, engine_lengths, predictive_fates, simulate_fleet
from app.game.settings import GameSettings

BASELINES = ("corrective", "preventative", "oracle")
MODEL_POLICIES = ("centralized", "federated")


@dataclass(frozen=True)
class SeedComparison:
    """One seed's profits as % of its oracle."""

    seed: int
    percent_of_oracle: dict[str, float]  # corrective, preventative, centralized?, federated
    local_by_factory: list[float]  # each factory's own local model, by node
    # engines each policy let fail: corrective, preventative, centralized?, federated, and the
    # median over the factories' local models ("local_median")
    failures: dict[str, float] = field(default_factory=dict)
    local_failures: list[int] = field(default_factory=list)  # each factory's own, by node


@dataclass(frozen=True)
class Summary:
    """Federated minus local, paired within seeds, in points of the oracle's profit."""

    mean: float
    ci95: tuple[float, float]
    share_federated_beats_local: float
    seeds: list[SeedComparison] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "seeds": [
                {
                    "seed": s.seed,
                    "percent_of_oracle": s.percent_of_oracle,
                    "local_by_factory": s.local_by_factory,
                    "failures": s.failures,
                }
                for s in self.seeds
            ],
            "federated_minus_local": {"mean": self.mean, "ci95": list(self.ci95)},
            "share_federated_beats_local": self.share_federated_beats_local,
        }


def compare_seed(
    pool: Sequence[EngineTrace], settings: GameSettings, seed: int, n_ticks: int
) -> SeedComparison:
    """Every policy and every factory's local model over `n_ticks` ticks of draws seeded `seed`,
    each predictive model deciding as `settings.decision` says (with its own margin)."""
    lengths = engine_lengths(pool)
    names = list(BASELINES)
    columns = [baseline_fates(p, lengths, settings) for p in BASELINES]
    first = pool[0]
    model_rows = [np.asarray(t.federated_rul)[None, :] for t in pool]
    margins = [first.margin("federated", settings.decision)]
    names.append("federated")
    if all(t.centralized_rul is not None for t in pool):
        model_rows = [
            np.vstack([r, np.asarray(t.centralized_rul)[None, :]])
            for r, t in zip(model_rows, pool, strict=True)
        ]
        margins.append(first.margin("centralized", settings.decision))
        names.append("centralized")
    n_named = len(model_rows[0])
    margins += [first.margin("local", settings.decision, n) for n in range(first.n_nodes)]
    # [named models + nodes, cycles] per engine: the shared models, then each factory's own.
    predictions = [np.vstack([r, t.local_rul]) for r, t in zip(model_rows, pool, strict=True)]
    cycles, maintained = predictive_fates(
        predictions, lengths, settings.rul_threshold, np.asarray(margins)
    )
    fates = Fates(
        cycles=np.vstack([np.stack([c for c, _ in columns]), cycles]),
        maintained=np.vstack([np.stack([m for _, m in columns]), maintained]),
    )
    result = simulate_fleet(fates, settings, seed, n_ticks)
    oracle = float(result.profit[BASELINES.index("oracle")])
    if oracle <= 0:
        raise ValueError(f"the oracle made no profit in {n_ticks} ticks: run more ticks")
    percent = 100.0 * result.profit / oracle
    n_base = len(BASELINES)
    named = {p: float(percent[i]) for i, p in enumerate(BASELINES) if p != "oracle"}
    failures: dict[str, float] = {
        p: int(result.failures[i]) for i, p in enumerate(BASELINES) if p != "oracle"
    }
    for j, name in enumerate(names[n_base:]):
        named[name] = float(percent[n_base + j])
        failures[name] = int(result.failures[n_base + j])
    failures["local_median"] = float(np.median(result.failures[n_base + n_named :]))
    return SeedComparison(
        seed=seed,
        percent_of_oracle=named,
        local_by_factory=[float(v) for v in percent[n_base + n_named :]],
        failures=failures,
        local_failures=[int(v) for v in result.failures[n_base + n_named :]],
    )


def summarize(
    seeds: Sequence[SeedComparison], n_resamples: int = 2000, rng_seed: int = 0
) -> Summary:
    """Paired federated - local difference with a hierarchical bootstrap 95% interval."""
    if not seeds:
        raise ValueError("nothing to summarize: no seed was compared")
    diffs = [
        s.percent_of_oracle["federated"] - np.asarray(s.local_by_factory, dtype=float)
        for s in seeds
    ]  # [seeds][factories]
    all_diffs = np.concatenate(diffs)
    rng = np.random.default_rng(rng_seed)
    means = np.empty(n_resamples)
    for b in range(n_resamples):
        picked = rng.integers(0, len(diffs), size=len(diffs))
        means[b] = np.mean(
            np.concatenate(
                [diffs[i][rng.integers(0, len(diffs[i]), len(diffs[i]))] for i in picked]
            )
        )
    lo, hi = np.percentile(means, [2.5, 97.5])
    return Summary(
        mean=float(all_diffs.mean()),
        ci95=(float(lo), float(hi)),
        share_federated_beats_local=float(np.mean(all_diffs > 0)),
        seeds=list(seeds),
    )
