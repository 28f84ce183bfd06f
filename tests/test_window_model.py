"""The window model family and the `torch.func` trainers, on the real protocol data.

The vectorized trainer is held to the per-node reference loop (plain modules, autograd,
`torch.optim.Adam`) with the same initial weights and the same minibatches, on nodes of unequal
size over several local epochs, so the size-sorting and per-node Adam step counts are exercised.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from fl_engine.features import ProtocolData
from fl_engine.flat_params import FunctionalModel, ParamLayout
from fl_engine.functional_training import (
    NodeSamples,
    SampleTable,
    train_functional,
    train_functional_loop,
)
from fl_engine.local_training import AdamConfig, epoch_plan
from fl_engine.model_families import WindowFamily
from fl_engine.rounds import train_rounds
from fl_engine.threads import torch_threads
from fl_engine.window import WindowConfig, WindowNet, window_rows, windows


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Thousands of small steps: one torch thread, as the engine trains (`fl_engine.threads`)."""
    with torch_threads(1):
        yield


def test_windows_end_at_their_row_and_stay_in_their_engine(protocol: ProtocolData) -> None:
    runs = protocol.runs
    wr = window_rows(protocol.engine_rows, runs.n_rows, 30)
    assert wr.shape == (runs.n_rows, 30)
    assert np.array_equal(wr[:, -1], np.arange(runs.n_rows))  # the newest cycle is the row itself
    assert np.array_equal(runs.row_engine[wr], np.repeat(runs.row_engine[:, None], 30, axis=1))
    assert (np.diff(runs.cycle[wr], axis=1) >= 0).all()  # oldest first, never from the future
    rows = protocol.engine_rows[0]
    # cycle 5 of an engine: 25 copies of its first row, then cycles 1..5
    assert list(runs.cycle[wr[rows[4]]]) == [1] * 26 + [2, 3, 4, 5]
    # cycle 40: the 30 cycles 11..40
    assert list(runs.cycle[wr[rows[39]]]) == list(range(11, 41))
    x = windows(protocol.x, wr[rows[:3]])
    assert x.shape == (3, 30, protocol.n_features)
    assert torch.equal(x[2, -1], protocol.x[rows[2]])


def _nodes(protocol: ProtocolData, engines_per_node: list[int]) -> tuple[SampleTable, NodeSamples]:
    """Nodes holding the given numbers of training engines (unequal sizes), one sample table."""
    wr = window_rows(protocol.engine_rows, protocol.runs.n_rows, 30)
    groups, start = [], 0
    for k in engines_per_node:
        groups.append(protocol.rows_of(protocol.train_engines[start : start + k]))
        start += k
    rows = np.concatenate(groups)
    table = SampleTable(
        windows(protocol.x, wr[rows]), protocol.y[rows], torch.as_tensor(rows, dtype=torch.long)
    )
    positions = np.split(np.arange(len(rows)), np.cumsum([len(g) for g in groups])[:-1])
    return table, NodeSamples.from_lists(positions)


