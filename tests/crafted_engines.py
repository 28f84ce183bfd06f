"""Hand-made engine traces for the game tests: engines whose every cycle and prediction we know.

Used where a test needs exact dollar figures; the real held-out engines (the `game_models`
fixture) are used where a test needs realistic behaviour.
"""

from __future__ import annotations

import numpy as np

from app.game.engines import EngineTrace

FEATURES = [f"feature_{i}" for i in range(16)]


def engine(
    n_cycles: int,
    engine_id: str | None = None,
    *,
    local_error: float = 0.0,
    federated_error: float = 0.0,
) -> EngineTrace:
    """An engine of `n_cycles` whose models predict the true RUL plus a constant error.

    Sensor row k holds the value k+1 in every column, so a test can read the cycle off a sensor.
    """
    true_rul = np.arange(n_cycles - 1, -1, -1, dtype=float)
    rows = np.repeat(np.arange(1, n_cycles + 1, dtype=float)[:, None], 16, axis=1)
    return EngineTrace(
        engine_id=engine_id or f"crafted-{n_cycles}",
        sensors=rows,
        local_rul=(true_rul + local_error)[None, :],
        federated_rul=true_rul + federated_error,
    )


def noisy_pool(n_engines: int = 60, seed: int = 0) -> list[EngineTrace]:
    """Engines of C-MAPSS-like lengths whose local model is noisier than the federated one."""
    rng = np.random.default_rng(seed)
    pool = []
    for i in range(n_engines):
        n = int(rng.integers(128, 362))
        true_rul = np.arange(n - 1, -1, -1, dtype=float)
        pool.append(
            EngineTrace(
                engine_id=f"noisy-{i}",
                sensors=rng.normal(size=(n, 16)),
                local_rul=(true_rul + rng.normal(0.0, 12.0, n))[None, :],
                federated_rul=true_rul + rng.normal(0.0, 4.0, n),
            )
        )
    return pool
