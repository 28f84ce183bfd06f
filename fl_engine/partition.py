"""Partitions: which engines each simulated node (factory) holds.

Each rule is a pure function `(engines, groups, n_nodes, rng) -> list of engine-index arrays`, one
array per node, every engine used exactly once. `groups` is each engine's C-MAPSS subset, used by
the non-IID rule only. Add a rule by writing one function and registering it in `PARTITIONS`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fl_engine.arrays import IndexArray, StrArray

Partition = list[IndexArray]
PartitionRule = Callable[[IndexArray, StrArray, int, np.random.Generator], Partition]


def _check(engines: IndexArray, n_nodes: int) -> None:
    if n_nodes < 1:
        raise ValueError(f"n_nodes must be at least 1, got {n_nodes}")
    if len(engines) < n_nodes:
        raise ValueError(
            f"cannot give {n_nodes} nodes at least one engine each from {len(engines)} engines"
        )


def iid(engines: IndexArray, groups: StrArray, n_nodes: int, rng: np.random.Generator) -> Partition:
    """Shuffle and deal: node sizes differ by at most one engine (the FF09 protocol: 4 each)."""
    _check(engines, n_nodes)
    return [np.sort(part) for part in np.array_split(rng.permutation(engines), n_nodes)]


def _sizes(total: int, n_nodes: int, rng: np.random.Generator, concentration: float) -> IndexArray:
    """Node sizes >= 1 summing to `total`, drawn from a Dirichlet: small concentration = skewed."""
    extra = total - n_nodes
    shares = rng.dirichlet(np.full(n_nodes, concentration))
    sizes = np.floor(shares * extra).astype(int)
    remainder = extra - sizes.sum()
    sizes[np.argsort(-(shares * extra - sizes))[:remainder]] += 1
    return sizes + 1


def unbalanced(
    engines: IndexArray,
    groups: StrArray,
    n_nodes: int,
    rng: np.random.Generator,
    concentration: float = 0.5,
) -> Partition:
    """Skewed node sizes (Dirichlet(0.5) shares, each node at least one engine): a few big factories."""
    _check(engines, n_nodes)
    bounds = np.cumsum(_sizes(len(engines), n_nodes, rng, concentration))[:-1]
    return [np.sort(part) for part in np.split(rng.permutation(engines), bounds)]


def fault_mode(
    engines: IndexArray, groups: StrArray, n_nodes: int, rng: np.random.Generator
) -> Partition:
    """Non-IID by fault mode: each node holds engines of one subset only (FD001: HPC fault; FD003:
    HPC + fan faults), nodes shared out between subsets in proportion to their engines."""
    _check(engines, n_nodes)
    names = sorted(set(groups[engines]))
    counts = np.array([np.sum(groups[engines] == g) for g in names])
    if len(names) > n_nodes:
        raise ValueError(f"{len(names)} fault modes need at least as many nodes, got {n_nodes}")
    nodes_per = np.maximum(1, np.round(counts / counts.sum() * n_nodes).astype(int))
    while nodes_per.sum() > n_nodes:
        nodes_per[np.argmax(nodes_per)] -= 1
    while nodes_per.sum() < n_nodes:
        nodes_per[np.argmin(nodes_per / counts)] += 1
    parts: Partition = []
    for name, k in zip(names, nodes_per, strict=False):
        parts += iid(engines[groups[engines] == name], groups, int(k), rng)
    return parts


PARTITIONS: dict[str, PartitionRule] = {
    "iid": iid,
    "unbalanced": unbalanced,
    "fault_mode": fault_mode,
}
