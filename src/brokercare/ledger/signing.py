"""The ledger's Ed25519 signing key and the signed tree-head message.

The private key comes from ``BROKERCARE_LEDGER_SIGNING_KEY`` (base64 of the 32-byte seed), the
configured key source, or a 0600 file ``ledger_ed25519.key`` generated in the key directory (never
the data directory, see ``core/keys.py``) on first use. It is kept outside
the database on purpose: someone who can write the database can rewrite rows and recompute hashes,
but cannot sign the new tree heads. Verifiers trust the public key of this process (or one given to
them), never a key read from the database.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from brokercare.core import keys
from brokercare.core.settings import get_settings

KEY_FILE = "ledger_ed25519.key"
DOMAIN = b"brokercare-ledger-v1"


def tree_head_message(size: int, root_hex: str, timestamp: str | None = None) -> bytes:
    """The bytes signed for a tree head: domain, size, root and (for checkpoints) the signing time."""
    parts = [DOMAIN, str(size).encode(), root_hex.encode()]
    if timestamp is not None:
        parts.append(timestamp.encode())
    return b"\n".join(parts)


def key_id_of(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


@dataclass(frozen=True)
class Signer:
    private: Ed25519PrivateKey
    public_raw: bytes

    @property
    def key_id(self) -> str:
        return key_id_of(self.public_raw)

    @property
    def public_hex(self) -> str:
        return self.public_raw.hex()

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self.private.sign(message)).decode("ascii")


def verify_signature(public_raw: bytes, message: bytes, signature_b64: str) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(base64.b64decode(signature_b64), message)
        return True
    except (InvalidSignature, ValueError):
        return False


_signers: dict[str, Signer] = {}
_lock = threading.Lock()


def _new_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_private() -> Ed25519PrivateKey:
    raw = keys.secret("ledger_signing", _new_pem)
    if not raw.lstrip().startswith(b"-----"):  # the environment's base64 seed
        return Ed25519PrivateKey.from_private_bytes(base64.b64decode(raw))
    key = serialization.load_pem_private_key(raw, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{KEY_FILE} does not hold an Ed25519 private key")
    return key


def get_signer() -> Signer:
    """The signer for the configured data dir (cached per data dir)."""
    # abspath, not resolve(): every ledger append asks, and resolve() walks the path on disk.
    cache_key = (f"{os.path.abspath(get_settings().data_dir)}|{get_settings().key_dir}|"
                 f"{os.environ.get('BROKERCARE_LEDGER_SIGNING_KEY', '')[:8]}|{os.environ.get('BROKERCARE_KEY_SOURCE', '')}")
    with _lock:
        signer = _signers.get(cache_key)
        if signer is None:
            private = _load_private()
            public_raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            signer = Signer(private, public_raw)
            _signers[cache_key] = signer
        return signer
