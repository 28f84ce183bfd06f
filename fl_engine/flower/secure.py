"""Secure aggregation on Flower with Flower's own SecAgg+ (Bell, Bonawitz, Gascón, Lepoint &
Raykova, "Secure Single-Server Aggregation with (Poly)Logarithmic Overhead", CCS 2020): the client
mod `flwr.client.mod.secaggplus_mod` and the server workflow
`flwr.server.workflow.SecAggPlusWorkflow`, so the server learns only the weighted sum.

Flower 1.42 has SecAgg+ for the legacy API only. The workflow needs a `LegacyContext` and a
legacy `flwr.server.strategy.Strategy` (`configure_fit` / `aggregate_fit` over
`FitIns`/`FitRes`); the mod calls the inner ClientApp with the legacy `fitins.*` record layout and
reads its reply as `fitres.*`. Neither works with the message API's `Strategy.start` or a
`FedAvg` from `flwr.serverapp.strategy`. So this module runs the rounds itself with the legacy
pieces: `_SeededLegacy` (a legacy strategy asking the seeded plan's federating nodes, the same
`SeededFedAvg.select`), the workflow per round, and on the nodes `secure_train_mod`, which hands
SecAgg+ messages to `secaggplus_mod` around `_legacy_train` (the project's trainer in the legacy
layout) and every other message to the plain ClientApp.

What SecAgg+ computes: each node sends round(rows / max_weight * 2^22) / 2^22 times its model,
quantized to 2^22 levels over [-8, 8] and masked; the server unmasks the sum and divides by the
summed weights: FedAvg by rows up to fixed-point error (weights up to ~1 here, models well
inside +-8: a few 1e-6 per coordinate). `max_weight` is the largest node's rows. Key shares go
to every sampled node (`num_shares` 1.0) and 2/3 of them reconstruct a dropped node's masks.

The non-participant trains alone with a plain message before the secure round. Bytes per round
count every message's records both ways (the four SecAgg+ stages), measured here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp.typing import ClientAppCallable
from flwr.common import (
    Code,
    FitIns,
    FitRes,
    Parameters,
    Status,
    ndarrays_to_parameters,
    parameters_to_ndarrays,
)
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS
from flwr.serverapp import Grid

from fl_engine.flower.records import from_record, to_record
from fl_engine.flower.seeded import EvaluateFn, SeededFedAvg, number
from fl_engine.flower.settings import RunSettings
from fl_engine.flower.task import load_federation, train_node

RECONSTRUCTION = 2 / 3


def secure_train_mod(msg: Message, context: Context, call_next: ClientAppCallable) -> Message:
    """SecAgg+ messages to Flower's `secaggplus_mod` (around `_legacy_train`); others on."""
    if RECORD_KEY_CONFIGS not in msg.content.config_records:
        return call_next(msg, context)
    from flwr.client.mod import secaggplus_mod

    return secaggplus_mod(msg, context, _legacy_train)


def _legacy_train(msg: Message, context: Context) -> Message:
    """One federating node's round in the legacy layout `secaggplus_mod` expects."""
    import flwr.compat.common.recorddict_compat as compat

    settings = RunSettings.from_config(context.run_config, context.node_config)
    partition = int(context.node_config["partition-id"])
    fitins = compat.recorddict_to_fitins(msg.content, keep_input=True)
    received = parameters_to_ndarrays(fitins.parameters)[0]
    start = torch.from_numpy(np.asarray(received, dtype=np.float32)).reshape(-1)
    round_index = int(fitins.config["server-round"]) - 1
    result = train_node(settings, partition, round_index, start)
    trained = result.params.detach().to(torch.float32).contiguous().numpy()
    metrics: dict[str, Any] = {
        "partition-id": partition,
        "federates": 1,
        "num-examples": result.rows,
        "loss-received": result.loss_before,
        "loss-trained": result.loss_after,
    }
    res = FitRes(Status(Code.OK, ""), ndarrays_to_parameters([trained]), result.rows, metrics)
    return Message(content=compat.fitres_to_recorddict(res, keep_input=True), reply_to=msg)


def content_bytes(content: RecordDict) -> int:
    """Bytes of a message's records: arrays and metrics as Flower counts them, configs (the
    SecAgg+ keys, shares and masked vectors, lists of bytes) by their values' sizes."""
    arrays = sum(r.count_bytes() for r in content.array_records.values())
    metrics = sum(r.count_bytes() for r in content.metric_records.values())
    configs = sum(
        len(k) + _value_bytes(v) for r in content.config_records.values() for k, v in r.items()
    )
    return int(arrays + metrics + configs)


def _value_bytes(value: object) -> int:
    if isinstance(value, list):
        return sum(_value_bytes(v) for v in value)
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, str):
        return len(value.encode())
    return 1 if isinstance(value, bool) else 8


class _CountingGrid:
    """The ServerApp's grid, counting bytes down (messages) and up (replies)."""

    def __init__(self, grid: Grid) -> None:
        self.grid, self.down, self.up = grid, 0, 0

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        messages = list(messages)
        self.down += sum(content_bytes(m.content) for m in messages)
        replies = list(self.grid.send_and_receive(messages, timeout=timeout))
        self.up += sum(content_bytes(m.content) for m in replies if not m.has_error())
        return replies

    def __getattr__(self, name: str) -> Any:
        return getattr(self.grid, name)