def _plans(nodes: NodeSamples, epochs: int, batch: int, seed: int) -> list[Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [epoch_plan(nodes.sizes, batch, generator) for _ in range(epochs)]


def test_vectorized_round_equals_the_per_node_loop(protocol: ProtocolData) -> None:
    table, nodes = _nodes(protocol, [1, 2, 1, 1, 2])
    assert len(set(nodes.sizes.tolist())) == 5  # ragged: every node a different size
    model = FunctionalModel.of(WindowNet(WindowConfig()))
    init = WindowFamily().initial_params(seed=3).repeat(nodes.n_nodes, 1)
    idx = torch.arange(nodes.n_nodes)
    plans = _plans(nodes, epochs=2, batch=32, seed=0)  # 2 epochs: Adam step counts differ by node
    vec, loop = init.clone(), init.clone()
    train_functional(model, vec, table, nodes, idx, plans, AdamConfig(lr=3e-3))
    train_functional_loop(model, loop, table, nodes, idx, plans, AdamConfig(lr=3e-3))
    assert not torch.allclose(vec, init)
    torch.testing.assert_close(vec, loop, atol=1e-5, rtol=1e-4)


def test_a_node_subset_in_any_order_trains_as_the_loop_does(protocol: ProtocolData) -> None:
    table, nodes = _nodes(protocol, [2, 1, 1, 2])
    model = FunctionalModel.of(WindowNet(WindowConfig(filters=3, hidden=8)))
    idx = torch.tensor([3, 1, 2])  # not in size order, node 0 left out
    init = model.initial_params().repeat(3, 1)
    generator = torch.Generator().manual_seed(1)
    plans = [epoch_plan(nodes.sizes[idx], 64, generator)]
    vec, loop = init.clone(), init.clone()
    train_functional(model, vec, table, nodes, idx, plans, AdamConfig())
    train_functional_loop(model, loop, table, nodes, idx, plans, AdamConfig())
    torch.testing.assert_close(vec, loop, atol=1e-5, rtol=1e-4)


class _TinyConv(nn.Module):
    """Any module fits the functional trainer: here a real `nn.Conv1d`, for the claim's sake."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(16, 4, kernel_size=5, stride=5)
        self.head = nn.Linear(4 * 6, 1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv(x.transpose(-1, -2)).relu()  # [batch, 4, 6]
        out: Tensor = self.head(h.flatten(-2)).squeeze(-1)
        return out


def test_any_module_trains_vectorized_as_the_loop_does(protocol: ProtocolData) -> None:
    table, nodes = _nodes(protocol, [1, 1, 1])
    torch.manual_seed(0)
    model = FunctionalModel.of(_TinyConv())
    init = model.initial_params().repeat(3, 1)
    plans = _plans(nodes, epochs=1, batch=16, seed=2)
    vec, loop = init.clone(), init.clone()
    idx = torch.arange(3)
    train_functional(model, vec, table, nodes, idx, plans, AdamConfig())
    train_functional_loop(model, loop, table, nodes, idx, plans, AdamConfig())
    torch.testing.assert_close(vec, loop, atol=1e-5, rtol=1e-4)


def test_param_layout_round_trips_and_refuses_other_models() -> None:
    net = WindowNet(WindowConfig())
    layout = ParamLayout.of(net)
    assert layout.n_params == sum(p.numel() for p in net.parameters())
    flat = torch.randn(2, layout.n_params)
    torch.testing.assert_close(layout.flatten(layout.to_state_dict(flat), lead=(2,)), flat)
    other = ParamLayout.of(WindowNet(WindowConfig(filters=5))).to_state_dict(
        torch.zeros(ParamLayout.of(WindowNet(WindowConfig(filters=5))).n_params)
    )
    with pytest.raises(ValueError, match=r"temporal\.weight has shape"):
        layout.flatten(other)
    with pytest.raises(ValueError, match="buffers"):
        ParamLayout.of(nn.BatchNorm1d(3))


def test_rounds_feed_each_node_only_its_own_rows(protocol: ProtocolData) -> None:
    """`train_rounds` records the protocol rows every node's minibatches drew: exactly its own."""
    groups = [protocol.rows_of(protocol.train_engines[i : i + 1]) for i in range(4)]
    family = WindowFamily(WindowConfig(filters=2, hidden=4))
    _, stage = family.stages(protocol, protocol.y, groups, AdamConfig(), "vectorized")
    init = family.initial_params(0)
    for average in (False, True):
        result = train_rounds(
            stage, init, 2, 1, 32, torch.Generator().manual_seed(0), protocol.runs.n_rows, average
        )
        for node, rows in enumerate(groups):
            assert np.array_equal(np.flatnonzero(result.fed[node].numpy()), np.sort(rows))
        if average:  # FedAvg leaves every node holding the global model
            assert torch.equal(result.params[0], result.params[-1])
        else:
            assert not torch.equal(result.params[0], result.params[1])
