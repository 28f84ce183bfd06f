"""Key pairs, Diffie-Hellman agreement, HKDF-derived seeds and keys, and share encryption.

Bonawitz et al. 2017 (CCS, §3 "Key Agreement", "Authenticated Encryption" and §4, Fig. 4) give
each client two key pairs per round: (c_u^PK, c_u^SK), whose agreement c_{u,v} keys the
encryption of the shares u sends v through the server, and (s_u^PK, s_u^SK), whose agreement
s_{u,v} seeds the pairwise mask between u and v. Both ends of a pair compute the same agreement,
so the pairwise masks cancel and either end can decrypt what the other encrypted.

Here X25519 is the agreement, HKDF-SHA256 turns its raw output into uniform keys (with the round
and the pair in `info`, so a seed is never reused across rounds or pairs), and AES-GCM encrypts.
The share-encryption HKDF yields 64 bytes: the first 32 key the lower index's message to the
higher, the last 32 the other direction. Each such key encrypts exactly one message, so a fixed
nonce is safe; the AAD binds round, sender and receiver, as the paper's u || v || ... does.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from fl_engine.secagg.errors import SecAggError

KEY_BYTES = 32
TAG_BYTES = 16  # AES-GCM authentication tag
_NONCE = bytes(12)  # every encryption key is used once (see the module docstring)
_MASK_INFO = b"fl_engine.secagg/v1/pairwise-mask"
_SHARE_INFO = b"fl_engine.secagg/v1/share-encryption"


@dataclass(frozen=True)
class KeyPair:
    """An X25519 key pair: the private key stays with its owner, the public bytes are sent."""

    private: X25519PrivateKey
    public: bytes  # raw 32 bytes

    @staticmethod
    def generate() -> KeyPair:
        private = X25519PrivateKey.generate()
        return KeyPair(private, private.public_key().public_bytes_raw())

    def private_raw(self) -> bytes:
        """The private scalar's 32 raw bytes (what the paper secret-shares for s^SK)."""
        return self.private.private_bytes_raw()


def private_from_raw(raw: bytes) -> X25519PrivateKey:
    """A private key from its 32 raw bytes (e.g. reconstructed from Shamir shares)."""
    if len(raw) != KEY_BYTES:
        raise ValueError(f"an X25519 private key is {KEY_BYTES} bytes, got {len(raw)}")
    return X25519PrivateKey.from_private_bytes(raw)


def agree(private: X25519PrivateKey, peer_public: bytes) -> bytes:
    """The X25519 shared secret (32 bytes) of our private key and the peer's raw public key."""
    if len(peer_public) != KEY_BYTES:
        raise SecAggError(f"a public key is {KEY_BYTES} bytes, got {len(peer_public)}")
    return private.exchange(X25519PublicKey.from_public_bytes(peer_public))


def _pair_info(label: bytes, round_id: int, a: int, b: int) -> bytes:
    low, high = sorted((a, b))
    return label + struct.pack("<QII", round_id, low, high)


def _hkdf(shared: bytes, length: int, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(shared)


def mask_seed(shared: bytes, round_id: int, a: int, b: int) -> bytes:
    """s_{a,b}: the 32-byte PRG seed of the pairwise mask, the same from either end."""
    return _hkdf(shared, KEY_BYTES, _pair_info(_MASK_INFO, round_id, a, b))


@dataclass(frozen=True)
class ShareKeys:
    """The two one-time AES-GCM keys of a pair, one per direction."""

    low_to_high: bytes
    high_to_low: bytes

    def for_message(self, sender: int, receiver: int) -> bytes:
        return self.low_to_high if sender < receiver else self.high_to_low


def share_keys(shared: bytes, round_id: int, a: int, b: int) -> ShareKeys:
    """c_{a,b} expanded into one encryption key per direction."""
    okm = _hkdf(shared, 2 * KEY_BYTES, _pair_info(_SHARE_INFO, round_id, a, b))
    return ShareKeys(okm[:KEY_BYTES], okm[KEY_BYTES:])


def _aad(round_id: int, sender: int, receiver: int) -> bytes:
    return struct.pack("<QII", round_id, sender, receiver)


def encrypt_share(key: bytes, plaintext: bytes, round_id: int, sender: int, receiver: int) -> bytes:
    """AES-GCM ciphertext (len(plaintext) + 16 bytes) of the shares `sender` gives `receiver`."""
    return AESGCM(key).encrypt(_NONCE, plaintext, _aad(round_id, sender, receiver))


def decrypt_share(
    key: bytes, ciphertext: bytes, round_id: int, sender: int, receiver: int
) -> bytes:
    """The shares back; a ciphertext altered or addressed elsewhere raises SecAggError."""
    try:
        return AESGCM(key).decrypt(_NONCE, ciphertext, _aad(round_id, sender, receiver))
    except InvalidTag as exc:
        raise SecAggError(f"shares from client {sender} to {receiver} failed to decrypt") from exc
