"""The bytes on the wire: every message of a round, its layout, and who sent how much.

Bonawitz et al. 2017 (CCS, §7.1, Table 1) count communication per client: O(n + k) bytes with n
clients and k parameters. The simulation serializes every message to `bytes` so the counts are
the lengths of real payloads, not estimates. Layouts (little-endian; ids are uint32 client
indices; the sender of an upload is known to the transport, as on an authenticated channel):

AdvertiseKeys   up   c_pk (32) || s_pk (32)                                    64
                down key list: per client id || c_pk || s_pk                  68 * |U1|
ShareKeys       up   per peer: receiver id || AES-GCM(shares)                  88 * (|U1| - 1)
                down per peer: sender id || AES-GCM(shares)                    88 * (|U2| - 1)
MaskedInput     up   y_u as uint32                                             4 * n_params
Unmasking       down survivor ids U3                                           4 * |U3|
                up   per client of U2: id || one share                         38 * |U2|

A share is 16 field elements of GF(65537) in 34 bytes: 16 uint16 low halves, then a uint16 whose
bit c says chunk c is 65536 (the one element that needs a 17th bit). An encrypted message holds
two shares (of s_u^SK and of b_u): 68 bytes + 16 bytes of tag = 84.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from fl_engine.secagg.errors import SecAggError
from fl_engine.secagg.keys import KEY_BYTES, TAG_BYTES
from fl_engine.secagg.shamir import CHUNKS

I64 = npt.NDArray[np.int64]
SHARE_BYTES = 2 * CHUNKS + 2  # 34
PLAINTEXT_BYTES = 2 * SHARE_BYTES  # share of s^SK || share of b
CIPHERTEXT_BYTES = PLAINTEXT_BYTES + TAG_BYTES  # 84
KEYS_DTYPE = np.dtype([("c_pk", "u1", (KEY_BYTES,)), ("s_pk", "u1", (KEY_BYTES,))])
KEY_LIST_DTYPE = np.dtype([("id", "<u4"), *KEYS_DTYPE.descr])
ROUTED_DTYPE = np.dtype([("peer", "<u4"), ("ct", "u1", (CIPHERTEXT_BYTES,))])
REVEAL_DTYPE = np.dtype([("id", "<u4"), ("share", "<u2", (CHUNKS + 1,))])
IDS_DTYPE = np.dtype("<u4")
PHASES = ("advertise_keys", "share_keys", "masked_input", "unmasking")
_BITS = np.arange(CHUNKS, dtype=np.uint16)  # [16]


def pack_shares(elements: I64) -> npt.NDArray[np.uint16]:
    """Field elements [r, 16] in [0, 65537) -> uint16 [r, 17] (34 bytes per share)."""
    low = (elements & 0xFFFF).astype(np.uint16)  # [r, 16]
    high = ((elements >> 16) & 1).astype(np.uint16)  # [r, 16], 1 only for 65536
    flags = (high << _BITS).sum(axis=1, dtype=np.uint16)  # [r]
    return np.concatenate([low, flags[:, None]], axis=1)


def unpack_shares(packed: npt.NDArray[np.uint16]) -> I64:
    """uint16 [r, 17] -> field elements int64 [r, 16]."""
    low = packed[:, :CHUNKS].astype(np.int64)  # [r, 16]
    high = (packed[:, CHUNKS:] >> _BITS) & 1  # [r, 16]
    return low + high.astype(np.int64) * 65536


def parse(payload: bytes, dtype: np.dtype[Any], what: str) -> npt.NDArray[Any]:
    """Records of `dtype` from a payload, or SecAggError when the length does not fit."""
    if len(payload) % dtype.itemsize:
        raise SecAggError(
            f"malformed {what}: {len(payload)} bytes, not records of {dtype.itemsize}"
        )
    return np.frombuffer(payload, dtype=dtype)


@dataclass
class Ledger:
    """Bytes each client sent and received, per phase: the lengths of the actual payloads."""

    n_clients: int
    up: dict[str, I64] = field(default_factory=dict)  # phase -> [k]
    down: dict[str, I64] = field(default_factory=dict)  # phase -> [k]
    messages: int = 0

    def __post_init__(self) -> None:
        for phase in PHASES:
            self.up[phase] = np.zeros(self.n_clients, dtype=np.int64)
            self.down[phase] = np.zeros(self.n_clients, dtype=np.int64)

    def send_up(self, phase: str, payloads: dict[int, bytes]) -> dict[int, bytes]:
        """Clients -> server: counts each payload and passes it on unchanged."""
        for client, payload in payloads.items():
            self.up[phase][client] += len(payload)
        self.messages += len(payloads)
        return payloads

    def send_down(self, phase: str, payloads: dict[int, bytes]) -> dict[int, bytes]:
        """Server -> clients: counts each payload and passes it on unchanged."""
        for client, payload in payloads.items():
            self.down[phase][client] += len(payload)
        self.messages += len(payloads)
        return payloads

    def total_up(self) -> I64:
        total: I64 = np.sum([self.up[p] for p in PHASES], axis=0).astype(np.int64)  # [k]
        return total

    def total_down(self) -> I64:
        total: I64 = np.sum([self.down[p] for p in PHASES], axis=0).astype(np.int64)  # [k]
        return total
