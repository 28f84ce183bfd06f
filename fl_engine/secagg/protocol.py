"""One round of secure aggregation, end to end: `secure_sum` of k clients' updates.

Bonawitz et al. 2017, "Practical Secure Aggregation for Privacy-Preserving Machine Learning"
(CCS 2017), Fig. 4, honest-but-curious variant, simulated in one process with real cryptography
and real messages: `Client` objects hold their own keys and inputs, the `Server` holds only what
reaches it, and every message is serialized `bytes` counted by a `Ledger`. Four steps:

1. AdvertiseKeys: each client sends two fresh X25519 public keys; the server broadcasts them.
2. ShareKeys: each client t-of-n shares its self-mask seed b_u and its mask key s_u^SK, and
   sends each peer its shares, AES-GCM-encrypted under their c-key agreement, via the server.
3. MaskedInputCollection: each remaining client sends x_u + PRG(b_u) + pairwise masks (mod 2^32).
   Clients in `dropped` stop before this step, and so does a client whose update is not finite
   or lies outside the range the ring carries (`fixed_point.encodable`): it refuses to mask it
   (`refused`), since the server, seeing only the sum, could not screen it.
4. Unmasking: survivors reveal shares of b_u for survivors, of s_v^SK for dropped clients; the
   server reconstructs those, removes the masks and decodes the sum over survivors.

Fewer than t clients at any step abort the round with SecAggError before anything is revealed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import torch

from fl_engine.secagg.client import Client
from fl_engine.secagg.errors import SecAggError
from fl_engine.secagg.server import Server
from fl_engine.secagg.view import SecAggServerView
from fl_engine.secagg.wire import Ledger

__all__ = ["SecAggError", "SecAggRound", "SecAggServerView", "default_threshold", "secure_sum"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass
class SecAggRound:
    """What one round produced and cost."""

    total: F64  # [n]: the decoded sum of the survivors' updates
    survivors: list[int]
    dropped: list[int]  # those told to drop and those that refused
    refused: list[int]  # clients whose update was not finite or out of range: never masked
    bytes_up: I64  # [k]: bytes each client sent (keys, encrypted shares, masked input, reveals)
    bytes_down: I64  # [k]: bytes each received (key list, relayed shares, unmasking request)
    seconds: dict[str, float]  # per phase (all clients' work and the server's, in one process),
    # "total", and "unmasking_server" (the server's share of "unmasking")
    server_view: SecAggServerView | None = None  # everything the server held at the end
    ledger: Ledger | None = field(default=None, repr=False)  # bytes per phase and client


def default_threshold(k: int) -> int:
    """floor(2k/3) + 1, i.e. the smallest t > 2k/3, at least 2.

    The paper (§6, Theorem 6.5) needs t > 2n/3 against an active server colluding with clients;
    it is also enough against honest-but-curious parties, and tolerates up to k - t, about k/3,
    dropouts. k = 10 gives 7, k = 80 gives 54, k = 800 gives 534.
    """
    if k < 2:
        raise ValueError(f"secure aggregation needs at least 2 clients, got {k}")
    return max(2, 2 * k // 3 + 1)


def _as_matrix(updates: npt.ArrayLike | torch.Tensor) -> F64:
    if isinstance(updates, torch.Tensor):
        values = updates.detach().to("cpu", torch.float64).numpy()
    else:
        values = np.asarray(updates, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"updates must be 2-D [k clients, n params], got shape {values.shape}")
    return np.asarray(values, dtype=np.float64)


def _validate(k: int, threshold: int, dropped: Sequence[int]) -> list[int]:
    if k < 2:
        raise ValueError(f"secure aggregation needs at least 2 clients, got {k}")
    if not 2 <= threshold <= k:
        raise ValueError(f"threshold must be in [2, k={k}], got {threshold}")
    out = sorted(int(d) for d in dropped)
    if any(not 0 <= d < k for d in out):
        raise ValueError(f"dropped clients must be indices in [0, {k}), got {list(dropped)}")
    if len(set(out)) != len(out):
        raise ValueError(f"dropped clients repeat an index: {list(dropped)}")
    return out


def secure_sum(
    updates: npt.ArrayLike | torch.Tensor,
    *,
    threshold: int,
    dropped: Sequence[int] = (),
    round_id: int = 0,
    scale_bits: int = 16,
    rng: np.random.Generator | None = None,
) -> SecAggRound:
    """The sum over surviving clients of updates [k, n], computed by secure aggregation.

    For a weighted mean, pre-multiply each row by its weight / total weight. A row that is not
    finite or exceeds ±fixed_point.clamp_bound(scale_bits, k) is refused by its client, which
    drops out before masking (`refused`; its masks are removed like any dropout's). `rng` only
    makes the Shamir coefficients reproducible (tests); without it they, the keys and the seeds
    all come from the OS CSPRNG. Raises SecAggError if fewer than `threshold` clients survive (the
    server reconstructs nothing).
    """
    x = _as_matrix(updates)  # [k, n]
    k, n = x.shape
    gone = _validate(k, threshold, dropped)
    seconds: dict[str, float] = {}
    ledger = Ledger(k)
    clock = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[phase] = now - clock
        clock = now

    common = {"threshold": threshold, "max_summands": k, "round_id": round_id}
    clients = [Client(u, x[u], **common, scale_bits=scale_bits, rng=rng) for u in range(k)]
    server = Server(k, n, threshold, round_id=round_id, scale_bits=scale_bits)
    key_lists = ledger.send_up("advertise_keys", {c.index: c.advertise_keys() for c in clients})
    key_lists = ledger.send_down("advertise_keys", server.advertise_keys(key_lists))
    lap("advertise_keys")
    up = {u: clients[u].share_keys(msg) for u, msg in key_lists.items()}
    relayed = ledger.send_down("share_keys", server.share_keys(ledger.send_up("share_keys", up)))
    for u, msg in relayed.items():
        clients[u].receive_shares(msg)
    lap("share_keys")
    refused = [u for u in range(k) if u not in gone and not clients[u].can_mask]
    gone = sorted(gone + refused)
    alive = [u for u in relayed if u not in gone]
    up = {u: clients[u].masked_input() for u in alive}
    try:
        requests = server.masked_input(ledger.send_up("masked_input", up))
    finally:
        lap("masked_input")
    ledger.send_down("unmasking", requests)
    reveals = ledger.send_up("unmasking", {u: clients[u].unmask(m) for u, m in requests.items()})
    server_start = time.perf_counter()
    total = server.unmask(reveals)
    server_seconds = time.perf_counter() - server_start
    lap("unmasking")
    seconds["total"] = sum(seconds.values())
    seconds["unmasking_server"] = server_seconds  # part of "unmasking": reconstruct and unmask
    return SecAggRound(
        total=total,
        survivors=sorted(requests),
        dropped=gone,
        refused=refused,
        bytes_up=ledger.total_up(),
        bytes_down=ledger.total_down(),
        seconds=seconds,
        server_view=server.view(),
        ledger=ledger,
    )
