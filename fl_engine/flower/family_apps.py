"""The ClientApp's and the ServerApp's side of a model-family run (run config `family` set):
`client_app` and `server_app` hand such a run here, so the FF09 experiment's path stays as it is.

Rounds: the server's rule is the FF09 runtime's (`strategy.ProjectFedAvg`: replies sorted by
partition id, the project's FedAvg weighted by rows); every node federates (no non-participant)
and, with `local-models`, also trains its own model alone, kept in `context.state`.
After the last round one query message per node asks for its residual counts of the final global
model and of its local model (`families.node_counts`) and for that local model; the server writes
the counts (`families.COUNTS_FILE`) and the models (`outputs.finish`, `local` [nodes, n_params]).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from flwr.app import ArrayRecord, Context, Message, MessageType, MetricRecord, RecordDict
from flwr.serverapp import Grid

from fl_engine.flower import outputs
from fl_engine.flower.families import (
    COUNTS_FILE,
    load_family_federation,
    node_counts,
    node_losses,
    train_family_node,
    write_counts,
)
from fl_engine.flower.records import from_record, to_record
from fl_engine.flower.settings import RunSettings
from fl_engine.flower.strategy import ProjectFedAvg
from fl_engine.held_out import HeldOutSet

LOCAL_KEY = "family-local-model"  # context.state: this node's own model, trained alone
COUNTS_KEY = "counts"

Listener = Callable[[int, dict[str, Any]], None]


def _partition(context: Context, settings: RunSettings) -> int:
    partition_id = int(context.node_config["partition-id"])
    num_partitions = int(context.node_config["num-partitions"])
    if num_partitions != settings.nodes:
        raise ValueError(f"num-partitions {num_partitions} != run config nodes {settings.nodes}")
    return partition_id


def family_train(msg: Message, context: Context, settings: RunSettings) -> Message:
    """One round on this node: the received global model, and its own local model beside it."""
    partition_id = _partition(context, settings)
    server_round = msg.content.config_records["config"]["server-round"]
    if not isinstance(server_round, int):
        raise TypeError(f"server-round is not an integer: {server_round!r}")
    received = msg.content.array_records["arrays"]
    start = from_record(received)  # [n_params]
    trained = train_family_node(settings, partition_id, server_round - 1, start)
    if settings.local_models:  # the local model starts where every model starts: the initial one
        state = context.state.array_records
        own = from_record(state[LOCAL_KEY]) if LOCAL_KEY in state else start
        own = train_family_node(settings, partition_id, server_round - 1, own)
        context.state.array_records[LOCAL_KEY] = to_record(own)
    before, after = node_losses(settings, partition_id, torch.stack([start, trained]))
    arrays = to_record(trained)
    metrics = MetricRecord(
        {
            "num-examples": len(load_family_federation(settings).node_rows[partition_id]),
            "partition-id": partition_id,
            "federates": 1,
            "loss-received": before,
            "loss-trained": after,
            "bytes-down": received.count_bytes(),
            "bytes-up": arrays.count_bytes(),
        }
    )
    return Message(content=RecordDict({"arrays": arrays, "metrics": metrics}), reply_to=msg)


def family_query(msg: Message, context: Context) -> Message:
    """This node's residual counts [1 or 2, N_BINS] of the final global model (and of its local
    model, which it sends too), on its own engines."""
    settings = RunSettings.from_config(context.run_config, context.node_config)
    partition_id = _partition(context, settings)
    models = [from_record(msg.content.array_records["arrays"])]
    content = RecordDict({"metrics": MetricRecord({"partition-id": partition_id})})
    if settings.local_models:
        local = context.state.array_records.get(LOCAL_KEY)
        if local is None:
            raise ValueError(f"node {partition_id} has no local model: it trained no round")
        models.append(from_record(local))
        content["local"] = local
    counts = node_counts(settings, partition_id, torch.stack(models))
    content[COUNTS_KEY] = ArrayRecord([counts])
    return Message(content=content, reply_to=msg)


def family_server(
    grid: Grid, context: Context, settings: RunSettings, listener: Listener | None
) -> None:
    """The rounds, each scored on the held-out engines as `factory_training` scores its curves,
    then the nodes' counts and local models; everything written to `out-dir`."""
    out_dir = Path(settings.out_dir)
    outputs.start(out_dir)
    (out_dir / COUNTS_FILE).unlink(missing_ok=True)
    fed = load_family_federation(settings)
    test = HeldOutSet(fed.data, fed.family)
    strategy = ProjectFedAvg(settings)
    round_params: list[torch.Tensor] = []

    def evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord | None:
        if server_round == 0:
            return None
        params = from_record(arrays)
        scores = test.scores(params[None], fed.target.to_cycles)
        record = strategy.records[-1]
        record["test_rmse"] = scores["rmse"][0]
        record["late_life_rmse"] = scores["late_life_rmse"][0]
        record["seconds"] = time.time() - record["started_at"]
        round_params.append(params)
        outputs.append_round(out_dir, record)
        if listener is not None:
            listener(server_round, record)
        return MetricRecord({"test-rmse": record["test_rmse"]})

    result = strategy.start(
        grid=grid,
        initial_arrays=to_record(fed.family.initial_params(settings.seed)),
        num_rounds=settings.rounds,
        timeout=settings.round_timeout,
        evaluate_fn=evaluate,
    )
    final = from_record(result.arrays)
    replies = _query_all(grid, settings, final)
    counts = np.stack([_counts(m) for m in replies])  # [nodes, 1 or 2, N_BINS]
    local = None
    if settings.local_models:
        local = torch.stack([from_record(m.content.array_records["local"]) for m in replies])
    write_counts(out_dir, counts[:, 0], counts[:, 1] if settings.local_models else None)
    outputs.finish(out_dir, final, round_params, local)


def _query_all(grid: Grid, settings: RunSettings, final: torch.Tensor) -> list[Message]:
    """Every node's reply to the counting query, in partition order; all nodes must answer."""
    content = RecordDict({"arrays": to_record(final)})
    messages = [
        Message(content=content, message_type=MessageType.QUERY, dst_node_id=node)
        for node in grid.get_node_ids()
    ]
    by_node: dict[int, Message] = {}
    for reply in grid.send_and_receive(messages, timeout=settings.round_timeout):
        if not reply.has_error():
            value = reply.content.metric_records["metrics"]["partition-id"]
            by_node[int(value)] = reply  # type: ignore[arg-type]
    missing = [i for i in range(settings.nodes) if i not in by_node]
    if missing:
        raise RuntimeError(f"calibration: node(s) {missing} sent no residual counts")
    return [by_node[i] for i in range(settings.nodes)]


def _counts(reply: Message) -> np.ndarray[Any, Any]:
    (counts,) = reply.content.array_records[COUNTS_KEY].to_numpy_ndarrays()
    return np.asarray(counts, dtype=np.int64)
