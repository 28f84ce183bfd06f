"""The pseudorandom generator that expands a 32-byte seed into a mask in Z_{2^32}^n.

Bonawitz et al. 2017 (CCS, §4 and §6) mask each input with PRG(b_u) and PRG(s_{u,v}); security
needs a PRG whose output is indistinguishable from uniform. ChaCha20's keystream is one: the seed
is the 256-bit key, the nonce is fixed at zero because every seed is fresh (derived per round and
per pair, see `keys.py`) and expanded exactly once per purpose. The keystream is read as
little-endian uint32, so every platform expands a seed to the same mask.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

U32 = npt.NDArray[np.uint32]
SEED_BYTES = 32
_NONCE = bytes(16)  # cryptography's ChaCha20 nonce: 4-byte block counter + 12-byte nonce, all 0


def expand(seed: bytes, n: int) -> U32:
    """ChaCha20 keystream of `seed` as n little-endian uint32 [n], uniform on [0, 2^32)."""
    if len(seed) != SEED_BYTES:
        raise ValueError(f"a PRG seed is {SEED_BYTES} bytes, got {len(seed)}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    encryptor = Cipher(algorithms.ChaCha20(seed, _NONCE), mode=None).encryptor()
    stream = encryptor.update(bytes(4 * n))  # encrypting zeros yields the keystream itself
    return np.frombuffer(stream, dtype="<u4").astype(np.uint32)  # [n]
