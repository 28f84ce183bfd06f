"""Which engine a slot gets next: a seeded deck per slot.

Each slot deals engines from its own shuffled deck and reshuffles when the deck runs out, so over
a long game every engine comes up equally often (fewer lucky streaks than drawing with
replacement). The slots of a factory split the pool between them (engine e belongs to slot
e mod n_slots), so one engine never runs in two slots of a factory at once; a pool smaller than
the factory is shared by every slot. The n-th engine of a deck is a pure function of the seed, the deck's
stream and n, so a game needs no random-generator object in its state, only draw counters.

With fair draws every factory's slot i deals from the same deck, so all factories meet the same
engines in the same order and differ only by strategy; without, each factory has its own decks.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

_FAIR_STREAM = 0  # factory streams are 1, 2, ... so they never coincide with the fair one


def factory_stream(factory_index: int) -> int:
    """The draw stream of a factory when draws are independent."""
    return factory_index + 1


def slot_engines(slot: int, pool_size: int, n_slots: int) -> tuple[int, ...]:
    """The engines a slot deals from: its share of the pool, or all of a too-small pool."""
    if pool_size < n_slots:
        return tuple(range(pool_size))
    return tuple(range(slot % n_slots, pool_size, n_slots))


@lru_cache(maxsize=4096)
def _deck(
    seed: int, stream: int, slot: int, deck: int, pool_size: int, n_slots: int
) -> tuple[int, ...]:
    members = slot_engines(slot, pool_size, n_slots)
    rng = np.random.default_rng([seed, stream, slot, deck])
    return tuple(members[int(i)] for i in rng.permutation(len(members)))


def draw_engine(
    seed: int, fair_draws: bool, stream: int, slot: int, draw: int, pool_size: int, n_slots: int
) -> int:
    """Index into the pool of the `draw`-th (0-based) engine dealt to `slot` of a factory."""
    if pool_size < 1:
        raise ValueError("the engine pool is empty: the game needs at least one engine trace")
    key = _FAIR_STREAM if fair_draws else stream
    size = len(slot_engines(slot, pool_size, n_slots))
    deck, position = divmod(draw, size)
    return _deck(seed, key, slot, deck, pool_size, n_slots)[position]


def factory_nodes(seed: int, n_nodes: int, n_factories: int) -> tuple[int, ...]:
    """The federation node of each factory of a game (player first), a pure function of the seed.

    Every factory is one of the federation's nodes, so the seed decides whose engines the player's
    local model learned from; factories get distinct nodes while there are enough of them.
    """
    if n_nodes < 1:
        raise ValueError("the federation has no nodes: the game needs at least one local model")
    rng = np.random.default_rng([seed, 0x6E6F6465])  # "node"
    picks = rng.choice(n_nodes, size=n_factories, replace=n_factories > n_nodes)
    return tuple(int(n) for n in picks)
