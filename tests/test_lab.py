"""The Federation Lab's engine (docs/lab.md, section 2) on the real data, with small runs."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
import torch

from fl_engine.aggregation import AGGREGATIONS
from fl_engine.attacks import ATTACKS
from fl_engine.data import Runs
from fl_engine.factory_training import train_stages
from fl_engine.factory_types import FactoryModelsConfig
from fl_engine.features import prepare_protocol
from fl_engine.functional_training import FUNCTIONAL_TRAINERS, NodeSamples, SampleTable
from fl_engine.lab import LabConfig, LabConfigError, LabRun, lab_config
from fl_engine.lab.config import Aggregation, Attack
from fl_engine.local_training import AdamConfig, epoch_plan
from fl_engine.model_families import WindowFamily, family_of

FIELDS = {
    "round": int,
    "rmse": float,
    "late_life_rmse": float,
    "participants": list,
    "dropped": list,
    "stragglers": list,
    "attackers": list,
    "rejected": list,
    "node_loss_before": list,
    "node_loss_after": list,
    "bytes_up": int,
    "bytes_down": int,
    "seconds": float,
}


def _run(runs: Runs, **settings: object) -> LabRun:
    run = LabRun(runs, LabConfig.model_validate(settings))
    run.run()
    return run


def test_the_config_names_the_contracts_rules_and_attacks() -> None:
    assert Aggregation.__args__ == AGGREGATIONS  # type: ignore[attr-defined]
    assert Attack.__args__ == ("none", *ATTACKS)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"nodes": 9000}, "nodes must be between 8 and 8000, got 9000"),
        (
            {"trim_fraction": 0.6},
            "trim_fraction must be below 0.5 (it drops that share of the largest and of the "
            "smallest values), got 0.6",
        ),
        ({"rounds": 0}, "rounds must be between 1 and 500, got 0"),
        ({"attack": "nan", "attackers": 0.6}, "attackers must be between 0 and 0.5"),
        ({"attack": "nan", "attacker_nodes": [3, 80]}, "attacker_nodes must be node indices"),
        ({"attackers": 0.2}, "attackers are given but attack is none"),
        ({"attack": "sign_flip"}, "attack sign_flip needs attackers"),
        ({"aggregation": "krum", "krum_byzantine": 39}, "needs more than 80 nodes"),
        ({"aggregation": "krum", "multi_krum": 81}, "multi_krum=81 must be at most"),
        ({"sample_fraction": 0}, "sample_fraction must be above 0"),
        ({"nodes": 80, "bogus": 1}, "unknown setting 'bogus'"),
        ({"aggregation": "mean"}, "aggregation input should be"),
    ],
)
def test_config_errors_say_what_is_wrong(settings: dict[str, object], message: str) -> None:
    with pytest.raises(LabConfigError) as caught:
        lab_config(settings)
    assert message in str(caught.value)
    with pytest.raises(ValueError):  # pydantic's own error carries the same words
        LabConfig.model_validate(settings)


def test_a_clean_fedavg_run_learns_and_records_every_field(runs: Runs) -> None:
    run = _run(runs, nodes=80, rounds=3)
    assert run.done and run.rounds_done == 3
    records = run.record()["rounds"]
    assert records[-1]["rmse"] < records[0]["rmse"]
    for r in records:
        for name, kind in FIELDS.items():
            assert isinstance(r[name], kind), name
        assert r["participants"] == list(range(80)) and r["rejected"] == []
        assert all(isinstance(v, float) for v in r["node_loss_before"] + r["node_loss_after"])
        assert r["bytes_up"] == r["bytes_down"] == 4 * run.n_params * 80
    json.dumps(run.record(), allow_nan=False)
    with pytest.raises(ValueError, match="all its 3 rounds"):
        run.step()


def test_full_participation_fedavg_is_the_games_federated_model(runs: Runs) -> None:
    """Same split, deal, initial weights, minibatches and trainer as `train_stages`."""
    run = _run(runs, nodes=80, rounds=2)
    data = prepare_protocol(runs, 0, 80)
    cfg = FactoryModelsConfig(seed=0, model="window", rounds=2, centralized_epochs=1)
    trained = train_stages(data, family_of("window"), cfg, lambda *a: None, {})
    assert torch.allclose(run.global_params(), trained.federated.params[0], atol=1e-5)


def test_dropouts_and_stragglers_are_left_out(runs: Runs) -> None:
    run = _run(runs, nodes=80, rounds=2, dropout=0.3, deadline=1.5, sample_fraction=0.8)
    for r in run.records:
        left_out = set(r["dropped"]) | set(r["stragglers"])
        assert r["dropped"] and r["stragglers"]
        assert not left_out & set(r["participants"])
        assert all(r["node_loss_before"][n] is None for n in left_out)
        assert all(r["node_loss_before"][n] is not None for n in r["participants"])
        sampled = len(r["participants"]) + len(left_out)
        assert r["bytes_down"] == 4 * run.n_params * sampled == 4 * run.n_params * 64


def test_nodes_that_do_not_take_part_do_not_move_the_model(runs: Runs) -> None:
    """The round's model is FedAvg of the participants alone: recomputed here by hand."""
    run = LabRun(runs, LabConfig(nodes=80, rounds=1, dropout=0.5, seed=3))
    start = run.global_params()
    record = run.step()
    part = np.asarray(record["participants"])
    base = torch.as_tensor(part % 80)
    gen = torch.Generator().manual_seed(3 + 2)
    plans = [epoch_plan(run.nodes.sizes[base], 32, gen)]
    models = start.unsqueeze(0).repeat(len(part), 1)
    run.nodes.train(models, base, plans, AdamConfig(lr=3e-3), False)
    w = run.nodes.sizes[base].float()
    assert torch.allclose(run.global_params(), (w / w.sum()) @ models, atol=1e-5)


