"""The server's rule as a Flower strategy: `flwr.serverapp.strategy.FedAvg`'s sampling and
messaging, the project's aggregation (`fl_engine.aggregation.make_aggregator`) and round records.

Why not the stock `aggregate_train`: it sums replies in arrival order, which is correct but not
bitwise reproducible from run to run; here replies are sorted by partition id, stacked as
[k, n_params] rows and handed to the same rule the in-process engine uses, weighted by rows
(`num-examples`). The non-participant's reply (`federates` = 0) is kept as its local model and
left out of the average, as in the in-process engine.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import torch
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg
from torch import Tensor

from fl_engine.aggregation import make_aggregator
from fl_engine.flower.records import from_record, to_record
from fl_engine.flower.settings import RunSettings


class ProjectFedAvg(FedAvg):
    """Every connected node trains each round; a round waits for `settings.min_nodes` of them
    (0 = all `nodes`: the equivalent run) and aggregates those that replied within the round
    timeout; one record per round in `self.records`."""

    def __init__(self, settings: RunSettings) -> None:
        n = settings.min_nodes or settings.nodes
        super().__init__(
            fraction_train=1.0,
            fraction_evaluate=0.0,
            min_train_nodes=n,
            min_evaluate_nodes=0,
            min_available_nodes=n,
        )
        self.settings = settings
        self.aggregator = make_aggregator(settings.aggregation, seed=settings.seed)
        self.global_params: Tensor | None = None
        self.local_params: Tensor | None = None
        self.records: list[dict[str, Any]] = []
        self._started = 0.0
        self._bytes_down = 0

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        self._started = time.time()
        self.global_params = from_record(arrays)
        messages = list(super().configure_train(server_round, arrays, config, grid))
        self._bytes_down = arrays.count_bytes() * len(messages)
        return messages

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        valid, errors = self._check_and_log_replies(replies, is_train=True)
        assert self.global_params is not None, "configure_train runs first"
        replies_by_node = sorted(valid, key=lambda m: _metric(m, "partition-id"))
        federating = [m for m in replies_by_node if _metric(m, "federates")]
        nodes: list[dict[str, Any]] = []
        for m in replies_by_node:
            federates = bool(_metric(m, "federates"))
            nodes.append(
                {
                    "node": int(_metric(m, "partition-id")),
                    "status": "trained" if federates else "local",
                    "rows": int(_metric(m, "num-examples")),
                    "loss_received": _metric(m, "loss-received"),
                    "loss_trained": _metric(m, "loss-trained"),
                    "bytes_up": m.content.array_records["arrays"].count_bytes(),
                }
            )
            if not federates:
                self.local_params = from_record(m.content.array_records["arrays"])
        arrays: ArrayRecord | None = None
        rejected: list[int] = []
        if federating:
            models = torch.stack(
                [from_record(m.content.array_records["arrays"]) for m in federating]
            )
            weights = self.weights(federating)
            result = self.aggregator(self.global_params, models, weights.to(models.dtype))
            arrays, rejected = to_record(result.params), result.rejected
        up = sum(n["bytes_up"] for n in nodes if n["status"] == "trained")
        self.records.append(
            {
                "round": server_round,
                "started_at": self._started,
                "n_updates": len(federating) - len(rejected),
                "failures": len(errors),
                "rejected": [int(_metric(federating[i], "partition-id")) for i in rejected],
                "bytes_down": self._bytes_down,
                "bytes_up": up,
                "nodes": nodes,
            }
        )
        total = sum(n["rows"] for n in nodes if n["status"] == "trained") or 1
        mean_loss = sum(n["loss_trained"] * n["rows"] for n in nodes if n["status"] == "trained")
        return arrays, MetricRecord({"loss-trained": mean_loss / total, "bytes-up": up})

    def weights(self, federating: list[Message]) -> Tensor:
        """Each averaged reply's weight: its rows (FedAvg by rows); DP-FedAvg overrides it."""
        return torch.tensor([_metric(m, "num-examples") for m in federating])


def _metric(message: Message, key: str) -> float:
    value = message.content.metric_records["metrics"][key]
    if not isinstance(value, int | float):
        raise TypeError(f"metric {key!r} is not a number: {value!r}")
    return float(value)
