"""Privacy and communication in the Federation Lab (docs/lab.md, section 5): DP-FedAvg with its
accountant, secure aggregation and compressed updates, in small real runs on the real data."""

from __future__ import annotations

import json
import math

import pytest
import torch
from dp_accounting import dp_event
from dp_accounting.rdp import rdp_privacy_accountant

from fl_engine.data import Runs
from fl_engine.lab import LabConfig, LabConfigError, LabRun, lab_config

SMALL = {"model": "ff09", "nodes": 12, "rounds": 3}


def _run(runs: Runs, **settings: object) -> LabRun:
    run = LabRun(runs, LabConfig.model_validate({**SMALL, **settings}))
    run.run()
    return run


def _library_epsilon(sigma: float, rate: float, rounds: int, delta: float) -> float:
    """The same release, composed by calling dp-accounting directly (RDP, Poisson sampling)."""
    accountant = rdp_privacy_accountant.RdpAccountant()
    event = dp_event.PoissonSampledDpEvent(rate, dp_event.GaussianDpEvent(sigma))
    accountant.compose(event, rounds)
    return float(accountant.get_epsilon(delta))


def test_dp_reports_the_accountants_epsilon_after_every_round(runs: Runs) -> None:
    run = _run(runs, dp_noise=1.0, dp_clip=0.5, sample_fraction=0.5, rounds=4)
    delta = 1 / 12**1.1
    eps = [r["epsilon"] for r in run.records]
    assert eps == sorted(eps) and eps[0] > 0
    for i, value in enumerate(eps, start=1):
        assert value == pytest.approx(_library_epsilon(1.0, 0.5, i, delta), rel=1e-6)
    final = run.final()
    assert final["epsilon"] == eps[-1] and final["delta"] == pytest.approx(delta)
    assert all(r["clip"] == 0.5 for r in run.records)
    # Poisson sampling: each node independently, so round sizes vary
    assert len({len(r["participants"]) for r in run.records}) > 1
    json.dumps(run.record(), allow_nan=False)


def test_more_noise_spends_less_privacy_and_no_noise_reports_none(runs: Runs) -> None:
    low = _run(runs, dp_noise=0.5, dp_clip=0.5, sample_fraction=0.5)
    high = _run(runs, dp_noise=2.0, dp_clip=0.5, sample_fraction=0.5)
    assert high.final()["epsilon"] < low.final()["epsilon"]
    clip_only = _run(runs, dp_clip=0.5)
    assert all(r["epsilon"] is None for r in clip_only.records)
    assert clip_only.final()["epsilon"] is None


def test_the_run_stops_before_passing_its_target_epsilon(runs: Runs) -> None:
    target = 2.0
    run = _run(runs, dp_noise=0.8, dp_clip=0.5, sample_fraction=0.5, rounds=200, target_epsilon=2)
    assert run.done and 1 <= run.rounds_done < 200
    assert all(r["epsilon"] <= target for r in run.records)
    assert run.server.accountant is not None and run.server.accountant.epsilon_after(1) > target
    assert run.final()["stopped"] == "privacy budget spent"
    with pytest.raises(ValueError, match="privacy budget"):
        run.step()


def test_clipping_bounds_what_a_boosted_attacker_can_do(runs: Runs) -> None:
    """The same attack, with and without DP's clipping (no noise): clipped, the boosted update
    moves the model no more than any honest one."""
    attack = {"attack": "scale", "attack_scale": 1000.0, "attacker_nodes": [0], "rounds": 2}
    plain = _run(runs, **attack)
    clipped = _run(runs, **attack, dp_clip=0.5)
    clean = _run(runs, rounds=2)
    assert plain.final()["rmse"] > 2 * clean.final()["rmse"]
    assert clipped.final()["rmse"] < 1.5 * clean.final()["rmse"]


def test_secure_aggregation_gives_fedavgs_model(runs: Runs) -> None:
    """One round: the same model up to fixed point (2^-16 per client). Over more rounds training
    amplifies that difference a little, and the models stay equally good."""
    one = [_run(runs, rounds=1, secure_aggregation=s).global_params() for s in (False, True)]
    assert torch.allclose(one[0], one[1], atol=1e-4)
    plain = _run(runs)
    secure = _run(runs, secure_aggregation=True)
    assert secure.final()["rmse"] == pytest.approx(plain.final()["rmse"], rel=0.01)
    for r in secure.records:
        assert r["failure"] is None
        # keys, encrypted shares, the masked input and the revealed shares: more than float32
        assert r["bytes_up"] > 4 * secure.n_params * len(r["participants"])
        assert r["bytes_down"] > 4 * secure.n_params * len(r["participants"])


def test_secure_aggregation_survives_stragglers_and_fails_clearly_below_threshold(
    runs: Runs,
) -> None:
    settings = {"nodes": 16, "deadline": 2.5, "secure_aggregation": True}
    run = _run(runs, **settings)
    assert any(r["stragglers"] for r in run.records)
    assert all(r["failure"] is None for r in run.records)
    strict = LabRun(runs, LabConfig.model_validate({**SMALL, **settings, "secagg_threshold": 1.0}))
    before = strict.global_params()
    record = strict.step()
    assert record["stragglers"], "the deadline must leave someone behind for this test"
    assert "secure aggregation" in record["failure"] and "threshold" in record["failure"]
    assert torch.equal(strict.global_params(), before)


@pytest.mark.parametrize(
    ("compression", "per_node"),
    [("none", lambda n: 4 * n), ("int8", lambda n: 8 + n), ("int4", lambda n: 8 + (n + 1) // 2)],
)
def test_compressed_bytes_up_are_the_encoded_sizes(
    runs: Runs, compression: str, per_node: object
) -> None:
    run = _run(runs, compression=compression, rounds=2)
    for r in run.records:
        assert r["bytes_up"] == len(r["participants"]) * per_node(run.n_params)  # type: ignore[operator]
        assert r["bytes_down"] == 4 * run.n_params * 12
    assert math.isfinite(run.final()["rmse"])


def test_topk_and_mask_send_a_fraction_and_stay_as_accurate(runs: Runs) -> None:
    """A twentieth (top-k) and a tenth (mask) of the coordinates, and after 4 rounds the model
    is within 5% of float32's (measured: 1.02x and 1.00x)."""
    full = _run(runs, rounds=4)
    for compression in ("topk", "mask"):
        run = _run(runs, compression=compression, rounds=4)
        assert run.records[0]["bytes_up"] < 0.25 * full.records[0]["bytes_up"]
        assert run.final()["rmse"] < 1.05 * full.final()["rmse"]


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"aggregation": "median", "dp_noise": 1.0, "dp_clip": 1.0}, "median never forms"),
        ({"aggregation": "krum", "secure_aggregation": True}, "needs every client's own"),
        ({"dp_noise": 1.0}, "dp_noise needs dp_clip"),
        ({"target_epsilon": 3.0}, "target_epsilon needs dp_noise"),
        ({"secure_aggregation": True, "compression": "int8"}, "masking makes every"),
        ({"secure_aggregation": True, "nodes": 800}, "quadratic"),
        ({"secagg_threshold": 0.5}, "secagg_threshold needs secure_aggregation"),
        ({"dp_noise": -1, "dp_clip": 1.0}, "dp_noise must be between 0 and 100"),
        ({"compression": "zip"}, "compression"),
    ],
)
def test_privacy_settings_that_do_not_compose_are_refused_in_words(
    settings: dict[str, object], words: str
) -> None:
    with pytest.raises(LabConfigError, match=words):
        lab_config(settings)