class _SeededLegacy:
    """The legacy strategy the SecAgg+ workflow drives: the seeded plan's federating nodes."""

    def __init__(self, seeded: SeededFedAvg, grid: Grid) -> None:
        self.seeded, self.grid = seeded, grid
        self.results: list[tuple[Any, FitRes]] = []
        self.failures: list[Any] = []

    def initialize_parameters(self, client_manager: Any) -> Parameters | None:
        return None

    def configure_fit(
        self, server_round: int, parameters: Parameters, client_manager: Any
    ) -> list[tuple[Any, FitIns]]:
        from flwr.server.compat.grid_client_proxy import GridClientProxy

        asked = self.seeded.select(server_round, self.grid, federating_only=True)
        run_id = self.grid.run.run_id
        return [
            (GridClientProxy(node_id=n, grid=self.grid, run_id=run_id),
             FitIns(parameters, {"server-round": server_round}))
            for n in asked.values()
        ]  # fmt: skip

    def aggregate_fit(
        self, server_round: int, results: list[tuple[Any, FitRes]], failures: list[Any]
    ) -> tuple[Parameters | None, dict[str, Any]]:
        self.results, self.failures = results, failures
        return (results[0][1].parameters if results else None), {}

    def configure_evaluate(self, *args: Any) -> list[Any]:
        return []

    def aggregate_evaluate(self, *args: Any) -> tuple[None, dict[str, Any]]:
        return None, {}

    def evaluate(self, *args: Any) -> None:
        return None


def run_secagg_rounds(
    seeded: SeededFedAvg,
    grid: Grid,
    context: Context,
    initial: ArrayRecord,
    evaluate: EvaluateFn,
) -> ArrayRecord:
    """Every round through Flower's SecAgg+ workflow; the final global model."""
    import flwr.compat.common.recorddict_compat as compat
    from flwr.server import LegacyContext, ServerConfig
    from flwr.server.workflow import SecAggPlusWorkflow
    from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD, Key

    s = seeded.settings
    legacy = _SeededLegacy(seeded, grid)
    ctx = LegacyContext(
        context,
        config=ServerConfig(num_rounds=s.rounds, round_timeout=s.round_timeout),
        strategy=legacy,  # type: ignore[arg-type]
    )
    workflow = SecAggPlusWorkflow(
        num_shares=1.0,
        reconstruction_threshold=RECONSTRUCTION,
        max_weight=float(max(load_federation(s).sizes.tolist())),
        timeout=s.round_timeout,
    )
    cfg = ConfigRecord()
    ctx.state.config_records[MAIN_CONFIGS_RECORD] = cfg
    arrays = initial
    for r in range(1, s.rounds + 1):
        counting = _CountingGrid(grid)
        legacy.grid = counting  # type: ignore[assignment]
        seeded.begin(r, arrays)
        local = _train_local(seeded, counting, r, arrays)
        ctx.state.array_records[MAIN_PARAMS_RECORD] = arrays
        cfg[Key.CURRENT_ROUND] = r
        legacy.results, legacy.failures = [], []
        workflow(counting, ctx)  # type: ignore[arg-type]
        out = ctx.state.array_records[MAIN_PARAMS_RECORD]
        params = compat.arrayrecord_to_parameters(out, keep_input=True)
        after = from_record(arrays) if not legacy.results else _flat(params)
        arrays = to_record(after)
        _record(seeded, r, legacy.results, local, counting)
        evaluate(r, arrays)
    return arrays


def _flat(params: Parameters) -> torch.Tensor:
    return torch.from_numpy(np.asarray(parameters_to_ndarrays(params)[0], np.float32)).reshape(-1)


def _train_local(
    seeded: SeededFedAvg, grid: _CountingGrid, r: int, arrays: ArrayRecord
) -> Message | None:
    """The non-participant's plain round (it never joins the secure sum)."""
    plan = seeded.plan(r)
    if not plan.local:
        return None
    asked = seeded.select(r, grid.grid)
    node = asked.get(plan.local[0])
    if node is None:
        return None
    content = RecordDict({"arrays": arrays, "config": ConfigRecord({"server-round": r})})
    msg = Message(content, dst_node_id=node, message_type="train", group_id=str(r))
    replies = list(grid.send_and_receive([msg], timeout=seeded.settings.round_timeout))
    return next((m for m in replies if not m.has_error()), None)


def _record(
    seeded: SeededFedAvg,
    r: int,
    results: list[tuple[Any, FitRes]],
    local: Message | None,
    grid: _CountingGrid,
) -> None:
    """The round's record, in `ProjectFedAvg`'s format plus participation and SecAgg+ bytes."""
    nodes: list[dict[str, Any]] = []
    if local is not None:
        m = local.content.metric_records["metrics"]
        seeded.local_params = from_record(local.content.array_records["arrays"])
        nodes.append(_node(m, "local"))
    nodes += [_node(res.metrics, "trained") for _, res in results]
    nodes.sort(key=lambda n: n["node"])
    replied = {n["node"] for n in nodes}
    plan = seeded.plan(r)
    dropped = [p for p in plan.sampled if p not in replied]
    seeded.records.append(
        {
            "round": r,
            "started_at": seeded._started,
            "n_updates": len(results),
            "failures": len(dropped),
            "rejected": [],
            "bytes_down": grid.down,
            "bytes_up": grid.up,
            "nodes": nodes,
            "secure_aggregation": "secagg+",
            **seeded.participation(r, dropped=dropped, failed=[]),
        }
    )


def _node(metrics: MetricRecord | dict[str, Any], status: str) -> dict[str, Any]:
    return {
        "node": int(number(metrics["partition-id"])),
        "status": status,
        "rows": int(number(metrics["num-examples"])),
        "loss_received": number(metrics["loss-received"]),
        "loss_trained": number(metrics["loss-trained"]),
        "bytes_up": 0,
    }
