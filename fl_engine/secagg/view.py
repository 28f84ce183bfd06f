"""What the server held during a round: everything it received, and nothing else.

Bonawitz et al. 2017 (CCS, §4 and §6) prove that the server learns only the sum of the
survivors' inputs: this snapshot lets tests check that claim on the actual data, e.g. that each
masked input is uniform noise, and that an aborted round reconstructed no secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

U32 = npt.NDArray[np.uint32]


@dataclass(frozen=True)
class SecAggServerView:
    """A copy of the server's state (arrays copied, so later changes do not show here)."""

    public_keys: dict[int, tuple[bytes, bytes]]  # client -> (c_pk, s_pk), raw 32 bytes each
    relayed_ciphertexts: int  # encrypted shares passed from client to client, unreadable to it
    masked_inputs: dict[int, U32] = field(default_factory=dict)  # client -> y_u uint32 [n]
    revealed_shares: dict[int, int] = field(default_factory=dict)  # responder -> shares revealed
    self_seeds: dict[int, bytes] = field(default_factory=dict)  # survivor -> reconstructed b_u
    private_keys: dict[int, bytes] = field(default_factory=dict)  # dropped -> reconstructed s^SK
    aborted: str | None = None  # why the round aborted, if it did

    @property
    def reconstructed_anything(self) -> bool:
        return bool(self.self_seeds or self.private_keys)
