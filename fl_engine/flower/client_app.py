"""The Flower ClientApp: one factory's local training round, on the project's own trainer.

A node knows its partition from `context.node_config` (`partition-id`, `num-partitions`: set by
the simulation runtime, or by `flower-supernode --node-config` in a deployment) and the run from
`context.run_config`; it rebuilds its rows and the minibatch order (`fl_engine.flower.task`,
cached per process) instead of receiving pickled data.

The non-participant node (run config `non-participant`) trains its own model alongside, from
the model it kept in `context.state` (the global initial model in round 1), as the in-process
engine's non-participant does; it replies so the server can record that local model, and the
strategy leaves it out of the average.
"""

from __future__ import annotations

import torch
from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from fl_engine.flower.family_apps import family_query, family_train
from fl_engine.flower.records import from_record, to_record
from fl_engine.flower.secure import secure_train_mod
from fl_engine.flower.seeded import PARTITION_QUERY, partition_query
from fl_engine.flower.settings import RunSettings
from fl_engine.flower.task import train_node

LOCAL_STATE_KEY = "local-model"

torch.set_num_threads(1)  # one thread per node, as the in-process comparison uses per node

app = ClientApp()


@app.train(mods=[secure_train_mod])  # SecAgg+ rounds: fl_engine/flower/secure.py
def train(msg: Message, context: Context) -> Message:
    """Train on this node's rows from the received model; reply with the model and metrics."""
    settings = RunSettings.from_config(context.run_config, context.node_config)
    if settings.family:  # another model family: fl_engine/flower/family_apps.py
        return family_train(msg, context, settings)
    partition_id = int(context.node_config["partition-id"])
    num_partitions = int(context.node_config["num-partitions"])
    if num_partitions != settings.nodes:
        raise ValueError(f"num-partitions {num_partitions} != run config nodes {settings.nodes}")
    round_index = _int(msg.content.config_records["config"]["server-round"]) - 1
    received = msg.content.array_records["arrays"]
    federates = partition_id != settings.non_participant
    start = received
    if not federates and LOCAL_STATE_KEY in context.state.array_records:
        start = context.state.array_records[LOCAL_STATE_KEY]
    result = train_node(settings, partition_id, round_index, from_record(start))
    arrays: ArrayRecord = to_record(result.params)
    if not federates:
        context.state.array_records[LOCAL_STATE_KEY] = to_record(result.params)
    metrics = MetricRecord(
        {
            "num-examples": result.rows,
            "partition-id": partition_id,
            "federates": int(federates),
            "loss-received": result.loss_before,
            "loss-trained": result.loss_after,
            "bytes-down": received.count_bytes(),
            "bytes-up": arrays.count_bytes(),
        }
    )
    return Message(content=RecordDict({"arrays": arrays, "metrics": metrics}), reply_to=msg)


@app.query()
def query(msg: Message, context: Context) -> Message:
    """A model-family run's residual counts after the last round (`family_apps`)."""
    return family_query(msg, context)


# which partition a node id holds, asked once per node by the server (fl_engine/flower/seeded.py)
app.query(PARTITION_QUERY.split(".", 1)[1])(partition_query)


def _int(value: object) -> int:
    if not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value
