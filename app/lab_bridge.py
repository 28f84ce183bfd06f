"""From the Federation Lab to the game (docs/lab.md, section 3): deploy a lab model behind the
federated strategy, and say what it is worth as a share of the oracle's profit.

Like `app.bridge`, this is where `fl_engine` and `app.game` meet; neither imports it. A lab model
is asked once for every cycle of every engine the game replays, so a game tick still never calls
a model.

Deploying a model from the operating-condition partition is refused: it was trained on FD002/FD004
with every sensor standardized per operating condition (and on other sensor columns), while the
game replays FD001/FD003 engines with the protocol's global standardization; its predictions
there would be meaningless, and a wrong number in dollars is worse than a clear refusal. So is a
model that diverged (issue 20): weights, test RMSE or predictions not finite.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np
import torch

from app.game.engines import EngineTrace
from app.game.fleet import Fates, baseline_fates, engine_lengths, predictive_fates, simulate_fleet
from app.game.settings import GameSettings
from fl_engine.data import Runs, load_runs, resolve_data_dir
from fl_engine.lab import new_lab_run
from fl_engine.lab.config import LabConfig
from fl_engine.lab.flower_run import FlowerLabRun
from fl_engine.lab.run import LabRun

# What the web's lab reaches through this bridge (it may not import `fl_engine` itself).
__all__ = [
    "LabConfig",
    "LabRun",
    "Runs",
    "deployed_traces",
    "load_runs",
    "new_lab_run",
    "percent_of_oracle",
    "resolve_data_dir",
    "set_torch_threads",
]

DEFAULT_TICKS = 5000  # ticks per seed, as `tycoon compare` plays by default
# Draw seeds a lab model's profit is averaged over: at 3 a lesson (median vs FedAvg under attack)
# could flip on which engines a seed dealt; 10 cost about 10 ms more.
DRAW_SEEDS = 10


def deployed_traces(
    traces: list[EngineTrace], run: LabRun | FlowerLabRun, runs: Runs
) -> list[EngineTrace]:
    """The same engines with `federated_rul` replaced by the lab's global model's predictions and
    the federated margin by its calibration (every other field untouched). `runs`: the game's
    data, the engines' raw signals.

    ValueError when the model diverged (`divergence`), or cannot read these engines: trained per
    operating condition on FD002/FD004, or an engine missing from `runs`."""
    diverged = divergence(run)
    if diverged is not None:
        raise ValueError(_refusal(run, diverged))
    if run.normalization != "global":
        raise ValueError(
            "this lab model was trained with the operating-condition partition, on FD002/FD004 "
            "with sensors standardized per condition; the game's engines are FD001/FD003: "
            "deploy a model trained with the iid, unbalanced or fault_mode partition"
        )
    if not traces:
        return []
    index = {engine_id: i for i, engine_id in enumerate(runs.engine_ids)}
    missing = [t.engine_id for t in traces if t.engine_id not in index]
    if missing:
        raise ValueError(f"engine {missing[0]} of the game is not in the data given")
    engine_rows = runs.engine_rows()
    rows = [engine_rows[index[t.engine_id]] for t in traces]
    for trace, r in zip(traces, rows, strict=True):
        if len(r) != trace.n_cycles:
            raise ValueError(
                f"engine {trace.engine_id} has {trace.n_cycles} cycles in the game but "
                f"{len(r)} in the data given"
            )
    x = run.features.standardize(runs, np.concatenate(rows))  # [rows, features]
    positions = np.split(np.arange(len(x)), np.cumsum([len(r) for r in rows])[:-1])
    with torch.no_grad():
        rul = run.predict(x, positions)
    if not np.isfinite(rul).all():
        raise ValueError(_refusal(run, "its predictions of the game's engines are not finite"))
    margins = dataclasses.replace(traces[0].margins, federated=run.calibration().margin)
    return [
        dataclasses.replace(trace, federated_rul=rul[p].copy(), margins=margins)
        for trace, p in zip(traces, positions, strict=True)
    ]


def divergence(run: LabRun | FlowerLabRun) -> str | None:
    """What shows the run's current global model diverged, or None: a weight that is not finite,
    or a test RMSE (the last round's) that is not. A run records a non-finite RMSE as null."""
    if not torch.isfinite(run.global_params()).all():
        return "its weights are not finite"
    rmse = run.records[-1].get("rmse") if run.records else None
    if run.records and (rmse is None or not np.isfinite(rmse)):
        return "its test RMSE is not finite"
    return None


def _refusal(run: LabRun | FlowerLabRun, why: str) -> str:
    c = run.config
    return (
        f"this model diverged: {why} after round {run.rounds_done} ({c.aggregation}, lr {c.lr}, "
        f"server_lr {c.server_lr}); a diverged model cannot be deployed: train again with a "
        "smaller lr or server_lr, or a robust rule against the attack"
    )


def percent_of_oracle(
    traces: list[EngineTrace],
    settings: GameSettings,
    seeds: Iterable[int] = range(DRAW_SEEDS),
    n_ticks: int = DEFAULT_TICKS,
) -> float:
    """The federated strategy's profit as % of the oracle's, averaged over `seeds` of fair draws,
    with the fast fleet simulation (`app.game.fleet`): the same engines and draws for both."""
    if not traces:
        raise ValueError("no engines to play")
    lengths = engine_lengths(traces)
    oracle_cycles, oracle_maintained = baseline_fates("oracle", lengths, settings)
    margin = traces[0].margin("federated", settings.decision)
    cycles, maintained = predictive_fates(
        [np.asarray(t.federated_rul)[None, :] for t in traces],
        lengths,
        settings.rul_threshold,
        np.array([margin]),
    )
    fates = Fates(
        cycles=np.vstack([oracle_cycles[None, :], cycles]),
        maintained=np.vstack([oracle_maintained[None, :], maintained]),
    )
    percents = []
    for seed in seeds:
        profit = simulate_fleet(fates, settings, seed, n_ticks).profit
        if profit[0] <= 0:
            raise ValueError(f"the oracle made no profit in {n_ticks} ticks: play more ticks")
        percents.append(100.0 * float(profit[1]) / float(profit[0]))
    if not percents:
        raise ValueError("no seed to play")
    return float(np.mean(percents))


def set_torch_threads(n: int) -> None:
    """Torch's intra-op threads for the calling process (the web's lab trains with one)."""
    torch.set_num_threads(n)
