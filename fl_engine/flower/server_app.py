"""The Flower ServerApp: initial weights from the engine's own `init_params`, the project's
aggregation (`ProjectFedAvg`), the global model scored after every round with the project's
metrics, and the results written to the run config's `out-dir` (`fl_engine.flower.outputs`),
where the simulation and the deployment runtimes read them back.

Scoring needs the protocol's test engines, so the server loads the data directory too; the nodes
never send rows, only models and metrics.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from flwr.app import ArrayRecord, Context, MetricRecord
from flwr.serverapp import Grid, ServerApp

from fl_engine.experiment import predict_rul
from fl_engine.flower import outputs
from fl_engine.flower.family_apps import family_server
from fl_engine.flower.patches import fast_replies
from fl_engine.flower.records import from_record, to_record
from fl_engine.flower.run_rounds import run_rounds
from fl_engine.flower.seeded import SeededFedAvg
from fl_engine.flower.settings import RunSettings
from fl_engine.flower.task import initial_params, load_federation
from fl_engine.metrics import late_life_rmse, rmse

# Callbacks of a parent in this same process (the simulation runtime), by out-dir: called with
# (round, record) when a round's record is complete. A deployment parent reads rounds.jsonl.
ROUND_LISTENERS: dict[str, Callable[[int, dict[str, Any]], None]] = {}

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    torch.set_num_threads(1)
    grid = fast_replies(grid)  # a deployment's grid looks for replies every 50 ms, not 3 s
    settings = RunSettings.from_config(context.run_config)
    if settings.family:  # another model family: fl_engine/flower/family_apps.py
        family_server(grid, context, settings, ROUND_LISTENERS.get(settings.out_dir))
        return
    out_dir = Path(settings.out_dir)
    outputs.start(out_dir)
    fed = load_federation(settings)
    test_rows = fed.data.rows_of(fed.data.test_engines)
    true = fed.data.runs.rul[test_rows]
    strategy = SeededFedAvg(settings)  # the seeded plan's nodes (fl_engine/flower/seeded.py)
    round_params: list[torch.Tensor] = []

    def evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord | None:
        if server_round == 0:
            return None
        params = from_record(arrays)
        pred = predict_rul(fed.data, fed.mlp, params, test_rows)
        record = strategy.records[-1]
        record["test_rmse"] = rmse(pred, true)
        record["late_life_rmse"] = late_life_rmse(pred, true)
        record["seconds"] = time.time() - record["started_at"]
        round_params.append(params)
        outputs.append_round(out_dir, record)
        listener = ROUND_LISTENERS.get(settings.out_dir)
        if listener is not None:
            listener(server_round, record)
        return MetricRecord({"test-rmse": record["test_rmse"]})

    # plain, inside Flower's DP-FedAvg wrapper, or through Flower's SecAgg+ workflow
    final = run_rounds(strategy, grid, context, to_record(initial_params(settings)), evaluate)
    outputs.finish(out_dir, from_record(final), round_params, strategy.local_params)
