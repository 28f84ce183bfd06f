"""The server's aggregation rules (docs/lab.md, section 1) on real tensors: hand-computed cases, a
per-client loop reference for each rule, the robust rules' bound on one huge update, non-finite
models never reaching the global model, and the options make_aggregator refuses."""

from __future__ import annotations

import math
import statistics

import pytest
import torch
from torch import Tensor

from fl_engine.aggregation import AGGREGATIONS, Aggregate, Aggregator, make_aggregator

T = torch.float64


def t(rows: object) -> Tensor:
    return torch.tensor(rows, dtype=T)


def close(a: Tensor, b: Tensor | list[float], tol: float = 1e-6) -> bool:
    return torch.allclose(a, torch.as_tensor(b, dtype=a.dtype), atol=tol, rtol=tol)


# --- hand-computed cases ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["fedavg", "fedprox"])
def test_fedavg_and_fedprox_weight_by_rows(name: str) -> None:
    out = make_aggregator(name)(t([0, 0]), t([[1, 2], [3, 4], [5, 6]]), t([1, 1, 2]))
    # (1 + 3 + 2*5) / 4, (2 + 4 + 2*6) / 4
    assert close(out.params, [3.5, 4.5]) and out.rejected == []


def test_fedavgm_by_hand() -> None:
    agg = make_aggregator("fedavgm", momentum=0.5)
    one = agg(t([0, 0]), t([[2, 4], [4, 8]]), t([1, 1]))
    # avg [3, 6]; v = [0 - 3, 0 - 6]; g - v
    assert close(one.params, [3, 6])
    two = agg(t([3, 6]), t([[4, 6], [4, 6]]), t([1, 1]))
    # avg [4, 6]; v = 0.5 * [-3, -6] + [3 - 4, 6 - 6] = [-2.5, -3]; [3, 6] + [2.5, 3]
    assert close(two.params, [5.5, 9])
    half = make_aggregator("fedavgm", server_lr=0.5, momentum=0.5)
    assert close(half(t([0, 0]), t([[2, 4], [4, 8]]), t([1, 1])).params, [1.5, 3])


def test_fedadam_by_hand_keeps_state_and_moves_towards_the_average() -> None:
    agg = make_aggregator("fedadam", server_lr=0.1)
    g, models, w = t([0, 0]), t([[1, -2]]), t([1])
    one = agg(g, models, w)
    # delta [1, -2]; m = 0.1 delta; v = 0.99 tau^2 + 0.01 delta^2; tau = 1e-3
    first = [
        0.1 * 0.1 / (math.sqrt(0.99e-6 + 0.01) + 1e-3),
        0.1 * -0.2 / (math.sqrt(0.99e-6 + 0.04) + 1e-3),
    ]
    assert close(one.params, first)
    two = agg(g, models, w)  # the same round again: the moments carry on
    # m = 0.9 * 0.1 delta + 0.1 delta = 0.19 delta; v = 0.99 v1 + 0.01 delta^2
    v1 = [0.99e-6 + 0.01, 0.99e-6 + 0.04]
    second = [
        0.1 * 0.19 / (math.sqrt(0.99 * v1[0] + 0.01) + 1e-3),
        0.1 * -0.38 / (math.sqrt(0.99 * v1[1] + 0.04) + 1e-3),
    ]
    assert close(two.params, second)
    assert not close(two.params, one.params)  # state, not a pure function of the inputs
    # each coordinate moves towards the average [1, -2], and a fresh rule starts over
    assert 0 < one.params[0] < 1 and -2 < one.params[1] < 0
    assert close(make_aggregator("fedadam", server_lr=0.1)(g, models, w).params, first)


def test_median_by_hand() -> None:
    odd = make_aggregator("median")(
        t([0, 0, 0]), t([[1, 10, -1], [3, 20, -5], [2, 0, 7]]), t([1, 1, 9])
    )
    assert close(odd.params, [2, 10, -1]) and odd.rejected == []
    even = make_aggregator("median")(t([0]), t([[1], [4], [2], [10]]), t([1, 1, 1, 1]))
    assert close(even.params, [3])  # (2 + 4) / 2


def test_trimmed_mean_by_hand() -> None:
    models = t([[1, -50], [2, 0], [3, 1], [4, 2], [100, 3]])
    out = make_aggregator("trimmed_mean", trim_fraction=0.2)(t([0, 0]), models, t([1] * 5))
    # floor(0.2 * 5) = 1 dropped at each end: (2 + 3 + 4) / 3, (0 + 1 + 2) / 3
    assert close(out.params, [3, 1]) and out.rejected == []
    plain = make_aggregator("trimmed_mean", trim_fraction=0.1)(t([0, 0]), models, t([1] * 5))
    assert close(plain.params, [110 / 5, -44 / 5])  # floor(0.5) = 0: the plain mean


