"""The federated-learning engine on real data: aggregation, partitions, node behaviours, the
vectorized trainer against the per-node reference loop, and trained-model quality."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from fl_engine.aggregation import fedavg
from fl_engine.artifacts import ArtifactError, load_artifacts
from fl_engine.federated import FederatedConfig, Federation
from fl_engine.local_training import NodeData
from fl_engine.model import MLPConfig, init_params, make_mlp, predict
from fl_engine.nodes import Action, fails_at, non_participant, participant
from fl_engine.partition import PARTITIONS

MLP = MLPConfig()


def test_fedavg_is_the_row_weighted_mean():
    updates = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    assert torch.allclose(fedavg(updates, torch.tensor([1.0, 1.0, 2.0])), torch.tensor([3.5, 4.5]))
    assert torch.allclose(fedavg(updates[:1], torch.tensor([7.0])), updates[0])
    with pytest.raises(ValueError, match="at least one"):
        fedavg(updates[:0], torch.tensor([]))
    with pytest.raises(ValueError, match="non-negative"):
        fedavg(updates, torch.tensor([1.0, -1.0, 1.0]))


def test_ff09_model_has_865_parameters_in_the_flat_layout():
    model = make_mlp(MLP)
    assert sum(p.numel() for p in model.parameters()) == 865 == MLP.n_params
    flat = init_params(MLP, seed=5)
    model.load_state_dict(MLP.layout.to_state_dict(flat))
    x = torch.randn(7, 16)
    assert torch.allclose(model(x).squeeze(-1), predict(MLP, flat, x), atol=1e-6)


@pytest.mark.parametrize("rule", sorted(PARTITIONS))
def test_every_partition_uses_each_engine_once(protocol, rule):
    groups = protocol.engine_groups()
    parts = PARTITIONS[rule](protocol.train_engines, groups, 80, np.random.default_rng(0))
    assert len(parts) == 80 and all(len(p) >= 1 for p in parts)
    assert sorted(np.concatenate(parts).tolist()) == sorted(protocol.train_engines.tolist())
    sizes = [len(p) for p in parts]
    if rule == "iid":
        assert set(sizes) == {4}
    if rule == "unbalanced":
        assert max(sizes) >= 4 * min(sizes)
    if rule == "fault_mode":
        assert all(len(set(groups[p])) == 1 for p in parts)
        assert {groups[p[0]] for p in parts} == {"FD001", "FD003"}
    again = PARTITIONS[rule](protocol.train_engines, groups, 80, np.random.default_rng(0))
    assert all(np.array_equal(a, b) for a, b in zip(parts, again, strict=False))


def test_partition_refuses_more_nodes_than_engines(protocol):
    with pytest.raises(ValueError, match="cannot give 321 nodes"):
        PARTITIONS["iid"](
            protocol.train_engines, protocol.engine_groups(), 321, np.random.default_rng(0)
        )


def _nodes(
    protocol, n_nodes: int, rule: str = "unbalanced", seed: int = 0, n_engines: int = 320
) -> NodeData:
    engines = protocol.train_engines[:n_engines]
    parts = PARTITIONS[rule](
        engines, protocol.engine_groups(), n_nodes, np.random.default_rng(seed)
    )
    return NodeData.from_rows(protocol.x, protocol.y, [protocol.rows_of(p) for p in parts])


@pytest.mark.parametrize(
    "local_epochs, sample_fraction",
    [(1, 1.0), (2, 0.75)],
    ids=["one-epoch-all-nodes", "two-epochs-sampled"],
)
def test_vectorized_round_equals_the_per_node_loop(protocol, local_epochs, sample_fraction):
    nodes = _nodes(protocol, 16, n_engines=64)  # a fifth of the data keeps the reference loop quick
    assert int(nodes.sizes.max()) > 3 * int(nodes.sizes.min())  # unequal sizes: padding and masking
    behaviours = [non_participant, fails_at(0), fails_at(1)] + [participant] * 13
    results = {}
    for trainer in ("loop", "vectorized"):
        cfg = FederatedConfig(
            local_epochs=local_epochs, sample_fraction=sample_fraction, trainer=trainer
        )
        fed = Federation(nodes, behaviours, init_params(MLP, 1), cfg, MLP, seed=7)
        reports = [fed.run_round() for _ in range(2)]
        results[trainer] = (fed.global_params, fed.node_params, reports)
    loop, vec = results["loop"], results["vectorized"]
    assert torch.allclose(loop[0], vec[0], atol=1e-5, rtol=0)
    assert torch.allclose(loop[1], vec[1], atol=1e-5, rtol=0)
    assert not torch.allclose(vec[0], init_params(MLP, 1), atol=1e-3)  # it did train
    assert [n.status for n in loop[2][1].nodes] == [n.status for n in vec[2][1].nodes]


def test_vectorized_result_does_not_depend_on_the_node_chunk(protocol):
    nodes = _nodes(protocol, 16, n_engines=64)
    out = []
    for chunk in (1024, 3):
        fed = Federation(
            nodes,
            [participant] * 16,
            init_params(MLP, 0),
            FederatedConfig(node_chunk=chunk),
            MLP,
            seed=0,
        )
        fed.run_round()
        out.append(fed.node_params)
    assert torch.allclose(out[0], out[1], atol=1e-6, rtol=0)


def test_non_participant_never_sends_nor_receives(protocol):
    nodes = _nodes(protocol, 8, "iid", n_engines=64)
    behaviours = [non_participant] + [participant] * 7
    poisoned = dataclasses.replace(nodes, y=nodes.y.clone())
    poisoned.y[1:] = 5.0  # every other node's data changes...
    runs = []
    for data in (nodes, poisoned):
        fed = Federation(data, behaviours, init_params(MLP, 0), FederatedConfig(), MLP, seed=0)
        reports = [fed.run_round() for _ in range(3)]
        runs.append((fed, reports))
    (fed, reports), (other, _) = runs
    assert torch.equal(
        fed.node_params[0], other.node_params[0]
    )  # ...the non-participant's model does not
    assert not torch.allclose(fed.global_params, other.global_params)
    assert not torch.allclose(fed.node_params[0], fed.global_params, atol=1e-3)
    assert all(r.nodes[0].status == "local" and r.n_updates == 7 for r in reports)


def test_failed_node_contributes_nothing_after_it_fails(protocol):
    nodes = _nodes(protocol, 8, "iid", n_engines=64)
    changed = dataclasses.replace(nodes, y=nodes.y.clone())
    changed.y[3] = -4.0  # the failing node's data
    for fail_round, global_changes in ((0, False), (1, True)):
        behaviours = [participant] * 3 + [fails_at(fail_round)] + [participant] * 4
        out = []
        for data in (nodes, changed):
            fed = Federation(data, behaviours, init_params(MLP, 0), FederatedConfig(), MLP, seed=0)
            reports = [fed.run_round() for _ in range(2)]
            out.append(fed.global_params)
        assert (not torch.allclose(out[0], out[1])) == global_changes
        assert reports[1].nodes[3].status == "offline" and reports[1].n_updates == 7
        assert fails_at(fail_round)(1) == Action.OFFLINE


def test_client_sampling_asks_a_fraction_of_the_federating_nodes(protocol):
    nodes = _nodes(protocol, 20, "iid")
    fed = Federation(
        nodes,
        [non_participant] + [participant] * 19,
        init_params(MLP, 0),
        FederatedConfig(sample_fraction=0.25),
        MLP,
        seed=0,
    )
    reports = [fed.run_round() for _ in range(3)]
    assert [r.n_updates for r in reports] == [5, 5, 5]
    chosen = [tuple(n.node for n in r.nodes if n.status == "trained") for r in reports]
    assert len(set(chosen)) > 1
    assert all(sum(n.status == "not_sampled" for n in r.nodes) == 14 for r in reports)


def test_round_reports_show_the_sawtooth(protocol):
    """After averaging, a node's own-data loss rises above its locally trained loss."""
    nodes = _nodes(protocol, 20, "fault_mode")
    fed = Federation(nodes, [participant] * 20, init_params(MLP, 0), FederatedConfig(), MLP, seed=0)
    fed.run_round()
    report = fed.run_round()
    gaps = [n.loss_after - n.loss_before for n in report.nodes]
    assert np.mean(gaps) > 0


