"""A client of the secure-aggregation round: it holds its keys, its secrets and its update.

Follows the client side of Bonawitz et al. 2017 (CCS), Fig. 4, in the honest-but-curious setting
(no signatures and no ConsistencyCheck round, which the paper adds against an active server).
Every method takes and returns the `bytes` that travel through the server (layouts in
`wire.py`), so nothing leaks to the server beyond those messages.
"""

from __future__ import annotations

import os

import numpy as np
import numpy.typing as npt

import fl_engine.secagg.fixed_point as fixed_point
import fl_engine.secagg.prg as prg
import fl_engine.secagg.shamir as shamir
from fl_engine.secagg.errors import SecAggError
from fl_engine.secagg.keys import (
    KeyPair,
    ShareKeys,
    agree,
    decrypt_share,
    encrypt_share,
    mask_seed,
    share_keys,
)
from fl_engine.secagg.wire import (
    IDS_DTYPE,
    KEY_LIST_DTYPE,
    REVEAL_DTYPE,
    ROUTED_DTYPE,
    SHARE_BYTES,
    pack_shares,
    parse,
)

F64 = npt.NDArray[np.float64]
U32 = npt.NDArray[np.uint32]


class Client:
    """Client u: fresh key pairs (c for encryption, s for masks) and self-mask seed b_u."""

    def __init__(
        self,
        index: int,
        update: F64,  # [n_params]
        *,
        threshold: int,
        max_summands: int,
        round_id: int = 0,
        scale_bits: int = 16,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.index = index
        self.threshold = threshold
        self.round_id = round_id
        self.rng = rng  # for reproducible Shamir coefficients in tests only (see shamir.py)
        row = np.asarray(update, dtype=np.float64)[None]  # [1, n]
        # An honest client masks only what the ring carries faithfully (see `fixed_point`).
        self.can_mask = bool(fixed_point.encodable(row, scale_bits, max_summands=max_summands)[0])
        self.x = fixed_point.encode(update, scale_bits, max_summands=max_summands)  # [n]
        self.c = KeyPair.generate()
        self.s = KeyPair.generate()
        self.b = os.urandom(prg.SEED_BYTES)  # self-mask seed
        self.peers: dict[int, tuple[bytes, bytes]] = {}  # U1: id -> (c_pk, s_pk)
        self.enc_keys: dict[int, ShareKeys] = {}
        self.own_share = np.zeros((2, shamir.CHUNKS), dtype=np.int64)  # [2, 16]: s^SK, b
        self.inbox: dict[int, bytes] = {}  # U2 \ {u}: sender -> ciphertext

    def _require(self, count: int, step: str) -> None:
        if count < self.threshold:
            raise SecAggError(
                f"client {self.index}: {count} clients at {step}, need t={self.threshold}"
            )

    def advertise_keys(self) -> bytes:
        """Round 0: c_u^PK || s_u^PK."""
        return self.c.public + self.s.public

    def share_keys(self, key_list: bytes) -> bytes:
        """Round 1: t-of-n shares of s_u^SK and b_u, each peer's encrypted under c_{u,v}."""
        records = parse(key_list, KEY_LIST_DTYPE, "key list")
        ids = [int(i) for i in records["id"]]
        self.peers = {
            i: (r["c_pk"].tobytes(), r["s_pk"].tobytes()) for i, r in zip(ids, records, strict=True)
        }
        self._require(len(self.peers), "ShareKeys")
        if self.peers.get(self.index) != (self.c.public, self.s.public):
            raise SecAggError(f"client {self.index}: the key list lost or changed our keys")
        if len({k for pair in self.peers.values() for k in pair}) != 2 * len(self.peers):
            raise SecAggError(f"client {self.index}: the key list repeats a public key")
        secrets = np.frombuffer(self.s.private_raw() + self.b, dtype=np.uint8).reshape(2, -1)
        shares = shamir.share(secrets, max(self.peers) + 1, self.threshold, self.rng)  # [2, N, 16]
        self.own_share = shares[:, self.index]
        peers = [v for v in sorted(self.peers) if v != self.index]
        plain = pack_shares(shares[:, peers].transpose(1, 0, 2).reshape(-1, shamir.CHUNKS))
        plain = plain.reshape(len(peers), -1)  # [peers, 34]: s share || b share, as uint16
        cts = []
        for row, v in enumerate(peers):
            shared = agree(self.c.private, self.peers[v][0])
            self.enc_keys[v] = share_keys(shared, self.round_id, self.index, v)
            key = self.enc_keys[v].for_message(self.index, v)
            cts.append(encrypt_share(key, plain[row].tobytes(), self.round_id, self.index, v))
        out = np.zeros(len(peers), dtype=ROUTED_DTYPE)
        out["peer"] = peers
        out["ct"] = np.frombuffer(b"".join(cts), dtype=np.uint8).reshape(len(peers), -1)
        return out.tobytes()

    def receive_shares(self, relayed: bytes) -> None:
        """End of round 1: keep the ciphertexts addressed to us; their senders are U2 \\ {u}."""
        records = parse(relayed, ROUTED_DTYPE, "relayed shares")
        self.inbox = {int(r["peer"]): r["ct"].tobytes() for r in records}
        if not set(self.inbox) <= set(self.peers) - {self.index}:
            raise SecAggError(f"client {self.index}: shares from clients not in the key list")
        self._require(len(self.inbox) + 1, "MaskedInputCollection")

    def mask(self) -> U32:
        """x_u + PRG(b_u) + sum_{v>u} PRG(s_{u,v}) - sum_{v<u} PRG(s_{u,v}) mod 2^32, [n]."""
        n = self.x.shape[0]
        y = self.x + prg.expand(self.b, n)  # uint32 arithmetic wraps mod 2^32
        for v in self.inbox:  # U2 \ {u}
            shared = agree(self.s.private, self.peers[v][1])
            pairwise = prg.expand(mask_seed(shared, self.round_id, self.index, v), n)
            y = y + pairwise if v > self.index else y - pairwise
        return y

    def masked_input(self) -> bytes:
        """Round 2: y_u as little-endian uint32."""
        return self.mask().astype("<u4").tobytes()

    def unmask(self, request: bytes) -> bytes:
        """Round 4: for v in U3 our share of b_v, for v in U2 \\ U3 our share of s_v^SK.

        Never both for the same client: that would let the server unmask v's input.
        """
        survivors = {int(v) for v in parse(request, IDS_DTYPE, "unmasking request")}
        u2 = set(self.inbox) | {self.index}
        if not survivors <= u2 or self.index not in survivors:
            raise SecAggError(f"client {self.index}: survivors not a subset of U2 including us")
        self._require(len(survivors), "Unmasking")
        owners = sorted(u2)
        out = np.zeros(len(owners), dtype=REVEAL_DTYPE)
        out["id"] = owners
        for row, v in enumerate(owners):
            which = 1 if v in survivors else 0  # b for survivors, s^SK for dropped clients
            if v == self.index:
                out["share"][row] = pack_shares(self.own_share)[which]
                continue
            key = self.enc_keys[v].for_message(v, self.index)
            plain = decrypt_share(key, self.inbox[v], self.round_id, v, self.index)
            if len(plain) != 2 * SHARE_BYTES:
                raise SecAggError(f"client {self.index}: shares from {v} have a bad length")
            out["share"][row] = np.frombuffer(plain, dtype="<u2").reshape(2, -1)[which]  # packed
        return out.tobytes()
