"""One lab round through `LabRun` and `RoundServer`, for the combinations of sampling, dropouts,
stragglers, DP, adaptive clipping, secure aggregation and compression that the Lab accepts,
asserting what a wrong join between the pieces would change (issue 19): the noise actually
added (measured on the model the server produced), the q accounted against the q drawn, the
threshold, the masked sum against the fixed-point sum, and the clients left out.

Epsilon is recomputed here with dp-accounting from the run's own record and the papers'
formulas, never from our accountant.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from dp_accounting import dp_event
from dp_accounting.rdp import rdp_privacy_accountant as rdp

import fl_engine.secagg.shamir as shamir
from fl_engine.data import Runs
from fl_engine.lab import LabConfig, LabConfigError, LabRun, lab_config
from fl_engine.lab.schedule import plan_round
from fl_engine.lab.server_round import RoundServer
from fl_engine.secagg import decode, encode

N_PARAMS = 40_000  # coordinates of the synthetic updates: a noise std measured to about 0.4%


def _config(**settings: object) -> LabConfig:
    return LabConfig.model_validate({"model": "ff09", "nodes": 12, "rounds": 3, **settings})


def _run(runs: Runs, **settings: object) -> LabRun:
    run = LabRun(runs, _config(**settings))
    run.run()
    return run


def _library_epsilon(records: list[dict[str, object]], config: LabConfig) -> float:
    """Epsilon after every recorded round, composed by dp-accounting from what each round
    added: update noise z_u and (adaptive clipping) count noise sigma_b cost one Gaussian of
    (z_u^-2 + (2 sigma_b)^-2)^-1/2 (Andrew et al. 2021, section 3.1); in units of the sum's
    sensitivity, C under add/remove (Poisson), 2C under replace-one (a fixed cohort)."""
    uniform = config.dp_sampling == "uniform"
    relation = rdp.NeighborRel.REPLACE_ONE if uniform else rdp.NeighborRel.ADD_OR_REMOVE_ONE
    accountant = rdp.RdpAccountant(neighboring_relation=relation)
    for r in records:
        z_u, sigma_b = r["noise_multiplier"], r["count_noise_multiplier"]
        if z_u is None and r["failure"]:  # nothing released; accounted as told, to be safe
            z_u = config.dp_noise
        assert isinstance(z_u, float) and z_u >= config.dp_noise * (1 - 1e-12)
        inv = z_u**-2 + ((2 * sigma_b) ** -2 if isinstance(sigma_b, float) else 0.0)
        z = inv**-0.5
        q = r["sampling_rate"]
        assert isinstance(q, float)
        if uniform:
            cohort = round(q * config.nodes)
            gaussian = dp_event.GaussianDpEvent(z / 2)
            accountant.compose(
                dp_event.SampledWithoutReplacementDpEvent(config.nodes, cohort, gaussian)
            )
        else:
            accountant.compose(dp_event.PoissonSampledDpEvent(q, dp_event.GaussianDpEvent(z)))
    return float(accountant.get_epsilon(config.delta))


@pytest.mark.parametrize(
    ("settings", "exact"),
    [
        # issue 19's case: 8 nodes, q = 0.1, 20 rounds, 8 of them empty: 0.821, not 0.565
        ({"nodes": 8, "rounds": 20, "sample_fraction": 0.1}, True),
        ({"sample_fraction": 0.5, "dropout": 0.5, "rounds": 6}, True),
        ({"sample_fraction": 0.25, "dp_sampling": "uniform", "rounds": 4}, True),
        ({"dp_sampling": "uniform", "rounds": 2}, True),  # every node: replace-one still
        ({"sample_fraction": 0.5, "dp_adaptive_clip": True, "rounds": 4}, True),
        ({"sample_fraction": 0.5, "compression": "int8", "deadline": 2.0, "rounds": 4}, True),
        ({"secure_aggregation": True, "dropout": 0.3, "rounds": 4}, False),
        ({"secure_aggregation": True, "sample_fraction": 0.5, "deadline": 2.0, "rounds": 4}, False),
    ],
)
def test_epsilon_is_the_librarys_for_the_noise_each_round_added(
    runs: Runs, settings: dict[str, object], exact: bool
) -> None:
    run = _run(runs, dp_noise=1.0, dp_clip=0.5, **settings)
    records, config = run.records, run.config
    assert len(records) == config.rounds  # every round, an empty one too, is a release
    eps = _library_epsilon(records, config)
    reported = run.final()["epsilon"]
    assert reported >= eps * (1 - 1e-9), "epsilon understated"
    if exact:  # the noise is what the accountant is told
        assert reported == pytest.approx(eps, rel=1e-6)
    else:  # secure aggregation noises for the threshold cohort: at least z, never less
        assert all(r["noise_multiplier"] >= 1.0 for r in records)
        told = _library_epsilon([{**r, "noise_multiplier": 1.0} for r in records], config)
        assert reported == pytest.approx(told, rel=1e-6)
    if settings.get("nodes") == 8:
        assert sum(not r["participants"] for r in records) >= 5
        assert reported == pytest.approx(0.8212, abs=1e-4)


def _server(**settings: object) -> RoundServer:
    return RoundServer(_config(**settings), N_PARAMS, weight_scale=1.0)


def _deliver(server: RoundServer, k: int, stragglers: int = 0, sent: torch.Tensor | None = None):
    g = torch.zeros(N_PARAMS)
    sent = torch.zeros(k, N_PARAMS) if sent is None else sent
    return server.deliver(
        g, sent, torch.ones(k), np.arange(k), stragglers, k + stragglers, round_no=1
    )


def _measured_multiplier(server: RoundServer, got: object, clip: float) -> float:
    """The std of the noise on the sum, over C: zero updates, so the model is noise / m."""
    model = got.models[0].double()  # type: ignore[attr-defined]
    return float(model.std() * server.expected_clients / clip)


def _count_noise(count_noise: float, m: float) -> float:
    """Andrew et al.'s sigma_b = m / 20, at least z (see the docs)."""
    return max(m / 20, count_noise)