@pytest.mark.parametrize("rule", AGGREGATIONS)
def test_nan_attackers_never_reach_the_global_model(runs: Runs, rule: str) -> None:
    run = _run(runs, nodes=80, rounds=1, attack="nan", attackers=0.1, aggregation=rule)
    r = run.records[0]
    assert len(r["attackers"]) == 8 and set(r["attackers"]) <= set(r["rejected"])
    assert math.isfinite(r["rmse"]) and bool(torch.isfinite(run.global_params()).all())
    assert all(r["node_loss_before"][n] is None for n in r["attackers"])


def test_sign_flippers_break_fedavg_more_than_the_median(runs: Runs) -> None:
    attack = {"nodes": 80, "rounds": 3, "attack": "sign_flip", "attackers": 0.2}
    fedavg = _run(runs, **attack).final()["rmse"]
    median = _run(runs, **attack, aggregation="median").final()["rmse"]
    clean = _run(runs, nodes=80, rounds=3).final()["rmse"]
    assert fedavg > median and fedavg > clean


def test_named_label_attackers_train_on_flipped_targets(runs: Runs) -> None:
    run = _run(runs, nodes=80, rounds=1, attack="label", attacker_nodes=[0, 1])
    loss = run.records[0]["node_loss_before"]
    assert run.records[0]["attackers"] == [0, 1]
    honest = np.median([v for v in loss[2:] if v is not None])
    assert min(loss[0], loss[1]) > 2 * honest  # fit to the wrong targets: bad on the true ones


def test_prox_mu_zero_is_plain_training_and_mu_pulls_towards_the_start(runs: Runs) -> None:
    data = prepare_protocol(runs, 0, 80)
    family = WindowFamily()
    rows = [data.engine_rows[e] for e in data.train_engines[:3]]
    flat = np.concatenate(rows)
    x = family.inputs(data.x, data.engine_rows)[torch.as_tensor(flat)]
    table = SampleTable(x, data.y[torch.as_tensor(flat)], torch.as_tensor(flat))
    bounds = np.cumsum([0] + [len(r) for r in rows])
    nodes = NodeSamples.from_lists([np.arange(a, b) for a, b in itertools.pairwise(bounds)])
    start = family.initial_params(0).unsqueeze(0).repeat(3, 1)
    plans = [epoch_plan(nodes.sizes, 32, torch.Generator().manual_seed(1))]
    idx = torch.arange(3)

    def trained(trainer: str, adam: AdamConfig) -> torch.Tensor:
        p = start.clone()
        FUNCTIONAL_TRAINERS[trainer](family.model, p, table, nodes, idx, plans, adam)
        return p

    plain = trained("vectorized", AdamConfig(lr=3e-3))
    assert torch.equal(plain, trained("vectorized", AdamConfig(lr=3e-3, prox_mu=0.0)))
    prox = trained("vectorized", AdamConfig(lr=3e-3, prox_mu=1.0))
    assert torch.allclose(prox, trained("loop", AdamConfig(lr=3e-3, prox_mu=1.0)), atol=1e-5)
    assert (prox - start).norm() < (plain - start).norm()


def test_eight_hundred_nodes_share_eighty_partitions(runs: Runs) -> None:
    run = _run(runs, nodes=800, rounds=1, sample_fraction=0.3)
    assert run.nodes.n_base == 80
    assert len(run.nodes.table.inputs) == sum(len(p) for p in run.partition)  # data held once
    r = run.records[0]
    assert len(r["participants"]) == 240 and len(r["node_loss_after"]) == 800
    after = r["node_loss_after"]
    twins = [n for n in r["participants"] if n + 80 in r["participants"]]
    assert twins and all(after[n] == after[n + 80] for n in twins)  # same data, same model


def test_the_condition_partition_gives_nodes_one_or_two_conditions(runs: Runs) -> None:
    run = LabRun(runs, LabConfig(nodes=80, rounds=1, partition="condition"))
    assert run.condition is not None and len(np.unique(run.condition)) == 6
    assert {len(c) for c in run.node_conditions} == {1, 2}
    for rows, held in zip(run.partition, run.node_conditions, strict=True):
        assert set(np.unique(run.condition[rows])) == set(held)
    assert any(e.startswith("FD002") for e in run.data.runs.engine_ids)
    assert math.isfinite(run.step()["rmse"])


def test_personalization_reports_every_factory(runs: Runs) -> None:
    final = _run(runs, nodes=80, rounds=1, personalize=1, partition="fault_mode").final()
    entries = final["personalized"]
    assert [e["node"] for e in entries] == list(range(80))
    for e in entries:
        for key in ("federated_rmse", "personalized_rmse", "local_rmse"):
            assert math.isfinite(e[key]) and e[key] > 0