def test_krum_and_multi_krum_by_hand() -> None:
    models = t([[0.5, 0.5], [1, 0], [0, 1], [2, 2], [10, 10]])
    # f = 1: each score sums the 5 - 1 - 2 = 2 nearest squared distances
    # c0: 0.5 + 0.5 = 1; c1: 0.5 + 2 = 2.5; c2: 0.5 + 2 = 2.5; c3: 4.5 + 5 = 9.5; c4: 128 + 180.5
    krum = make_aggregator("krum", krum_byzantine=1)(t([0, 0]), models, t([1] * 5))
    assert close(krum.params, [0.5, 0.5]) and krum.rejected == [1, 2, 3, 4]
    multi = make_aggregator("krum", krum_byzantine=1, multi_krum=2)(t([0, 0]), models, t([1] * 5))
    # c0 and c1 (the tie between c1 and c2 goes to the lower index), unweighted
    assert close(multi.params, [0.75, 0.25]) and multi.rejected == [2, 3, 4]


def test_krum_with_too_few_clients_for_f_still_picks_the_central_one() -> None:
    # k = 3 <= 2f + 2 for f = 5: f is lowered to (3 - 3) // 2 = 0, so 1 nearest neighbour counts
    out = make_aggregator("krum", krum_byzantine=5)(t([0]), t([[0], [1], [10]]), t([1, 1, 1]))
    assert close(out.params, [0]) and out.rejected == [1, 2]
    solo = make_aggregator("krum", multi_krum=4)(t([0]), t([[7]]), t([1]))
    assert close(solo.params, [7]) and solo.rejected == []


# --- per-client loop references on random data --------------------------------------------------


def loop_fedavg(models: list[list[float]], w: list[float]) -> list[float]:
    total = sum(w)
    return [
        sum(w[i] * models[i][j] for i in range(len(models))) / total for j in range(len(models[0]))
    ]


def column(models: list[list[float]], j: int) -> list[float]:
    return sorted(models[i][j] for i in range(len(models)))


def loop_krum(models: list[list[float]], f: int, m: int) -> list[float]:
    k = len(models)
    scores = []
    for i in range(k):
        d = sorted(
            sum((a - b) ** 2 for a, b in zip(models[i], models[o], strict=True))
            for o in range(k)
            if o != i
        )
        scores.append(sum(d[: k - f - 2]))
    best = sorted(range(k), key=lambda i: (scores[i], i))[:m]
    return [sum(models[i][j] for i in best) / m for j in range(len(models[0]))]


def random_round(seed: int, k: int = 9, n: int = 6) -> tuple[Tensor, Tensor, Tensor]:
    gen = torch.Generator().manual_seed(seed)
    g = torch.randn(n, generator=gen, dtype=T)
    models = g + torch.randn(k, n, generator=gen, dtype=T)
    weights = torch.randint(1, 50, (k,), generator=gen).to(T)
    return g, models, weights


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stateless_rules_match_the_loop(seed: int) -> None:
    g, models, w = random_round(seed)
    rows, ws = models.tolist(), w.tolist()
    n, k = len(rows[0]), len(rows)
    assert close(make_aggregator("fedavg")(g, models, w).params, loop_fedavg(rows, ws))
    median = [statistics.median(column(rows, j)) for j in range(n)]
    assert close(make_aggregator("median")(g, models, w).params, median)
    median_even = [statistics.median(column(rows[1:], j)) for j in range(n)]
    assert close(make_aggregator("median")(g, models[1:], w[1:]).params, median_even)
    for beta in (0.0, 0.15, 0.3, 0.45):
        b = math.floor(beta * k)
        ref = [sum(column(rows, j)[b : k - b]) / (k - 2 * b) for j in range(n)]
        out = make_aggregator("trimmed_mean", trim_fraction=beta)(g, models, w)
        assert close(out.params, ref), beta
    for f, m in ((0, 1), (1, 1), (2, 1), (3, 3), (2, 5)):
        out = make_aggregator("krum", krum_byzantine=f, multi_krum=m)(g, models, w)
        assert close(out.params, loop_krum(rows, f, m)), (f, m)
        assert len(out.rejected) == k - m