def test_trained_models_beat_the_naive_model_by_a_wide_margin(artifacts_dir):
    metrics = json.loads((artifacts_dir / "metrics.json").read_text())
    assert metrics["federated_rmse"] < 0.8 * metrics["naive_rmse"]
    assert metrics["centralized_rmse"] < 0.8 * metrics["naive_rmse"]
    assert (
        abs(metrics["federated_rmse"] - metrics["centralized_rmse"])
        < 0.1 * metrics["centralized_rmse"]
    )
    assert (
        len(metrics["federated_curve"]) == 10
        and metrics["federated_curve"][-1] < metrics["federated_curve"][0]
    )
    assert len(metrics["test_engines"]) == 80 and len(metrics["train_engines"]) == 320
    assert not set(metrics["test_engines"]) & set(metrics["train_engines"])
    # What each saved model was actually trained on (read from the trainers' node data), against
    # the engines it is scored on and the game replays: tests/test_engine_pins.py checks the rows.
    trained_on = metrics["trained_on"]
    assert set(trained_on) == {"centralized", "federated", "local"}
    assert len(trained_on["centralized"]) == 320
    assert len(trained_on["federated"]) + len(trained_on["local"]) == 320
    assert not any(set(engines) & set(metrics["test_engines"]) for engines in trained_on.values())
    curves = metrics["node_curves"]["nodes"]
    assert len(curves) == 80 and all(len(c["before"]) == 10 for c in curves.values())