@pytest.mark.parametrize("noise", [0.7, 1.5])
def test_the_noise_on_the_sum_is_the_multiplier_recorded_and_the_papers(noise: float) -> None:
    clip = 0.5
    central = _server(dp_noise=noise, dp_clip=clip)
    got = _deliver(central, 12)
    assert got.noise_multiplier == noise and got.count_noise_multiplier is None
    assert _measured_multiplier(central, got, clip) == pytest.approx(noise, rel=0.02)
    # adaptive clipping: the count release takes sigma_b; the updates get the rest of the budget
    adaptive = _server(dp_noise=noise, dp_adaptive_clip=True)
    got = _deliver(adaptive, 12)
    sigma_b = _count_noise(noise, 12)
    z_u = (noise**-2 - (2 * sigma_b) ** -2) ** -0.5
    assert got.count_noise_multiplier == pytest.approx(sigma_b)
    assert got.noise_multiplier == pytest.approx(z_u)
    assert _measured_multiplier(adaptive, got, 1.0) == pytest.approx(z_u, rel=0.02)
    # secure aggregation: 10 of 12 key holders send (2 straggle), threshold 9 of 12, each
    # client noised for 9: the 10 carry sqrt(10 / 9) z
    secure = _server(dp_noise=noise, dp_clip=clip, secure_aggregation=True)
    got = _deliver(secure, 10, stragglers=2)
    assert got.failure is None and got.threshold == 9
    assert got.noise_multiplier == pytest.approx(noise * math.sqrt(10 / 9))
    assert _measured_multiplier(secure, got, clip) == pytest.approx(
        noise * math.sqrt(10 / 9), rel=0.02
    )


def test_the_count_noise_is_the_papers_sigma_b() -> None:
    """200 rounds of the same 12 zero updates (all below the clip): the clip's geometric step
    gives back each round's estimate b_bar, whose error times m is the count noise."""
    server = _server(dp_noise=1.0, dp_adaptive_clip=True)
    assert server.adaptive is not None
    m, eta, gamma = server.expected_clients, server.adaptive.learning_rate, 0.5
    errors = []
    for _ in range(200):
        server.adaptive.clip = 1.0
        _deliver(server, 12)
        b_bar = gamma - math.log(server.adaptive.clip) / eta
        errors.append((b_bar - (12 * 0.5 / m + 0.5)) * m)
    assert float(np.std(errors)) == pytest.approx(_count_noise(1.0, m), rel=0.15)
    assert abs(float(np.mean(errors))) < 0.3


def test_the_sampling_drawn_is_the_rate_accounted() -> None:
    poisson = _config(nodes=80, dp_noise=1.0, dp_clip=0.5, sample_fraction=0.1)
    q = RoundServer(poisson, 10, 1.0).sampling_rate
    work = np.ones(80)
    sizes = [len(plan_round(poisson, r, work).sampled) for r in range(1, 301)]
    assert q == 0.1
    assert abs(np.mean(sizes) / 80 - q) < 4 * math.sqrt(q * (1 - q) / (80 * 300))
    assert len(set(sizes)) > 5  # each node independently
    # a fixed cohort: 0.13 of 80 is 10.4 nodes, drawn and accounted as 10
    uniform = _config(
        nodes=80, dp_noise=1.0, dp_clip=0.5, sample_fraction=0.13, dp_sampling="uniform"
    )
    server = RoundServer(uniform, 10, 1.0)
    assert server.sampling_rate == 10 / 80 and server.expected_clients == 10
    assert {len(plan_round(uniform, r, work).sampled) for r in range(1, 51)} == {10}


