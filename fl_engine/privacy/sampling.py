"""Which factories take part in a round: the sampling the privacy accountant assumes.

Privacy amplification by sampling only holds if participation really is random and secret, so the
lab must draw its cohort with exactly the scheme it tells the accountant: `poisson_sample` goes
with `PrivacyAccountant(sampling="poisson")` (McMahan et al., ICLR 2018, sample each user
independently with probability q), `uniform_sample` with `sampling="uniform"` (a fixed-size cohort
without replacement).
"""

from __future__ import annotations

import math

import numpy as np


def _check_n_nodes(n_nodes: int) -> None:
    if not (isinstance(n_nodes, int | np.integer) and n_nodes >= 0):
        raise ValueError(f"n_nodes must be an integer >= 0, got {n_nodes!r}")


def poisson_sample(n_nodes: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Each of `n_nodes` nodes independently with probability `rate`.

    Returns sorted intp indices; the cohort may be empty (a DP round must still run then: see
    `dp_fedavg.dp_mean_update`). Exactly one uniform draw per node, so the result depends only on
    the rng state, n_nodes and rate.
    """
    _check_n_nodes(n_nodes)
    if not (isinstance(rate, int | float) and math.isfinite(rate) and 0 < rate <= 1):
        raise ValueError(f"rate must be in (0, 1], got {rate!r}")
    draws = rng.random(n_nodes)  # [n_nodes]
    return np.flatnonzero(draws < rate).astype(np.intp)


def uniform_sample(n_nodes: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """Exactly `count` distinct nodes out of `n_nodes`, uniformly without replacement.

    Returns sorted intp indices [count].
    """
    _check_n_nodes(n_nodes)
    if not (isinstance(count, int | np.integer) and 0 <= count <= n_nodes):
        raise ValueError(f"count must be an integer in [0, n_nodes={n_nodes}], got {count!r}")
    chosen = rng.choice(n_nodes, size=int(count), replace=False)  # [count]
    return np.sort(chosen).astype(np.intp)
