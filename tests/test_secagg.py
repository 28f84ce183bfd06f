"""Secure aggregation (Bonawitz et al. 2017) on real cryptography: sums, dropouts, what the server
sees, Shamir sharing, the PRG, and the bytes on the wire. No mocks; the whole file runs in seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fl_engine.secagg import (
    Client,
    SecAggError,
    Server,
    clamp_bound,
    decode,
    default_threshold,
    encode,
    prg,
    secure_sum,
    shamir,
)
from fl_engine.secagg.keys import KeyPair, agree, mask_seed
from fl_engine.secagg.wire import pack_shares, unpack_shares

SCALE = 16


def _tolerance(k: int, scale_bits: int = SCALE) -> float:
    return k * 2.0 ** -(scale_bits + 1) + 1e-12


def _to_masked(
    x: np.ndarray, t: int
) -> tuple[list[Client], Server, dict[int, int], dict[int, int]]:
    """Steps 1-2 driven by hand; returns clients, server and the bytes each client sent/got."""
    k, n = x.shape
    clients = [Client(u, x[u], threshold=t, max_summands=k) for u in range(k)]
    server = Server(k, n, t)
    up, down = dict.fromkeys(range(k), 0), dict.fromkeys(range(k), 0)
    keys = {c.index: c.advertise_keys() for c in clients}
    lists = server.advertise_keys(keys)
    shares = {u: clients[u].share_keys(m) for u, m in lists.items()}
    relayed = server.share_keys(shares)
    for u, m in relayed.items():
        clients[u].receive_shares(m)
    for sent in (keys, shares):
        for u, m in sent.items():
            up[u] += len(m)
    for got in (lists, relayed):
        for u, m in got.items():
            down[u] += len(m)
    return clients, server, up, down


# ---- the sum --------------------------------------------------------------------------------


def test_the_sum_equals_the_plain_sum_without_dropouts() -> None:
    x = np.random.default_rng(0).normal(0, 0.5, size=(10, 257))  # [k, n]
    out = secure_sum(x, threshold=7)
    assert out.survivors == list(range(10)) and out.dropped == []
    assert out.total.dtype == np.float64 and out.total.shape == (257,)
    assert np.max(np.abs(out.total - x.sum(axis=0))) <= _tolerance(10)
    assert set(out.seconds) >= {"advertise_keys", "share_keys", "masked_input", "unmasking"}


@pytest.mark.parametrize("dropped", [[0, 5, 9], [3], [7, 8, 9]])
def test_the_sum_over_survivors_with_up_to_k_minus_t_dropouts(dropped: list[int]) -> None:
    x = np.random.default_rng(1).normal(0, 2.0, size=(10, 129))
    out = secure_sum(x, threshold=7, dropped=dropped, round_id=3)
    survivors = [u for u in range(10) if u not in dropped]
    assert out.survivors == survivors and out.dropped == sorted(dropped)
    assert np.max(np.abs(out.total - x[survivors].sum(axis=0))) <= _tolerance(7)
    view = out.server_view
    assert view is not None
    # The server learned b_u only for survivors and s_u^SK only for dropped clients.
    assert sorted(view.self_seeds) == survivors and sorted(view.private_keys) == sorted(dropped)


def test_a_weighted_mean_from_pre_multiplied_tensor_updates() -> None:
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(6, 50, generator=gen, dtype=torch.float32)
    w = torch.tensor([1.0, 3.0, 2.0, 5.0, 1.0, 8.0])
    out = secure_sum(x * (w / w.sum())[:, None], threshold=4, scale_bits=20)
    expected = np.average(x.double().numpy(), axis=0, weights=w.double().numpy())
    assert np.max(np.abs(out.total - expected)) <= _tolerance(6, 20) + 1e-6  # + float32 weights


def test_all_zero_updates_sum_to_exactly_zero() -> None:
    out = secure_sum(np.zeros((5, 40)), threshold=3, dropped=[1])
    assert np.array_equal(out.total, np.zeros(40))


# ---- fixed point ----------------------------------------------------------------------------


def test_fixed_point_round_trip_clamps_and_never_wraps() -> None:
    k = 8
    bound = clamp_bound(SCALE, k)
    assert bound == pytest.approx(2.0 ** (31 - SCALE) / k, rel=1e-6)
    enc = encode(np.array([[1.25, -3.5, 1e9, -1e9, np.inf, -np.inf, np.nan]]), max_summands=k)
    assert enc.dtype == np.uint32
    assert np.array_equal(
        decode(enc[0], SCALE), [1.25, -3.5, bound, -bound, bound, -bound, bound]
    )  # NaN -> +bound: the ring has no NaN
    at_bound = encode(np.full((k, 3), [1e9, -1e9, np.nan]), max_summands=k)  # [k, 3]
    total = at_bound.sum(axis=0, dtype=np.uint32)  # mod 2^32
    assert np.allclose(decode(total, SCALE), [k * bound, -k * bound, k * bound])
    with pytest.raises(ValueError, match="max_summands"):
        encode(np.zeros((1, 1)), max_summands=0)


# ---- what the server sees -------------------------------------------------------------------


def test_masked_inputs_are_uniform_and_uncorrelated_with_the_updates() -> None:
    k, n = 10, 2000
    x = np.random.default_rng(4).uniform(-1000, 1000, size=(k, n))  # wide: encodings fill the ring
    x[0] = 0.5  # a constant update hides as well as a varied one
    out = secure_sum(x, threshold=7, dropped=[9])
    view = out.server_view
    assert view is not None and sorted(view.masked_inputs) == list(range(9))
    plain = encode(x[:9], SCALE, max_summands=k).astype(np.float64).ravel()  # [9 * n]
    masked = np.stack([view.masked_inputs[u] for u in range(9)])  # [9, n] uint32
    assert masked.dtype == np.uint32
    seen = masked.astype(np.float64).ravel()
    assert abs(np.corrcoef(plain, seen)[0, 1]) < 0.05
    assert abs(seen.mean() / 2.0**31 - 1) < 0.03

    def chi_square(values: np.ndarray) -> float:  # 16 equal buckets of [0, 2^32)
        counts = np.bincount((values // 2**28).astype(np.int64), minlength=16)
        expected = len(values) / 16
        return float(((counts - expected) ** 2 / expected).sum())

    assert chi_square(seen) < 50  # df 15: p ~ 1e-5 at 50
    assert chi_square(plain) > 1000  # the check has power: the encodings themselves fail it


def test_fewer_than_t_survivors_abort_before_anything_is_reconstructed() -> None:
    x = np.ones((6, 20))
    with pytest.raises(SecAggError, match="threshold t=4") as caught:
        secure_sum(x, threshold=4, dropped=[0, 2, 5])
    view = caught.value.server_view
    assert view is not None and view.aborted is not None
    assert sorted(view.masked_inputs) == [1, 3, 4]  # masked inputs arrived, and are all it has
    assert view.revealed_shares == {} and not view.reconstructed_anything
    assert view.self_seeds == {} and view.private_keys == {}


def test_a_client_reveals_nothing_to_a_malformed_unmasking_request() -> None:
    clients, _, _, _ = _to_masked(np.zeros((4, 3)), t=3)
    too_few = np.array([0, 1], dtype="<u4").tobytes()
    without_me = np.array([1, 2, 3], dtype="<u4").tobytes()
    with pytest.raises(SecAggError, match="need t=3"):
        clients[0].unmask(too_few)
    with pytest.raises(SecAggError, match="including us"):
        clients[0].unmask(without_me)


def test_a_tampered_ciphertext_fails_to_decrypt() -> None:
    clients, _, _, _ = _to_masked(np.zeros((4, 3)), t=3)
    bad = bytearray(clients[1].inbox[2])
    bad[5] ^= 1
    clients[1].inbox[2] = bytes(bad)
    request = np.array([0, 1, 2, 3], dtype="<u4").tobytes()
    with pytest.raises(SecAggError, match="failed to decrypt"):
        clients[1].unmask(request)


# ---- Shamir ---------------------------------------------------------------------------------


def test_shamir_any_t_shares_reconstruct_and_t_minus_1_do_not() -> None:
    rng = np.random.default_rng(5)
    secrets = rng.integers(0, 256, size=(20, 32), dtype=np.uint8)
    n, t = 12, 5
    shares = shamir.share(secrets, n, t, rng)  # [20, 12, 16]
    assert shares.shape == (20, n, 16) and shares.min() >= 0 and shares.max() < shamir.P
    for _ in range(10):
        pick = rng.choice(n, size=t, replace=False)
        xs = pick + 1
        got = shamir.reconstruct_many(xs, shares[:, pick].transpose(1, 0, 2))  # [20, 32]
        assert np.array_equal(got, secrets)
        assert shamir.reconstruct(xs, shares[3, pick]) == secrets[3].tobytes()
        short = pick[: t - 1]
        guess = shamir.interpolate_at_zero(short + 1, shares[:, short].transpose(1, 0, 2))
        assert not np.any(np.all(guess == shamir.secrets_to_chunks(secrets), axis=1))
    more = shamir.reconstruct_many(np.arange(1, n + 1), shares.transpose(1, 0, 2))
    assert np.array_equal(more, secrets)  # more than t shares also work


def test_shamir_at_scale_with_the_os_csprng() -> None:
    secrets = np.frombuffer(bytes(range(64)), dtype=np.uint8).reshape(2, 32)
    shares = shamir.share(secrets, 800, 534)  # rng=None: os.urandom coefficients
    holders = np.random.default_rng(6).choice(800, size=534, replace=False)
    got = shamir.reconstruct_many(holders + 1, shares[:, holders].transpose(1, 0, 2))
    assert np.array_equal(got, secrets)
    with pytest.raises(ValueError, match="threshold"):
        shamir.share(secrets, 5, 6)


def test_share_packing_keeps_the_17th_bit() -> None:
    elements = np.array([[65536, 0, 65535, *range(13)], [65536] * 16], dtype=np.int64)
    packed = pack_shares(elements)
    assert packed.nbytes == 2 * 34
    assert np.array_equal(unpack_shares(packed), elements)


# ---- PRG and pairwise masks -----------------------------------------------------------------


def test_prg_is_chacha20_deterministic_and_differs_per_seed() -> None:
    # RFC 7539 §A.1 test vector 1: key 0, nonce 0, counter 0 -> keystream 76 b8 e0 ad ...
    assert prg.expand(bytes(32), 1)[0] == 0xADE0B876
    seed = bytes(range(32))
    a = prg.expand(seed, 1000)
    assert a.dtype == np.uint32 and a.shape == (1000,)
    assert np.array_equal(a, prg.expand(seed, 1000))
    assert np.array_equal(a[:10], prg.expand(seed, 10))
    assert np.mean(a == prg.expand(bytes(range(1, 33)), 1000)) < 0.01
    with pytest.raises(ValueError, match="32 bytes"):
        prg.expand(b"short", 4)


def test_pairwise_masks_cancel() -> None:
    a, b = KeyPair.generate(), KeyPair.generate()
    ab = mask_seed(agree(a.private, b.public), 7, 2, 5)
    assert ab == mask_seed(agree(b.private, a.public), 7, 5, 2)
    assert ab != mask_seed(agree(a.private, b.public), 8, 2, 5)  # fresh per round
    k, n = 5, 64
    clients, _, _, _ = _to_masked(np.random.default_rng(8).normal(size=(k, n)), t=3)
    pairwise = [c.mask() - c.x - prg.expand(c.b, n) for c in clients]  # [k] x [n] uint32
    assert np.any(pairwise[0] != 0)
    assert np.array_equal(np.sum(pairwise, axis=0, dtype=np.uint32), np.zeros(n, np.uint32))


# ---- bytes on the wire ----------------------------------------------------------------------


def test_bytes_are_the_lengths_of_the_serialized_messages() -> None:
    k, n, t, dropped = 10, 37, 7, [2, 3]
    x = np.random.default_rng(9).normal(size=(k, n))
    clients, server, up, down = _to_masked(x, t)
    alive = [u for u in range(k) if u not in dropped]
    masked = {u: clients[u].masked_input() for u in alive}
    requests = server.masked_input(masked)
    reveals = {u: clients[u].unmask(m) for u, m in requests.items()}
    total = server.unmask(reveals)
    assert np.max(np.abs(total - x[alive].sum(axis=0))) <= _tolerance(len(alive))
    for sent in (masked, reveals):
        for u, m in sent.items():
            up[u] += len(m)
    for u, m in requests.items():
        down[u] += len(m)

    out = secure_sum(x, threshold=t, dropped=dropped)
    assert out.bytes_up.dtype == np.int64 and out.bytes_down.dtype == np.int64
    assert out.bytes_up.tolist() == [up[u] for u in range(k)]
    assert out.bytes_down.tolist() == [down[u] for u in range(k)]
    survivor = np.array([u in alive for u in range(k)])
    expected_up = 64 + (k - 1) * 88 + survivor * (4 * n + 38 * k)  # wire.py's layouts
    expected_down = 68 * k + (k - 1) * 88 + survivor * 4 * len(alive)
    assert np.array_equal(out.bytes_up, expected_up)
    assert np.array_equal(out.bytes_down, expected_down)


# ---- validation -----------------------------------------------------------------------------


def test_default_threshold() -> None:
    assert [default_threshold(k) for k in (2, 3, 10, 80, 800)] == [2, 3, 7, 54, 534]
    assert all(
        2 <= default_threshold(k) <= k and default_threshold(k) > 2 * k / 3 for k in range(2, 200)
    )
    with pytest.raises(ValueError):
        default_threshold(1)


@pytest.mark.parametrize(
    ("shape", "kwargs", "match"),
    [
        ((5, 4), {"threshold": 1}, "threshold"),
        ((5, 4), {"threshold": 6}, "threshold"),
        ((1, 4), {"threshold": 2}, "at least 2 clients"),
        ((20,), {"threshold": 2}, "2-D"),
        ((5, 4), {"threshold": 3, "dropped": [5]}, "indices"),
        ((5, 4), {"threshold": 3, "dropped": [-1]}, "indices"),
        ((5, 4), {"threshold": 3, "dropped": [1, 1]}, "repeat"),
    ],
)
def test_bad_arguments_raise_a_clear_value_error(
    shape: tuple[int, ...], kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        secure_sum(np.zeros(shape), **kwargs)  # type: ignore[arg-type]


def test_the_cost_benchmark_runs_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bench.secagg import main

    target = tmp_path / "secagg.json"
    result = main(["--nodes", "4", "10", "--params", "9", "--json", str(target)])
    assert [r["nodes"] for r in result["rows"]] == [4, 10]
    assert json.loads(target.read_text())["rows"][1]["dropped"] == 1
    assert all(r["max_abs_error"] <= _tolerance(r["nodes"]) for r in result["rows"])
    assert "| 10 | 7 | 1 |" in capsys.readouterr().out