@pytest.mark.parametrize(("share", "threshold"), [(0.55, 6), (0.5, 5), (None, 7)])
def test_the_threshold_is_the_share_rounded_up(share: float | None, threshold: int) -> None:
    """5 of 10 key holders send: a threshold of 6 (0.55 of 10, rounded up) cannot finish."""
    server = _server(secure_aggregation=True, secagg_threshold=share)
    got = _deliver(server, 5, stragglers=5, sent=torch.full((5, N_PARAMS), 0.01))
    assert got.threshold == threshold
    assert (got.failure is None) == (threshold <= 5)


def test_the_secure_round_is_the_fixed_point_sum_unmasked() -> None:
    server = _server(secure_aggregation=True)
    generator = torch.Generator().manual_seed(0)
    sent = torch.randn(6, N_PARAMS, generator=generator) * 0.05  # [k, n]
    weights = torch.tensor([3.0, 1.0, 2.0, 5.0, 1.0, 4.0])
    got = server.deliver(torch.zeros(N_PARAMS), sent, weights, np.arange(6), 1, 7, round_no=1)
    w = weights.double()[:, None]
    rows = np.hstack([(w * sent.double()).numpy(), w.numpy()])  # [k, n + 1]
    rows = np.vstack([rows, np.zeros((1, N_PARAMS + 1))])  # the straggler never sends
    ring = encode(rows[:6], max_summands=7).astype(np.uint64).sum(axis=0) % 2**32
    total = torch.as_tensor(decode(ring.astype(np.uint32)))
    expected = (total[:-1] / total[-1]).float()
    assert torch.equal(got.models[0], expected)
    plain = (w * sent.double()).sum(0) / w.sum()
    assert not torch.equal(got.models[0], plain.float())  # a float sum is not what unmasks
    assert got.bytes_up > 4 * N_PARAMS * 6


def test_unmaskable_updates_are_refused_before_masking_and_the_round_finishes(
    runs: Runs,
) -> None:
    """Issue 19's case: 16 nodes, 2 NaN attackers, 1 round. Without the refusal the NaN was
    encoded as the clamp bound and the model's RMSE was 1.8e9."""
    settings = {"nodes": 16, "rounds": 1, "attack": "nan", "attacker_nodes": [3, 9]}
    secure = _run(runs, **settings, secure_aggregation=True)
    plain = _run(runs, **settings)
    (record,) = secure.records
    assert record["refused"] == record["rejected"] == [3, 9] and record["failure"] is None
    assert plain.records[0]["rejected"] == [3, 9] and plain.records[0]["refused"] == []
    assert secure.final()["rmse"] == pytest.approx(plain.final()["rmse"], rel=1e-3)
    assert "cannot screen" in secure.final()["notes"][0]
    # out of range: a finite update the ring cannot carry for 8 clients is refused too
    server = _server(secure_aggregation=True)
    sent = torch.zeros(8, N_PARAMS)
    sent[2, 7] = 5_000.0  # > clamp_bound(16, 8) = 4096
    got = _deliver(server, 8, sent=sent)
    assert got.refused == got.rejected == [2] and got.failure is None
    assert float(got.models[0].abs().max()) == 0.0


def test_lab_shares_come_from_the_os_csprng(runs: Runs, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Shamir coefficients of a lab round are drawn without a seeded generator (the seed is
    in every lab record); the sum itself is the same either way."""
    seen: list[object] = []
    original = shamir._random_field

    def spy(count: int, rng: np.random.Generator | None) -> np.ndarray:
        seen.append(rng)
        return original(count, rng)

    monkeypatch.setattr(shamir, "_random_field", spy)
    first = _run(runs, secure_aggregation=True, rounds=1)
    second = _run(runs, secure_aggregation=True, rounds=1)
    assert seen and all(rng is None for rng in seen)
    assert torch.equal(first.global_params(), second.global_params())


def test_adaptive_clipping_with_secure_aggregation_is_refused() -> None:
    with pytest.raises(LabConfigError, match="clipped-or-not bit"):
        lab_config({"secure_aggregation": True, "dp_adaptive_clip": True, "dp_noise": 1.0})
