"""Big federations, fast (issue 21): the lab's fast paths give the models the reference gives,
a closed run gives its training state back, and a cancel stops an 8,000-node round between
batches. No timings here: those are `bench/lab_scale.py`'s.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import numpy as np
import pytest
import torch

from fl_engine.data import Runs
from fl_engine.functional_training import _gradient_fn, train_functional, train_functional_loop
from fl_engine.lab import LabRun, lab_config
from fl_engine.lab.limits import Cancelled
from fl_engine.lab.memory import release_memory, resident_mib
from fl_engine.lab.nodes import LabNodes
from fl_engine.local_training import AdamConfig, epoch_plan
from fl_engine.model_families import WindowFamily
from fl_engine.window_training import transposed_windows, window_gradients, window_predict


def _window_run(runs: Runs, **settings: Any) -> LabRun:
    return LabRun(runs, lab_config({"model": "window", "rounds": 2, **settings}))


def test_the_written_out_gradients_are_autograds() -> None:
    family = WindowFamily()
    gen = torch.Generator().manual_seed(4)
    k, batch = 6, 32  # [nodes, batch]
    params = family.initial_params(0) + 0.05 * torch.randn(k, 1181, generator=gen)
    x = torch.randn(k, batch, 30, 16, generator=gen)  # [nodes, batch, window, features]
    y = torch.randn(k, batch, generator=gen)
    w = torch.full((k, batch), 1 / 29)
    w[:, 29:] = 0.0  # padding rows
    xt = transposed_windows(x.view(-1, 30, 16)).view(k, batch, 16, 30)
    hand = window_gradients(family.model.layout, family.cfg)(params, xt, y, w)
    auto = _gradient_fn(family.model)(params, x, y, w)
    assert torch.allclose(hand, auto, rtol=1e-5, atol=1e-7)
    pred = window_predict(family.model.layout, family.cfg, params, xt)
    assert torch.allclose(pred, torch.func.vmap(family.model)(params, x), atol=1e-6)


@pytest.mark.parametrize("prox_mu", [0.0, 0.1])
def test_the_lab_trains_the_models_the_per_node_loop_trains(runs: Runs, prox_mu: float) -> None:
    """The lab's fast path (hand-written gradients on transposed windows, in node batches)
    against the per-node reference: one `nn.Module` and `torch.optim.Adam` per node."""
    run = _window_run(runs, nodes=80)
    nodes = run.nodes
    base = torch.tensor([3, 17, 17, 42, 79])  # a repeated node too
    plans = [epoch_plan(nodes.sizes[base], run.batch_size, run.generator) for _ in range(2)]
    adam = AdamConfig(lr=3e-3, prox_mu=prox_mu)
    start = run.init.unsqueeze(0).repeat(len(base), 1)
    fast, loop, vmapped = start.clone(), start.clone(), start.clone()
    nodes.train(fast, base, plans, adam, False, batch=2)
    table = nodes.table
    untransposed = type(table)(table.inputs.transpose(-1, -2), table.targets, table.source)
    assert isinstance(run.family, WindowFamily)
    model = run.family.model
    train_functional_loop(model, loop, untransposed, nodes.samples, base, plans, adam)
    train_functional(model, vmapped, untransposed, nodes.samples, base, plans, adam)
    assert not torch.equal(fast, start)
    assert torch.allclose(fast, vmapped, rtol=0, atol=1e-6)  # measured equal here
    assert torch.allclose(fast, loop, rtol=0, atol=1e-5)


@pytest.mark.parametrize("model", ["window", "ff09"])
def test_batches_trained_in_parallel_give_the_same_models(runs: Runs, model: str) -> None:
    """Two or three batches at once (threads) train exactly what one at a time trains: the
    nodes of a round are independent and each batch writes only its own rows."""
    run = LabRun(runs, lab_config({"model": model, "nodes": 80, "rounds": 1}))
    nodes = run.nodes
    base = torch.tensor([3, 17, 17, 42, 79, 0, 5])
    plans = [epoch_plan(nodes.sizes[base], run.batch_size, run.generator) for _ in range(2)]
    adam = AdamConfig(lr=3e-3)
    start = run.init.unsqueeze(0).repeat(len(base), 1)
    alone, two, three = start.clone(), start.clone(), start.clone()
    nodes.train(alone, base, plans, adam, False, batch=2, workers=1)
    nodes.train(two, base, plans, adam, False, batch=2, workers=2)
    nodes.train(three, base, plans, adam, True, batch=3, workers=3)
    assert not torch.equal(alone, start)
    assert torch.equal(alone, two)
    poisoned = start.clone()
    nodes.train(poisoned, base, plans, adam, True, batch=3, workers=1)
    assert torch.equal(three, poisoned)


def test_losses_are_each_models_error_on_its_own_sample(runs: Runs) -> None:
    """The vectorized losses against a plain computation, node by node."""
    run = _window_run(runs, nodes=80)
    nodes, family = run.nodes, run.family
    assert isinstance(family, WindowFamily)
    base = torch.tensor([0, 5, 5, 61])
    gen = torch.Generator().manual_seed(1)
    params = run.init + 0.02 * torch.randn(len(base), run.n_params, generator=gen)
    got = nodes.losses(params, base)
    for i, b in enumerate(base.tolist()):
        rows = nodes.samples.rows[b, torch.as_tensor(nodes.loss_positions[b])]
        x = nodes.table.inputs[rows].transpose(-1, -2)  # [rows, window, features]
        pred = family.model(params[i], x)
        want = (pred - nodes.table.targets[rows]).square().mean()
        assert float(got[i]) == pytest.approx(float(want), rel=1e-5)


def test_a_closed_run_gives_its_training_state_back_and_still_deploys(runs: Runs) -> None:
    run = _window_run(runs, nodes=160, compression="topk")
    run.run()
    table = weakref.ref(run.nodes.table.inputs)  # the big tensor: every sample's window
    final = run.final()
    assert table() is not None and run.server.compressor is not None
    run.close()
    assert table() is None, "a closed run still holds its sample table"
    assert run.server.compressor is None and run._nodes is None
    assert run.final() == final and run.rounds_done == 2
    run.calibration()
    with pytest.raises(ValueError, match="all its 2 rounds"):
        run.step()
    assert release_memory() in (True, False) and resident_mib() >= 0.0


def test_a_run_closed_mid_round_frees_its_state_as_the_round_stops(
    runs: Runs, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = _window_run(runs, nodes=2000)
    held = weakref.ref(run.nodes.table.inputs)
    started, outcome = threading.Event(), []
    real_train = LabNodes._train

    def train(self: LabNodes, *args: Any) -> None:
        started.set()
        real_train(self, *args)

    def play() -> None:
        try:
            run.step()
        except Cancelled as exc:
            outcome.append(exc)

    monkeypatch.setattr(LabNodes, "_train", train)
    thread = threading.Thread(target=play)
    thread.start()
    assert started.wait(120)
    run.close()  # from another thread, while the round trains
    thread.join(120)
    assert outcome and run.rounds_done == 0
    assert held() is None and run._nodes is None


@pytest.mark.parametrize("model", ["window", "ff09"])
def test_a_cancel_stops_an_8000_node_round_after_the_batch_under_way(
    runs: Runs, model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancelled while the first batch of nodes trains: no other batch starts (the window
    trainer even stops that one at its next epoch)."""
    run = LabRun(runs, lab_config({"model": model, "nodes": 8000, "rounds": 1}))
    batches: list[int] = []
    real_train = LabNodes._train

    def train(self: LabNodes, params: torch.Tensor, *args: Any) -> None:
        batches.append(len(params))
        run.cancel()  # as a Cancel from the browser lands while this batch trains
        real_train(self, params, *args)

    monkeypatch.setattr(LabNodes, "_train", train)
    with pytest.raises(Cancelled):
        run.step()
    # one batch per worker may be past its first check when the cancel lands, no more
    assert 1 <= len(batches) <= run.nodes.workers
    assert max(batches) <= run.nodes.batch_nodes(1) < 8000
    assert run.rounds_done == 0 and run.records == []


def test_an_8000_node_round_records_every_node(runs: Runs) -> None:
    """The fast path at full size: every node trained, measured and recorded, once."""
    run = LabRun(runs, lab_config({"model": "window", "nodes": 8000, "rounds": 1}))
    record = run.step()
    assert len(record["participants"]) == 8000
    before = np.asarray(record["node_loss_before"], dtype=float)
    after = np.asarray(record["node_loss_after"], dtype=float)
    assert np.isfinite(before).all() and np.isfinite(after).all()
    assert np.array_equal(after[:80], after[80:160])  # replicas: same rows, same new model
    assert record["rmse"] is not None and record["bytes_up"] == 4 * run.n_params * 8000
