"""User-level (epsilon, delta) accounting for DP-FedAvg rounds, by wrapping Google's dp_accounting.

Each round is one sampled Gaussian mechanism over factories (users): Poisson sampling at rate q
(McMahan et al., ICLR 2018) or a fixed cohort without replacement, followed by a Gaussian release
of noise std z * C on a sum of updates clipped to C. Rounds compose in Renyi DP;
`dp_accounting.rdp.RdpAccountant` does all the mathematics (nothing here is a hand-rolled bound).
With adaptive clipping (Andrew et al., NeurIPS 2021) give this accountant the *target* multiplier
z, see `adaptive_clip`.

Sensitivity, the relation the code states and the library is told: the library's Gaussian event
is in units of the sum's L2 sensitivity. Poisson sampling goes with add/remove-one-factory, where
the sum moves by at most C: the event's multiplier is z. A fixed cohort goes with replace-one
(the only relation dp_accounting supports for sampling without replacement), where swapping one
factory's clipped update for another's moves the sum by up to 2C: the event's multiplier is z / 2
(`event_multiplier`). Telling the library z there would understate epsilon (80 factories, cohort
8, z = 1, 20 rounds: 3.31 instead of 18.2).

Speed: the library recomputes the per-round RDP curve on every `compose` (about 20 ms for Poisson,
200 ms without replacement), so composing afresh each round would take seconds over 500 rounds.
RDP composes additively, so the curve of one round is computed once by an `RdpAccountant` and
r rounds are r times it; epsilon is then the library's `compute_epsilon` on that (under 1 ms).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
from dp_accounting import dp_event  # type: ignore[import-untyped]
from dp_accounting.rdp import rdp_privacy_accountant as rdp  # type: ignore[import-untyped]

from fl_engine.privacy.gaussian import check_noise_multiplier

# dp-accounting warns (through absl) when it leaves low orders out of an epsilon: the epsilon is
# still a valid bound, only a little looser; a lab run would print it every round.
logging.getLogger("absl").setLevel(logging.ERROR)

Sampling = Literal["poisson", "uniform"]


def default_delta(n_factories: int) -> float:
    """delta = 1 / n^1.1: below 1/n, as a delta that allows leaking one whole user must be."""
    if not (isinstance(n_factories, int) and n_factories >= 2):
        raise ValueError(
            f"n_factories must be an integer >= 2 for a delta < 1, got {n_factories!r}"
        )
    return float(1.0 / n_factories**1.1)


def event_multiplier(noise_multiplier: float, sampling: Sampling) -> float:
    """The Gaussian event's multiplier for noise std z * C: z under Poisson sampling (add/remove
    one factory, sensitivity C), z / 2 under a fixed cohort (replace one, sensitivity 2C)."""
    check_noise_multiplier(noise_multiplier)
    return float(noise_multiplier) / (2.0 if sampling == "uniform" else 1.0)


def round_event(
    noise_multiplier: float,
    sampling_rate: float,
    sampling: Sampling = "poisson",
    population: int | None = None,
) -> dp_event.DpEvent:
    """The dp_accounting event of one round (validated) whose noise std is z * C on a sum of
    updates clipped to C: PoissonSampledDpEvent(q, Gaussian(z)), or for "uniform"
    SampledWithoutReplacementDpEvent(population, q * population, Gaussian(z / 2))."""
    check_noise_multiplier(noise_multiplier)
    if not (math.isfinite(sampling_rate) and 0 < sampling_rate <= 1):
        raise ValueError(f"sampling_rate must be in (0, 1], got {sampling_rate!r}")
    gaussian = dp_event.GaussianDpEvent(event_multiplier(noise_multiplier, sampling))
    if sampling == "poisson":
        return dp_event.PoissonSampledDpEvent(float(sampling_rate), gaussian)
    if sampling != "uniform":
        raise ValueError(f"sampling must be 'poisson' or 'uniform', got {sampling!r}")
    if not (isinstance(population, int) and population >= 1):
        raise ValueError(f"uniform sampling needs population (an integer >= 1), got {population!r}")
    size = round(sampling_rate * population)
    if size < 1 or abs(size - sampling_rate * population) > 1e-6:
        raise ValueError(
            f"uniform sampling needs sampling_rate * population to be a whole cohort size >= 1, "
            f"got {sampling_rate} * {population} = {sampling_rate * population}"
        )
    return dp_event.SampledWithoutReplacementDpEvent(population, size, gaussian)


class PrivacyAccountant:
    """Epsilon spent so far, at a fixed delta, by identical DP-FedAvg rounds.

    Neighbouring relation: add/remove one factory for Poisson sampling, replace one factory for
    uniform (fixed-size) sampling, the relations dp_accounting supports for each event; the
    multiplier given is z, the noise std over the clip (see the module docstring for z / 2).
    `orders` are the RDP orders; None uses the library's DEFAULT_RDP_ORDERS
    (1.1 .. 10.9 by 0.1, 11 .. 63, 128, 256, 512, 1024).
    """

    def __init__(
        self,
        noise_multiplier: float,
        sampling_rate: float,
        delta: float,
        sampling: Sampling = "poisson",
        population: int | None = None,
        *,
        orders: Sequence[float] | None = None,
    ) -> None:
        if not (math.isfinite(delta) and 0 < delta < 1):
            raise ValueError(f"delta must be in (0, 1), got {delta!r}")
        self.noise_multiplier = float(noise_multiplier)
        self.sampling_rate = float(sampling_rate)
        self.delta = float(delta)
        self.sampling: Sampling = sampling
        self.population = population
        self.event = round_event(noise_multiplier, sampling_rate, sampling, population)
        relation = (
            rdp.NeighborRel.ADD_OR_REMOVE_ONE
            if sampling == "poisson"
            else rdp.NeighborRel.REPLACE_ONE
        )
        self._orders: list[float] = [
            float(a) for a in (rdp.DEFAULT_RDP_ORDERS if orders is None else orders)
        ]
        self._rounds = 0
        self._cache: dict[int, float] = {0: 0.0}
        self._round_rdp: np.ndarray | None = None  # [n_orders], None when z == 0 (eps = inf)
        if self.noise_multiplier > 0:
            one_round = rdp.RdpAccountant(orders=self._orders, neighboring_relation=relation)
            one_round.compose(self.event)  # raises if the library does not support the event
            # RdpAccountant has no public getter for its RDP curve; `_rdp` [n_orders] is the
            # attribute its own tests read. Checked, so a library change fails loudly here.
            curve = np.asarray(getattr(one_round, "_rdp", None), dtype=np.float64)
            if curve.shape != (len(self._orders),):
                raise RuntimeError("dp_accounting's RdpAccountant no longer exposes _rdp")
            self._round_rdp = curve

    @property
    def rounds(self) -> int:
        """Rounds composed so far."""
        return self._rounds

    def step(self, rounds: int = 1) -> None:
        """Record `rounds` more rounds (each one release, even an empty cohort)."""
        self._rounds += self._check_rounds(rounds)

    @property
    def epsilon(self) -> float:
        """Epsilon at `delta` after the rounds so far: 0.0 before any round, math.inf when
        noise_multiplier == 0 (an unnoised release has no finite guarantee)."""
        return self._epsilon_at(self._rounds)

    def epsilon_after(self, rounds: int) -> float:
        """Epsilon if `rounds` more rounds were composed; state is unchanged. Use it to stop
        before a target epsilon would be exceeded."""
        return self._epsilon_at(self._rounds + self._check_rounds(rounds))

    def _epsilon_at(self, total_rounds: int) -> float:
        cached = self._cache.get(total_rounds)
        if cached is not None:
            return cached
        if self._round_rdp is None:
            eps = math.inf
        else:
            eps, _ = rdp.compute_epsilon(self._orders, total_rounds * self._round_rdp, self.delta)
            eps = float(eps)
        self._cache[total_rounds] = eps
        return eps

    @staticmethod
    def _check_rounds(rounds: int) -> int:
        if not (isinstance(rounds, int | np.integer) and rounds >= 0):
            raise ValueError(f"rounds must be an integer >= 0, got {rounds!r}")
        return int(rounds)
