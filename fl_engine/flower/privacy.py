"""DP-FedAvg on Flower (McMahan, Ramage, Talwar & Zhang, "Learning Differentially Private
Recurrent Language Models", ICLR 2018) with Flower's own part: the server-side fixed-clipping
strategy wrapper `flwr.serverapp.strategy.DifferentialPrivacyServerSideFixedClipping` around the
project's `SeededFedAvg`, and epsilon from the project's accountant
(`fl_engine.privacy.accountant`, Google's dp-accounting underneath) for the noise Flower added.

What Flower's wrapper does (1.42, `dp_fixed_clipping.py`): clip each reply's update (model minus
the round's global model) to L2 norm C, let the inner strategy aggregate, then add
N(0, (z C / m)^2) to every coordinate of the aggregate, m = `num_sampled_clients`. With one weight
per factory (`SeededFedAvg.weights`) the inner aggregate is the plain mean of the k' replies, so
the release is mean_i clip(Delta_i) + N(0, (z C / m)^2): the same estimator as the in-process
`fl_engine.privacy.dp_mean_update` when k' = m (m is set each round to the plan's cohort).

Accounting. The cohort is a fixed-size sample without replacement (`participation`), the
"uniform" sampling of the accountant (replace-one neighbours, sensitivity of the mean 2C / k'),
so each released round is `round_event(z_eff, k / population, "uniform", population)` with
z_eff = std * k' / C, the noise actually added over the mean's per-update sensitivity C / k'
(= z when every sampled node answered; smaller, so a larger epsilon, when some dropped). Rounds
where nothing was released (no reply) cost nothing. Flower's own accountant
(`flwr.supercore.privacy_accounting`) accepts only `no-amplification` for this wrapper, so it
would not credit the sampling; the project's accountant does.

The non-participant's reply (its own local model) is set aside before the wrapper clips, since
it is not an update to the global model, and handed back to the inner strategy for its record.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import DifferentialPrivacyServerSideFixedClipping

from fl_engine.flower.seeded import SeededFedAvg
from fl_engine.privacy.accountant import PrivacyAccountant, round_event

# (noise multiplier of the release, cohort size, population) of one released round
Release = tuple[float, int, int]


def delta_of(dp_delta: float, nodes: int) -> float:
    """The delta epsilon is reported at: the given one, else 1 / nodes**1.1 (as `tycoon lab`)."""
    return dp_delta if dp_delta > 0 else 1.0 / nodes**1.1


def epsilon_of(releases: Sequence[Release], delta: float) -> float:
    """Epsilon at `delta` after `releases`, composed in RDP by dp-accounting.

    Identical rounds (the usual case) go through `PrivacyAccountant` exactly as the lab's
    in-process run does; rounds that differ (a dropped node, a failed node shrinking the
    population) compose their own events with the library's `RdpAccountant`.
    """
    if not releases:
        return 0.0
    z, k, n = releases[0]
    if all(r[1:] == (k, n) and math.isclose(r[0], z, rel_tol=1e-12) for r in releases):
        accountant = PrivacyAccountant(z, k / n, delta, "uniform", n)
        accountant.step(len(releases))
        return accountant.epsilon
    from dp_accounting.rdp import rdp_privacy_accountant as rdp  # type: ignore[import-untyped]

    composed = rdp.RdpAccountant(neighboring_relation=rdp.NeighborRel.REPLACE_ONE)
    for z_r, k_r, n_r in releases:
        composed.compose(round_event(z_r, k_r / n_r, "uniform", n_r))
    return float(composed.get_epsilon(delta))


class ProjectDPFixedClipping(DifferentialPrivacyServerSideFixedClipping):
    """Flower's server-side fixed clipping around `SeededFedAvg`; each round record gains
    clip, noise_std, noise_multiplier (z_eff), epsilon, delta, dp_cohort, dp_population."""

    def __init__(self, inner: SeededFedAvg) -> None:
        s = inner.settings
        cohort = max(1, max(len(p.sampled) for p in inner.plans))
        super().__init__(inner, s.dp_noise, s.dp_clip, cohort)
        self.inner = inner
        self.delta = delta_of(s.dp_delta, s.nodes)
        self.releases: list[Release] = []
        self._noise_std = 0.0

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        # m: this round's planned cohort (the plan's population shrinks when nodes fail)
        self.num_sampled_clients = max(1, len(self.inner.plan(server_round).sampled))
        return super().configure_train(server_round, arrays, config, grid)

    def _add_noise_to_aggregated_arrays(self, aggregated_arrays: ArrayRecord) -> ArrayRecord:
        # the std Flower's own `compute_stdv` gives and `add_gaussian_noise_inplace` uses
        self._noise_std = self.noise_multiplier * self.clipping_norm / self.num_sampled_clients
        return super()._add_noise_to_aggregated_arrays(aggregated_arrays)

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        replies = list(replies)
        local = [m for m in replies if not m.has_error() and not _federates(m)]
        self.inner.held_local = local
        federating = [m for m in replies if all(m is not x for x in local)]
        self._noise_std = 0.0
        arrays, metrics = super().aggregate_train(server_round, federating)
        records = self.inner.records
        if not records or records[-1]["round"] != server_round:  # the wrapper refused them all
            self.inner.aggregate_train(server_round, [m for m in federating if m.has_error()])
            arrays, metrics = None, None
        record = records[-1]
        plan = self.inner.plan(server_round)
        averaged = int(record["n_updates"])
        z_eff = None
        if arrays is not None and self._noise_std > 0 and averaged:
            z_eff = self._noise_std * averaged / self.clipping_norm
            if math.isclose(z_eff, self.noise_multiplier, rel_tol=1e-12):
                z_eff = self.noise_multiplier
            self.releases.append((z_eff, len(plan.sampled), plan.population))
        record.update(
            {
                "clip": self.clipping_norm,
                "noise_std": self._noise_std if arrays is not None else None,
                "noise_multiplier": z_eff,
                "epsilon": epsilon_of(self.releases, self.delta),
                "delta": self.delta,
                "dp_cohort": len(plan.sampled),
                "dp_population": plan.population,
            }
        )
        return arrays, metrics


def _federates(message: Message) -> bool:
    return bool(message.content.metric_records["metrics"]["federates"])