@pytest.mark.parametrize("seed", [0, 1])
def test_stateful_rules_match_the_loop_over_rounds(seed: int) -> None:
    fedavgm = make_aggregator("fedavgm", server_lr=0.7, momentum=0.9)
    fedadam = make_aggregator("fedadam", server_lr=0.05)
    gm, ga = random_round(seed)[0], random_round(seed)[0]
    n = gm.shape[0]
    vel, m1, m2 = [0.0] * n, [0.0] * n, [1e-6] * n  # v starts at tau^2
    ref_m, ref_a = gm.tolist(), ga.tolist()
    for r in range(4):
        _, models, w = random_round(100 * seed + r)
        avg = loop_fedavg(models.tolist(), w.tolist())
        for j in range(n):
            vel[j] = 0.9 * vel[j] + (ref_m[j] - avg[j])
            ref_m[j] -= 0.7 * vel[j]
            delta = avg[j] - ref_a[j]
            m1[j] = 0.9 * m1[j] + 0.1 * delta
            m2[j] = 0.99 * m2[j] + 0.01 * delta**2
            ref_a[j] += 0.05 * m1[j] / (math.sqrt(m2[j]) + 1e-3)
        gm = fedavgm(gm, models, w).params
        ga = fedadam(ga, models, w).params
        assert close(gm, ref_m) and close(ga, ref_a), r


def test_fedavgm_without_momentum_is_fedavg() -> None:
    fedavgm, fedavg = make_aggregator("fedavgm", momentum=0.0), make_aggregator("fedavg")
    g = random_round(0)[0]
    for r in range(3):
        _, models, w = random_round(10 + r)
        new = fedavgm(g, models, w).params
        assert close(new, fedavg(g, models, w).params)
        g = new


# --- one arbitrarily large update ---------------------------------------------------------------


def test_robust_rules_bound_one_huge_update_and_fedavg_does_not() -> None:
    g, honest, _ = random_round(3, k=8, n=5)
    models = torch.cat([honest, torch.full((1, 5), 1e12, dtype=T)])  # client 8 attacks
    w = torch.ones(9, dtype=T)
    low, high = honest.min(dim=0).values, honest.max(dim=0).values
    robust: dict[str, Aggregator] = {
        "median": make_aggregator("median"),
        "trimmed_mean": make_aggregator("trimmed_mean", trim_fraction=0.2),  # floor(1.8) = 1
        "krum": make_aggregator("krum", krum_byzantine=1),
        "multi_krum": make_aggregator("krum", krum_byzantine=1, multi_krum=4),
    }
    for name, rule in robust.items():
        out = rule(g, models, w).params
        assert bool(((out >= low) & (out <= high)).all()), name
    assert 8 in robust["krum"](g, models, w).rejected
    moved = make_aggregator("fedavg")(g, models, w).params
    assert bool((moved > 1e10).all())  # 1e12 / 9: far outside the honest range


# --- non-finite models never reach the global model ---------------------------------------------


def rule_for(name: str) -> Aggregator:
    if name == "fedadam":
        return make_aggregator(name, server_lr=0.1)
    return make_aggregator(name, krum_byzantine=1) if name == "krum" else make_aggregator(name)


@pytest.mark.parametrize("name", AGGREGATIONS)
def test_nan_and_inf_models_are_rejected_by_every_rule(name: str) -> None:
    g, models, w = random_round(4, k=8, n=4)
    bad = models.clone()
    bad[1, 2] = float("nan")
    bad[4] = float("inf")
    bad[6, 0] = -float("inf")
    rule, clean_rule = rule_for(name), rule_for(name)
    keep = [0, 2, 3, 5, 7]
    for _ in range(2):  # stateful rules: the bad clients do not touch the state either
        out: Aggregate = rule(g, bad, w)
        clean = clean_rule(g, models[keep], w[keep])
        assert bool(torch.isfinite(out.params).all())
        assert {1, 4, 6} <= set(out.rejected)
        assert close(out.params, clean.params)
        assert sorted(out.rejected) == out.rejected
    nothing = rule(g, torch.full_like(models, float("nan")), w)
    assert torch.equal(nothing.params, g) and nothing.rejected == list(range(8))
    assert nothing.params.data_ptr() != g.data_ptr()


# --- options ------------------------------------------------------------------------------------


def test_make_aggregator_names_and_state() -> None:
    for name in AGGREGATIONS:
        assert make_aggregator(name).name == name
    with pytest.raises(ValueError, match="unknown aggregation 'fedsgd'"):
        make_aggregator("fedsgd")


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("trim_fraction", 0.5),
        ("trim_fraction", 0.6),
        ("trim_fraction", -0.1),
        ("momentum", -0.1),
        ("momentum", 1.0),
        ("server_lr", 0.0),
        ("server_lr", -1.0),
        ("server_lr", float("nan")),
        ("krum_byzantine", -1),
        ("multi_krum", 0),
    ],
)
def test_make_aggregator_refuses_bad_options(option: str, value: float) -> None:
    with pytest.raises(ValueError, match=option):
        make_aggregator("trimmed_mean", **{option: value})  # type: ignore[arg-type]


def test_shapes_are_checked() -> None:
    rule = make_aggregator("median")
    with pytest.raises(ValueError, match="models must be"):
        rule(t([0, 0]), t([[1, 2, 3]]), t([1]))
    with pytest.raises(ValueError, match="weights must be"):
        rule(t([0, 0]), t([[1, 2]]), t([1, 1]))