def test_artifacts_are_safetensors_with_sequential_keys(artifacts_dir, protocol):
    state = load_file(str(artifacts_dir / "federated.safetensors"))
    assert sorted(state) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    model = make_mlp(MLP)
    model.load_state_dict(state)
    _metrics, mlp, params = load_artifacts(artifacts_dir)
    x = protocol.x[:50]
    assert torch.allclose(model(x).squeeze(-1), predict(mlp, params["federated"], x), atol=1e-6)


def test_damaged_or_missing_artifacts_get_clear_errors(artifacts_dir, tmp_path):
    copy = tmp_path / "art"
    shutil.copytree(artifacts_dir, copy)
    (copy / "local.safetensors").write_bytes(b"\x80\x04garbage, maybe a pickle")
    with pytest.raises(ArtifactError, match=r"local\.safetensors is damaged"):
        load_artifacts(copy)
    (copy / "local.safetensors").unlink()
    with pytest.raises(ArtifactError, match=r"local\.safetensors is missing"):
        load_artifacts(copy)
    (copy / "metrics.json").write_text("{")
    with pytest.raises(ArtifactError, match=r"metrics\.json is damaged"):
        load_artifacts(copy)
    with pytest.raises(ArtifactError, match="no trained models"):
        load_artifacts(tmp_path / "empty")


def test_tycoon_train_over_seeds_writes_summary(tmp_path):
    exe = shutil.which("tycoon", path=os.path.dirname(sys.executable)) or "tycoon"
    out = tmp_path / "runs"
    result = subprocess.run(
        [exe, "train", "--seeds", "0-1", "--rounds", "2", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "federated" in result.stdout and "±" in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seeds"] == [0, 1] and len(summary["federated_rmse"]["values"]) == 2
    for seed in (0, 1):
        metrics = json.loads((out / f"seed-{seed}" / "metrics.json").read_text())
        assert metrics["settings"]["seed"] == seed and metrics["settings"]["rounds"] == 2
        assert {f"{m}.safetensors" for m in ("centralized", "federated", "local")} <= {
            p.name for p in (out / f"seed-{seed}").iterdir()
        }
    bad = subprocess.run(
        [exe, "train", "--partition", "diagonal", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "partition" in bad.stderr and "Traceback" not in bad.stderr
