"""Compressed client updates (`fl_engine.compression`): real encodings, exact byte counts, the
vectorized path equal to the encodings decoded, unbiasedness, and error feedback."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fl_engine.aggregation.base import screen
from fl_engine.compression import (
    COMPRESSIONS,
    Compressor,
    NoCompression,
    RandomMask,
    StochasticQuantizer,
    TopK,
    make_compressor,
)
from fl_engine.compression.seeded_mask import splitmix64

N_NODES = 12
SIZES = [1, 2, 7, 64, 1181, 70_001]  # odd ones for 4-bit packing; the last needs uint32 indices


def _updates(k: int, n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(k, n, generator=g) * torch.rand(k, 1, generator=g) * 0.1  # [k, n]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _pair(name: str) -> tuple[Compressor, Compressor]:
    """Two fresh compressors of one scheme (top-k is stateful: one for each path)."""
    return (make_compressor(name, n_nodes=N_NODES), make_compressor(name, n_nodes=N_NODES))


@pytest.mark.parametrize("name", COMPRESSIONS)
@pytest.mark.parametrize("n", SIZES)
def test_vectorized_equals_decoded_messages_and_sizes_are_exact(name: str, n: int) -> None:
    k = 5 if n < 10_000 else 2
    vectorized, encoder = _pair(name)
    nodes = [3, 0, 7, 11, 5][:k]
    for rnd in range(3):  # several rounds, so top-k's residual plays a part
        u = _updates(k, n, seed=rnd)
        out = vectorized(u, nodes, _gen(rnd))
        messages = encoder.messages(u, nodes, _gen(rnd))
        assert out.updates.shape == (k, n) and out.updates.dtype == torch.float32
        assert [len(m) for m in messages] == list(out.nbytes)
        assert out.nbytes.dtype == np.int64
        for row, message in zip(out.updates, messages, strict=True):
            decoded = encoder.decode(message, n)
            assert decoded.shape == (n,) and decoded.dtype == torch.float32
            assert torch.equal(decoded, row)


@pytest.mark.parametrize("n", [1, 7, 1181])
def test_byte_formulas(n: int) -> None:
    u, nodes = _updates(4, n), [0, 1, 2, 3]
    sizes = {
        "none": 4 * n,
        "int8": 8 + n,
        "int4": 8 + (n + 1) // 2,
        "topk": 4 + max(1, round(0.05 * n)) * (2 + 4),
    }
    for name, size in sizes.items():
        messages = make_compressor(name, n_nodes=4).messages(u, nodes, _gen(0))
        assert [len(m) for m in messages] == [size] * 4, name
    out = RandomMask(0.1)(u, nodes, _gen(0))
    decoded_nonzero = (out.updates != 0).sum(dim=1).numpy()  # randn: no kept value is 0
    assert list(out.nbytes) == list(8 + 4 * decoded_nonzero)
    assert TopK(0.05, n_nodes=1).nbytes(70_000) == 4 + 3500 * (4 + 4)


def test_uncompressed_is_the_update_itself() -> None:
    u = _updates(3, 50)
    assert torch.equal(NoCompression()(u, [0, 1, 2], _gen(0)).updates, u)


@pytest.mark.parametrize("bits", [8, 4])
def test_quantization_error_is_below_one_level(bits: int) -> None:
    u = _updates(6, 1181)
    out = StochasticQuantizer(bits)(u, range(6), _gen(1))
    step = (u.amax(dim=1, keepdim=True) - u.amin(dim=1, keepdim=True)) / (2**bits - 1)  # [k, 1]
    error = (out.updates - u).abs()
    assert bool((error <= step * (1 + 1e-5)).all())
    assert bool((out.updates >= u.amin(dim=1, keepdim=True) - 1e-7).all())


def _mean_of_draws(compressor: Compressor, u: torch.Tensor, draws: int) -> torch.Tensor:
    """The mean decoded update over `draws` independent draws, batched as many nodes."""
    k, n = u.shape
    batch = u.repeat(draws, 1)  # [draws * k, n]
    out = compressor(batch, range(draws * k), _gen(7))
    return out.updates.view(draws, k, n).double().mean(dim=0)  # [k, n]


@pytest.mark.parametrize("name", ["int8", "int4", "mask"])
def test_unbiased(name: str) -> None:
    """The mean over D draws -> the update, within 5 standard errors (the variance bounds are
    step^2 / 4 per coordinate for rounding and (1 / p - 1) u^2 for the mask)."""
    draws = 4000
    u = _updates(2, 257, seed=3).double()
    compressor = make_compressor(name, n_nodes=1)
    mean = _mean_of_draws(compressor, u.float(), draws)
    if name == "mask":
        variance = (1 / 0.1 - 1) * u**2
    else:
        bits = 8 if name == "int8" else 4
        step = (u.amax(dim=1, keepdim=True) - u.amin(dim=1, keepdim=True)) / (2**bits - 1)
        variance = (step**2 / 4).expand_as(u)
    bound = 5 * (variance / draws).sqrt() + 1e-7
    assert bool(((mean - u).abs() <= bound).all())
    # And it is not trivially so: one draw alone is far from the update somewhere.
    single = compressor(u.float(), [0, 1], _gen(0)).updates.double()
    assert float((single - u).abs().max()) > float(bound.max())


@pytest.mark.parametrize("bits", [8, 4])
def test_constant_rows_are_exact(bits: int) -> None:
    u = torch.tensor([[0.25] * 9, [-3.0] * 9, [0.0] * 9])
    q = StochasticQuantizer(bits)
    assert torch.equal(q(u, [0, 1, 2], _gen(0)).updates, u)
    for row, message in zip(u, q.messages(u, [0, 1, 2], _gen(0)), strict=True):
        assert torch.equal(q.decode(message, 9), row)


def test_topk_error_feedback_loses_nothing_and_idle_nodes_keep_their_residual() -> None:
    n, rounds = 301, 8
    topk = TopK(0.05, n_nodes=N_NODES)
    sent = torch.zeros(N_NODES, n, dtype=torch.float64)
    given = torch.zeros(N_NODES, n, dtype=torch.float64)
    rng = np.random.default_rng(0)
    for rnd in range(rounds):
        nodes = rng.choice(N_NODES, size=5, replace=False)
        u = _updates(5, n, seed=rnd)
        before = topk.residual.clone() if topk.residual is not None else None
        out = topk(u, nodes, _gen(rnd))
        assert bool(((out.updates != 0).sum(dim=1) <= 15).all())  # round(0.05 * 301) = 15
        rows = torch.from_numpy(nodes)
        sent[rows] += out.updates.double()
        given[rows] += u.double()
        idle = torch.tensor([i not in set(nodes.tolist()) for i in range(N_NODES)])
        if before is not None:
            assert torch.equal(topk.residual[idle], before[idle])
    assert topk.residual is not None
    assert torch.allclose(sent + topk.residual.double(), given, atol=1e-6)
    assert float(topk.residual.abs().sum()) > 0  # something was held back, so this tests it


def test_topk_sends_the_largest_of_update_plus_residual() -> None:
    topk = TopK(0.25, n_nodes=1)  # k = 1 of 4
    first = topk(torch.tensor([[1.0, -3.0, 2.0, 0.5]]), [0], _gen(0)).updates
    assert torch.equal(first, torch.tensor([[0.0, -3.0, 0.0, 0.0]]))
    second = topk(torch.tensor([[1.5, 0.0, 0.0, 0.1]]), [0], _gen(0)).updates
    assert torch.equal(second, torch.tensor([[2.5, 0.0, 0.0, 0.0]]))  # 1 + 1.5 beats 2


def test_mask_is_regenerated_from_the_seed() -> None:
    """The decoder needs only the message: a fresh RandomMask decodes another's message, and
    SplitMix64 matches its published outputs."""
    assert int(splitmix64(np.array([1234567], dtype=np.uint64), 1)[0, 0]) == 6457827717110365317
    u = _updates(3, 500)
    messages = RandomMask(0.2).messages(u, [0, 1, 2], _gen(4))
    for row, message in zip(u, messages, strict=True):
        decoded = RandomMask(0.2).decode(message, 500)
        kept = decoded != 0
        assert torch.allclose(decoded[kept], row[kept] / 0.2)
        assert 40 < int(kept.sum()) < 160  # ~ 100 kept
    assert len({m[:8] for m in messages}) == 3  # a seed per node


def _nan_rows(n: int) -> torch.Tensor:
    u = _updates(3, n)
    u[1] = float("nan")  # a malicious node
    u[2, 5] = float("inf")
    return u


@pytest.mark.parametrize("name", COMPRESSIONS)
def test_non_finite_rows_are_rejected_by_the_server_screen(name: str) -> None:
    """A NaN or infinite row decodes to a non-finite row (quantizers: all NaN), the finite row
    stays finite, and the aggregators' screen rejects the bad ones, as uncompressed."""
    n = 200
    u = _nan_rows(n)
    fraction_one = make_compressor(name, n_nodes=3, mask_fraction=1.0)  # keep every coordinate
    out = fraction_one(u, [0, 1, 2], _gen(0))
    assert bool(torch.isfinite(out.updates[0]).all())
    kept, rejected = screen(torch.zeros(n), out.updates, torch.ones(3))
    assert kept.tolist() == [0] and rejected == [1, 2]
    if name in ("int8", "int4"):
        assert bool(out.updates[1:].isnan().all())
        for row, message in zip(
            out.updates, fraction_one.messages(u, [0, 1, 2], _gen(0)), strict=True
        ):
            assert torch.equal(fraction_one.decode(message, n).isnan(), row.isnan())


