"""The ServerApp's rounds with the in-process engine's participation: `SeededFedAvg` asks the
nodes `fl_engine.flower.participation.round_plans` picks, and reports per round who trained, who
was not sampled, who was down by the plan, who was asked but sent nothing (`dropped`), who
answered with an error (`failed`) and who connected since the last round (`joined`).

Flower's own knobs are set from the same settings, so a reader of the strategy sees them:
`fraction_train` = the sample fraction, `min_train_nodes` = the planned cohort (at least 1),
`min_available_nodes` = the nodes a round waits for (run config `min-nodes`, 0 = all). The draw
itself replaces Flower's `random.sample` (why: `participation`'s docstring); the wait for
`min_available_nodes` is Flower's own `sample_nodes` loop, and the round deadline is Flower's
`Strategy.start(timeout=...)` (run config `round-timeout`).

Which node id holds which partition: node ids are the SuperLink's (random), partitions are in each
node's own `node_config`, so the server asks each newly connected node once with a
`query.partition` message (`partition_query`, registered on the ClientApp) before sampling.

`run_rounds` picks the round loop: Flower's `Strategy.start` (plain), the same inside Flower's
DP-FedAvg wrapper (`fl_engine.flower.privacy`), or Flower's SecAgg+ workflow
(`fl_engine.flower.secure`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.common.constant import ErrorCode
from flwr.serverapp import Grid
from flwr.serverapp.strategy.strategy_utils import sample_nodes
from torch import Tensor

from fl_engine.flower.participation import RoundPlan, round_plans
from fl_engine.flower.records import from_record
from fl_engine.flower.settings import RunSettings
from fl_engine.flower.strategy import ProjectFedAvg

PARTITION_QUERY = "query.partition"
EvaluateFn = Callable[[int, ArrayRecord], MetricRecord | None]
# error codes that mean "the node is gone", not "the node's app failed"
GONE = {
    ErrorCode.NODE_UNAVAILABLE,
    ErrorCode.MESSAGE_UNAVAILABLE,
    ErrorCode.REPLY_MESSAGE_UNAVAILABLE,
}


def partition_query(msg: Message, context: Context) -> Message:
    """The ClientApp's answer to `query.partition`: its partition id (node config)."""
    partition = int(context.node_config["partition-id"])
    record = MetricRecord({"partition-id": partition})
    return Message(content=RecordDict({"partition": record}), reply_to=msg)


class SeededFedAvg(ProjectFedAvg):
    """`ProjectFedAvg` asking the seeded plan's trainers; one record per round with the
    participation fields (partition ids): sampled, not_sampled, offline, dropped, failed,
    joined."""

    def __init__(self, settings: RunSettings) -> None:
        super().__init__(settings)
        self.plans = round_plans(settings)
        self.fraction_train = settings.sample_fraction
        self.min_train_nodes = max(1, min(len(p.sampled) for p in self.plans))
        self.min_available_nodes = settings.min_nodes or settings.nodes
        self.partition_of: dict[int, int] = {}  # node id -> partition id
        self.asked: dict[int, int] = {}  # this round: partition id -> node id
        self.unreachable: list[int] = []  # this round's planned trainers not connected
        self.joined: list[int] = []
        self.held_local: list[Message] = []  # the non-participant's reply, set aside (DP)

    def plan(self, server_round: int) -> RoundPlan:
        return self.plans[server_round - 1]

    def begin(self, server_round: int, arrays: ArrayRecord) -> None:
        """Start the round's clock and remember the model it starts from."""
        self._started = time.time()
        self.global_params = from_record(arrays)

    def select(
        self, server_round: int, grid: Grid, federating_only: bool = False
    ) -> dict[int, int]:
        """partition id -> node id of the round's planned trainers that are connected, after
        Flower's wait for `min_available_nodes`; the non-participant too unless
        `federating_only`."""
        _, connected = sample_nodes(grid, self.min_available_nodes, 0)
        self._discover(server_round, grid, connected)
        node_of = {self.partition_of[n]: n for n in connected if n in self.partition_of}
        plan = self.plan(server_round)
        wanted = plan.sampled if federating_only else plan.trainers
        self.asked = {p: node_of[p] for p in wanted if p in node_of}
        self.unreachable = [p for p in wanted if p not in node_of]
        return self.asked

    def _discover(self, server_round: int, grid: Grid, connected: Iterable[int]) -> None:
        new = [n for n in connected if n not in self.partition_of]
        self.joined = []
        if not new:
            return
        asks = [
            Message(RecordDict(), dst_node_id=n, message_type=PARTITION_QUERY, group_id="0")
            for n in new
        ]
        for reply in grid.send_and_receive(asks, timeout=self.settings.round_timeout):
            if reply.has_error():
                continue
            p = int(number(reply.content.metric_records["partition"]["partition-id"]))
            self.partition_of[reply.metadata.src_node_id] = p
            if server_round > 1:
                self.joined.append(p)
        self.joined.sort()

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        self.begin(server_round, arrays)
        targets = self.select(server_round, grid)
        config["server-round"] = server_round
        record = RecordDict({self.arrayrecord_key: arrays, self.configrecord_key: config})
        messages = list(self._construct_messages(record, list(targets.values()), "train"))
        self._bytes_down = arrays.count_bytes() * len(messages)
        return messages

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        replies = [*self.held_local, *replies]
        self.held_local = []
        arrays, metrics = super().aggregate_train(server_round, replies)
        answered = {m.metadata.src_node_id: m for m in replies}
        gone = [p for p, n in self.asked.items() if n not in answered or _gone(answered[n])]
        failed = [p for p, n in self.asked.items() if n in answered and answered[n].has_error()]
        self.records[-1].update(
            self.participation(server_round, dropped=gone, failed=sorted(set(failed) - set(gone)))
        )
        return arrays, metrics

    def participation(
        self, server_round: int, dropped: list[int], failed: list[int]
    ) -> dict[str, Any]:
        """The round record's participation fields."""
        plan = self.plan(server_round)
        return {
            "sampled": list(plan.sampled),
            "not_sampled": list(plan.not_sampled),
            "offline": list(plan.offline),
            "dropped": sorted(set(dropped) | set(self.unreachable)),
            "failed": failed,
            "joined": list(self.joined),
        }

    def weights(self, federating: list[Message]) -> Tensor:
        """Rows, or under DP-FedAvg one per factory (user-level privacy, McMahan et al. 2018):
        Flower's fixed-clipping noise is calibrated to an unweighted mean."""
        if self.settings.dp_noise > 0:
            return torch.ones(len(federating))
        return super().weights(federating)


def number(value: object) -> float:
    """A metric that must be a number (records also hold lists)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def _gone(reply: Message) -> bool:
    return reply.has_error() and reply.error.code in GONE
