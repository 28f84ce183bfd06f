"""Partitions: which engines each simulated node (factory) holds.

Each rule is a pure function `(engines, groups, n_nodes, rng) -> list of engine-index arrays`, one
array per node, every engine used exactly once. `groups` is each engine's C-MAPSS subset, used by
the non-IID rule only. Add a rule by writing one function and registering it in `PARTITIONS`.
`by_condition` deals rows, not engines (FD002/FD004 engines fly every condition), so it stands
apart from `PARTITIONS`.
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


def by_condition(
    engine_rows: list[IndexArray],
    row_condition: IndexArray,
    n_nodes: int,
    rng: np.random.Generator,
) -> tuple[list[IndexArray], list[list[int]]]:
    """Non-IID by operating condition (FD002/FD004): each node holds the rows of one or two of the
    six conditions. Returns (each node's rows, each node's conditions).

    In FD002/FD004 every engine flies all six conditions, cycle by cycle, so a deal of *engines*
    would give every node every condition. The unit dealt is therefore (engine, condition): each
    node is given one condition (conditions dealt round-robin in a shuffled order, so each has
    nodes) and half the nodes a second one; the (engine, condition) row blocks of condition c are
    then dealt IID among the nodes holding c. Every training row goes to exactly one node. A
    window model still reads each row's last cycles of the same engine, whatever their condition:
    the node holds the *samples* (targets) of its conditions.
    `engine_rows`: the training engines' rows; `row_condition` [protocol rows] each row's condition.
    """
    conditions = int(row_condition.max()) + 1
    if n_nodes < conditions:
        raise ValueError(
            f"{conditions} operating conditions need at least as many nodes, got {n_nodes}"
        )
    if len(engine_rows) < n_nodes:
        raise ValueError(f"cannot deal {len(engine_rows)} engines' rows to {n_nodes} nodes")
    primary = rng.permutation(np.arange(n_nodes) % conditions)
    second = rng.random(n_nodes) < 0.5
    other = (primary + rng.integers(1, conditions, n_nodes)) % conditions
    held = [
        [int(p), int(o)] if s else [int(p)] for p, s, o in zip(primary, second, other, strict=True)
    ]
    parts: list[list[IndexArray]] = [[] for _ in range(n_nodes)]
    for c in range(conditions):
        holders = [j for j in range(n_nodes) if c in held[j]]
        for j, engines in zip(
            holders, np.array_split(rng.permutation(len(engine_rows)), len(holders)), strict=True
        ):
            parts[j] += [engine_rows[e][row_condition[engine_rows[e]] == c] for e in engines]
    rows = [np.sort(np.concatenate(p)) for p in parts]
    if min(len(r) for r in rows) == 0:
        raise ValueError("a node was dealt no rows of its conditions")
    return rows, [sorted(h) for h in held]


PARTITIONS: dict[str, PartitionRule] = {
    "iid": iid,
    "unbalanced": unbalanced,
    "fault_mode": fault_mode,
}
