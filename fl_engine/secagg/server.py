"""The server of the secure-aggregation round: it relays, collects, and unmasks only the sum.

Follows the server side of Bonawitz et al. 2017 (CCS), Fig. 4 (honest-but-curious setting). The
server holds only what reaches it: public keys, ciphertexts it cannot read, masked inputs, and
the shares survivors reveal in the unmasking step. It checks that at least t clients remain at
every step and aborts otherwise, in particular before asking for or reconstructing any secret.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

import fl_engine.secagg.fixed_point as fixed_point
import fl_engine.secagg.prg as prg
import fl_engine.secagg.shamir as shamir
from fl_engine.secagg.errors import SecAggError
from fl_engine.secagg.keys import KEY_BYTES, agree, mask_seed, private_from_raw
from fl_engine.secagg.view import SecAggServerView
from fl_engine.secagg.wire import (
    IDS_DTYPE,
    KEY_LIST_DTYPE,
    REVEAL_DTYPE,
    ROUTED_DTYPE,
    parse,
    unpack_shares,
)

F64 = npt.NDArray[np.float64]
U32 = npt.NDArray[np.uint32]


class Server:
    """The aggregator of one round over clients 0..k-1, with threshold t."""

    def __init__(
        self,
        n_clients: int,
        n_params: int,
        threshold: int,
        *,
        round_id: int = 0,
        scale_bits: int = 16,
    ) -> None:
        self.n_clients = n_clients
        self.n_params = n_params
        self.threshold = threshold
        self.round_id = round_id
        self.scale_bits = scale_bits
        self.public_keys: dict[int, tuple[bytes, bytes]] = {}  # U1
        self.u2: list[int] = []
        self.relayed = 0
        self.masked: dict[int, U32] = {}  # U3 -> y_u [n]
        self.revealed: dict[int, npt.NDArray[np.void]] = {}  # U4 -> REVEAL records
        self.self_seeds: dict[int, bytes] = {}
        self.private_keys: dict[int, bytes] = {}
        self.aborted: str | None = None

    def view(self) -> SecAggServerView:
        return SecAggServerView(
            public_keys=dict(self.public_keys),
            relayed_ciphertexts=self.relayed,
            masked_inputs={u: y.copy() for u, y in self.masked.items()},
            revealed_shares={u: len(r) for u, r in self.revealed.items()},
            self_seeds=dict(self.self_seeds),
            private_keys=dict(self.private_keys),
            aborted=self.aborted,
        )

    def _require(self, clients: int, step: str) -> None:
        """Abort (SecAggError) when fewer than t clients remain at `step`."""
        if clients < self.threshold:
            self.aborted = (
                f"{step}: {clients} clients remain, fewer than the threshold t={self.threshold}; "
                "the round aborts and no secret is reconstructed"
            )
            raise SecAggError(self.aborted, server_view=self.view())

    def advertise_keys(self, uploads: dict[int, bytes]) -> dict[int, bytes]:
        """Round 0: collect (c_pk, s_pk) from U1, broadcast the list to U1."""
        for u, payload in uploads.items():
            if len(payload) != 2 * KEY_BYTES or not 0 <= u < self.n_clients:
                raise SecAggError(f"malformed keys from client {u}")
            self.public_keys[u] = (payload[:KEY_BYTES], payload[KEY_BYTES:])
        self._require(len(self.public_keys), "AdvertiseKeys")
        ids = sorted(self.public_keys)
        out = np.zeros(len(ids), dtype=KEY_LIST_DTYPE)
        for row, u in enumerate(ids):
            c_pk, s_pk = self.public_keys[u]
            out[row] = (u, np.frombuffer(c_pk, np.uint8), np.frombuffer(s_pk, np.uint8))
        key_list = out.tobytes()
        return dict.fromkeys(ids, key_list)

    def share_keys(self, uploads: dict[int, bytes]) -> dict[int, bytes]:
        """Round 1: relay each ciphertext from U2 to its receiver (if in U2), sender attached."""
        self.u2 = sorted(u for u in uploads if u in self.public_keys)
        self._require(len(self.u2), "ShareKeys")
        in_u2 = set(self.u2)
        senders, records = [], []
        for u in self.u2:
            got = parse(uploads[u], ROUTED_DTYPE, f"shares from client {u}")
            keep = got[np.isin(got["peer"], self.u2)]
            senders.append(np.full(len(keep), u, dtype=np.uint32))
            records.append(keep)
        sender = np.concatenate(senders)  # [messages]
        routed = np.concatenate(records)  # [messages]: receiver, ciphertext
        order = np.argsort(routed["peer"], kind="stable")
        sender, routed = sender[order], routed[order]
        bounds = np.searchsorted(routed["peer"], [*self.u2, self.n_clients])
        out: dict[int, bytes] = {}
        for row, v in enumerate(self.u2):
            lo, hi = bounds[row], bounds[row + 1]
            msg = np.zeros(hi - lo, dtype=ROUTED_DTYPE)
            msg["peer"], msg["ct"] = sender[lo:hi], routed["ct"][lo:hi]
            out[v] = msg.tobytes()
        self.relayed = len(routed)
        assert set(out) == in_u2
        return out

    def masked_input(self, uploads: dict[int, bytes]) -> dict[int, bytes]:
        """Round 2: collect y_u from U3 (or abort before asking for any share); send U3 to U3."""
        for u, payload in uploads.items():
            if u not in self.u2 or len(payload) != 4 * self.n_params:
                raise SecAggError(f"unexpected masked input from client {u}")
            self.masked[u] = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
        survivors = sorted(self.masked)
        self._require(len(survivors), "MaskedInputCollection")
        request = np.asarray(survivors, dtype=IDS_DTYPE).tobytes()
        return dict.fromkeys(survivors, request)

    def unmask(self, uploads: dict[int, bytes]) -> F64:
        """Round 4: reconstruct b_u (u in U3) and s_v^SK (v in U2 \\ U3), strip masks, decode."""
        u3 = sorted(self.masked)
        dropped = [v for v in self.u2 if v not in self.masked]
        for u, payload in uploads.items():
            got = parse(payload, REVEAL_DTYPE, f"revealed shares from client {u}")
            if u not in self.masked or [int(i) for i in got["id"]] != self.u2:
                raise SecAggError(f"client {u} revealed shares for the wrong clients")
            self.revealed[u] = got
        self._require(len(self.revealed), "Unmasking")
        holders = sorted(self.revealed)[: self.threshold]  # any t of them suffice
        held = np.stack(
            [unpack_shares(self.revealed[u]["share"]) for u in holders]
        )  # [t, |U2|, 16]
        secrets = shamir.reconstruct_many([u + 1 for u in holders], held)  # [|U2|, 32]
        by_client = {v: secrets[row].tobytes() for row, v in enumerate(self.u2)}
        self.self_seeds = {u: by_client[u] for u in u3}
        self.private_keys = {v: by_client[v] for v in dropped}
        total = np.sum(
            np.stack(list(self.masked.values())), axis=0, dtype=np.uint32
        )  # [n], mod 2^32
        for u in u3:
            total -= prg.expand(self.self_seeds[u], self.n_params)
        for v in dropped:
            s_sk = private_from_raw(self.private_keys[v])
            if s_sk.public_key().public_bytes_raw() != self.public_keys[v][1]:
                raise SecAggError(f"reconstructed s^SK of client {v} does not match its s^PK")
            for u in u3:  # u added +PRG(s_uv) if v > u, else -PRG(s_uv): undo it
                seed = mask_seed(agree(s_sk, self.public_keys[u][1]), self.round_id, u, v)
                pairwise = prg.expand(seed, self.n_params)
                total = total - pairwise if v > u else total + pairwise
        return fixed_point.decode(total, self.scale_bits)
