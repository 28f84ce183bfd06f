"""Vectorized Shamir t-of-n secret sharing of 32-byte secrets over GF(65537).

Bonawitz et al. 2017 (CCS, §3, "Secret Sharing", and §4) share each client's self-mask seed b_u
and pairwise-mask private key s_u^SK t-of-n, so that the server can remove the masks of clients
that drop out, but only with the help of at least t clients. Any t shares determine a secret;
t - 1 shares are uniformly distributed and say nothing about it.

The field is GF(p), p = 65537 = 2^16 + 1, a prime: a 32-byte secret is 16 little-endian 16-bit
chunks, each < 65536 < p, each shared with its own random polynomial of degree t - 1. Share x
coordinates are 1..n (client index + 1). A share is [16] field elements in [0, p).

Speed (n = 800, t = 534): evaluating every polynomial at every point is one matrix product,
Vandermonde [n, t] @ coefficients [t, m*16]. Every term is < p^2 <= 2^32 + 2^17 + 1 and a sum of
t < 2^20 of them stays below 2^53, so float64 BLAS is exact and `mod p` afterwards is exact too.

Randomness: without an `rng` the coefficients come from `os.urandom` (the OS CSPRNG): 64-bit
values reduced mod p, bias below p / 2^64. A seeded `np.random.Generator` may be passed for
reproducible tests only; PCG64 is not a cryptographic generator.
"""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np
import numpy.typing as npt

P = 65537  # the prime 2^16 + 1
CHUNKS = 16  # 16-bit chunks per 32-byte secret
SECRET_BYTES = 2 * CHUNKS
MAX_THRESHOLD = 2**20  # keeps the float64 sums of t products below 2^53 (exact)
I64 = npt.NDArray[np.int64]
U8 = npt.NDArray[np.uint8]


def _random_field(count: int, rng: np.random.Generator | None) -> I64:
    """`count` uniform field elements in [0, p): the OS CSPRNG unless a test passes an rng."""
    if rng is not None:
        return rng.integers(0, P, size=count, dtype=np.int64)
    raw = np.frombuffer(os.urandom(8 * count), dtype="<u8")  # [count]
    return (raw % np.uint64(P)).astype(np.int64)


@lru_cache(maxsize=16)
def _vandermonde(n_shares: int, threshold: int) -> npt.NDArray[np.float64]:
    """V [n, t] with V[i, d] = (i + 1)^d mod p, as float64 for BLAS (read-only, cached)."""
    xs = np.arange(1, n_shares + 1, dtype=np.int64)  # [n]
    powers = np.ones((n_shares, threshold), dtype=np.int64)  # [n, t]
    for d in range(1, threshold):
        powers[:, d] = powers[:, d - 1] * xs % P
    out = powers.astype(np.float64)
    out.flags.writeable = False
    return out


def _check_counts(n_shares: int, threshold: int) -> None:
    if not 2 <= threshold <= n_shares:
        raise ValueError(f"need 2 <= threshold <= n_shares, got t={threshold}, n={n_shares}")
    if n_shares >= P or threshold > MAX_THRESHOLD:
        raise ValueError(f"at most {P - 1} shares and threshold {MAX_THRESHOLD} in GF({P})")


def secrets_to_chunks(secrets: npt.ArrayLike) -> I64:
    """uint8 [m, 32] -> field elements int64 [m, 16] (little-endian 16-bit chunks)."""
    raw = np.ascontiguousarray(secrets, dtype=np.uint8)
    if raw.ndim != 2 or raw.shape[1] != SECRET_BYTES:
        raise ValueError(f"secrets must be uint8 [m, {SECRET_BYTES}], got shape {raw.shape}")
    return raw.view("<u2").astype(np.int64)  # [m, 16]


def chunks_to_secrets(chunks: I64) -> U8:
    """Field elements [m, 16] -> uint8 [m, 32]; a chunk of 65536 cannot come from a secret."""
    if np.any((chunks < 0) | (chunks >= 2**16)):
        raise ValueError("reconstructed chunk out of range: the shares are inconsistent")
    return np.ascontiguousarray(chunks.astype("<u2")).view(np.uint8)  # [m, 32]