def test_topk_resets_a_non_finite_residual() -> None:
    topk = TopK(0.1, n_nodes=2)
    topk(_nan_rows(10)[:2], [0, 1], _gen(0))
    assert topk.residual is not None
    assert bool(torch.isfinite(topk.residual).all())
    assert torch.equal(topk.residual[1], torch.zeros(10))


def test_mask_drops_unkept_nans() -> None:
    """Documented: a NaN the mask leaves out never reaches the server."""
    u = torch.zeros(1, 1000)
    u[0, :] = float("nan")
    out = RandomMask(0.1)(u, [0], _gen(0))
    assert bool(out.updates.isnan().any()) and bool((out.updates == 0).any())


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="bits must be 8 or 4"):
        StochasticQuantizer(2)
    for bad in (0.0, -0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\]"):
            TopK(bad, n_nodes=2)
        with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\]"):
            RandomMask(bad)
    with pytest.raises(ValueError, match="'zip'"):
        make_compressor("zip", n_nodes=2)
    with pytest.raises(ValueError, match="n_nodes"):
        TopK(n_nodes=0)
    q = StochasticQuantizer(8)
    with pytest.raises(ValueError, match=r"\[k, n_params\]"):
        q(torch.zeros(5), [0], _gen(0))
    with pytest.raises(ValueError, match="one per update row"):
        q(torch.zeros(2, 5), [0], _gen(0))
    with pytest.raises(ValueError, match="distinct"):
        q(torch.zeros(2, 5), [1, 1], _gen(0))
    with pytest.raises(ValueError, match="13 bytes"):
        q.decode(b"\0" * 12, 5)
    topk = TopK(n_nodes=2)
    with pytest.raises(ValueError, match=r"in \[0, 2\)"):
        topk(torch.zeros(1, 5), [2], _gen(0))
    topk(torch.zeros(1, 5), [0], _gen(0))
    with pytest.raises(ValueError, match=r"\[k, 5\]"):
        topk(torch.zeros(1, 6), [0], _gen(0))
    with pytest.raises(ValueError, match="index past"):
        topk.decode(np.array([1], "<u4").tobytes() + np.array([9], "<u2").tobytes() + b"\0" * 4, 5)
    with pytest.raises(ValueError, match="its seed keeps"):
        RandomMask(0.5).decode(b"\0" * 8 + b"\0" * 4 * 20, 10)


def test_bench_runs_small_and_writes_json_only_when_asked(tmp_path: Path) -> None:
    from bench.compression import main

    result = main(["--params", "33", "--nodes", "4", "--rounds", "1"])
    assert [r["scheme"] for r in result["rows"]] == list(COMPRESSIONS)
    assert result["rows"][1]["bytes_per_node"] == 8 + 33  # int8
    assert list(tmp_path.iterdir()) == []
    out = tmp_path / "c.json"
    main(["--params", "33", "--nodes", "4", "--rounds", "1", "--json", str(out)])
    assert json.loads(out.read_text())["settings"]["params"] == 33