def share(
    secrets: npt.ArrayLike, n_shares: int, threshold: int, rng: np.random.Generator | None = None
) -> I64:
    """Share m 32-byte secrets uint8 [m, 32] t-of-n: int64 [m, n_shares, 16] field elements.

    Share i (0-based) is the evaluation at x = i + 1 of each chunk's polynomial, whose constant
    term is the chunk and whose t - 1 other coefficients are uniform in GF(p).
    """
    _check_counts(n_shares, threshold)
    chunks = secrets_to_chunks(secrets)  # [m, 16]
    m = chunks.shape[0]
    coeffs = np.empty((threshold, m * CHUNKS), dtype=np.int64)  # [t, m*16]
    coeffs[0] = chunks.reshape(-1)
    coeffs[1:] = _random_field((threshold - 1) * m * CHUNKS, rng).reshape(threshold - 1, -1)
    values = _vandermonde(n_shares, threshold) @ coeffs.astype(np.float64)  # [n, m*16], exact
    evaluated = np.fmod(values, float(P)).astype(np.int64)  # [n, m*16]
    return np.ascontiguousarray(evaluated.reshape(n_shares, m, CHUNKS).transpose(1, 0, 2))


def _pow_mod(base: I64, exponent: int) -> I64:
    """Elementwise base^exponent mod p (square and multiply; products < 2^34 fit int64)."""
    result = np.ones_like(base)
    square = base % P
    while exponent:
        if exponent & 1:
            result = result * square % P
        square = square * square % P
        exponent >>= 1
    return result


def lagrange_at_zero(xs: npt.ArrayLike) -> I64:
    """Lagrange weights [t] at 0: lambda_j = prod_{m != j} x_m / (x_m - x_j) mod p."""
    x = np.asarray(xs, dtype=np.int64).reshape(-1)  # [t]
    if np.any((x < 1) | (x >= P)) or len(np.unique(x)) != len(x):
        raise ValueError(f"share x coordinates must be distinct, in [1, {P - 1}]")
    diff = (x[None, :] - x[:, None]) % P  # [t, t]: x_m - x_j
    np.fill_diagonal(diff, 1)
    numer = np.broadcast_to(x[None, :], diff.shape).copy()  # [t, t]: x_m
    np.fill_diagonal(numer, 1)
    factors = numer * _pow_mod(diff, P - 2) % P  # [t, t], Fermat inverse
    while factors.shape[1] > 1:  # row products mod p by halving
        if factors.shape[1] % 2:
            factors = np.concatenate([factors, np.ones_like(factors[:, :1])], axis=1)
        factors = factors[:, 0::2] * factors[:, 1::2] % P
    return factors[:, 0]  # [t]


def interpolate_at_zero(xs: npt.ArrayLike, shares: npt.ArrayLike) -> I64:
    """Field elements at 0 from shares [t, m, 16] (or [t, 16]) held at xs [t]: [m, 16] / [16].

    With fewer points than the threshold the result is a uniformly random field vector.
    """
    held = np.asarray(shares, dtype=np.int64)
    weights = lagrange_at_zero(xs)  # [t]
    if held.shape[0] != weights.shape[0]:
        raise ValueError(f"{weights.shape[0]} x coordinates but {held.shape[0]} shares")
    flat = held.reshape(held.shape[0], -1).astype(np.float64)  # [t, m*16]
    total = weights.astype(np.float64) @ flat  # [m*16], exact below 2^53
    return np.fmod(total, float(P)).astype(np.int64).reshape(held.shape[1:])


def reconstruct_many(xs: npt.ArrayLike, shares: npt.ArrayLike) -> U8:
    """Batched reconstruction: shares [t, m, 16] at xs [t] -> secrets uint8 [m, 32]."""
    chunks = interpolate_at_zero(xs, shares)  # [m, 16]
    return chunks_to_secrets(chunks.reshape(-1, CHUNKS))


def reconstruct(xs: npt.ArrayLike, shares: npt.ArrayLike) -> bytes:
    """One secret from shares [t, 16] at xs [t], by Lagrange interpolation at 0."""
    held = np.asarray(shares, dtype=np.int64)
    if held.ndim != 2 or held.shape[1] != CHUNKS:
        raise ValueError(f"shares must be [t, {CHUNKS}], got shape {held.shape}")
    return bytes(reconstruct_many(xs, held[:, None, :])[0].tobytes())
