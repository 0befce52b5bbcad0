"""Field encryption for personal data (AES-256-GCM, envelope keys) and blind indexes.

Each encrypted value carries the id of the data key that sealed it (``k3$<base64>``), so values
under an old key stay readable while ``brokercare keys rotate`` re-encrypts them in batches:
rotation needs no downtime. Data keys live in the ``data_keys`` table wrapped by the master key,
which comes from ``BROKERCARE_MASTER_KEY``, a 0600 file in the key directory or a KMS key source. Blind indexes (HMAC-SHA256 under a key derived from the master key) let the
platform find a customer by phone or ID number without storing either in clear.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
import time
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from brokercare.core import keys
from brokercare.security.models import DataKey

_NONCE = 12


def load_master_key() -> bytes:
    """The master key from ``BROKERCARE_MASTER_KEY``, the configured key source, or a 0600 file in
    the key directory (never the data directory: see ``core/keys.py``)."""
    raw = keys.secret("master", lambda: base64.b64encode(AESGCM.generate_key(bit_length=256)))
    key = base64.b64decode(raw)
    if len(key) != 32:
        raise ValueError("BROKERCARE_MASTER_KEY must be 32 bytes, base64-encoded")
    return key


def blind_index(value: str, *, master_key: bytes | None = None) -> str:
    """Keyed hash of a normalised value, stable across data-key rotation."""
    master = master_key or load_master_key()
    hkey = hashlib.sha256(b"brokercare-blind-index:" + master).digest()
    norm = "".join(value.split()).upper()
    return hmac.new(hkey, norm.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass
class FieldCipher:
    """Encrypts and decrypts field values with the data keys of one database."""

    keys: dict[str, bytes]
    active_key_id: str
    # Where to reload the keys from when a value names a key this process has not seen yet
    # (another process rotated): the engine of the database the keys were read from.
    engine: Engine | None = field(default=None, repr=False)
    loaded_at: float = field(default_factory=time.monotonic)

    def encrypt(self, plaintext: str) -> str:
        nonce = os.urandom(_NONCE)
        sealed = AESGCM(self.keys[self.active_key_id]).encrypt(nonce, plaintext.encode("utf-8"), None)
        return f"{self.active_key_id}${base64.b64encode(nonce + sealed).decode('ascii')}"

    def encrypt_many(self, values: list[str | None]) -> list[str | None]:
        aes, kid = AESGCM(self.keys[self.active_key_id]), self.active_key_id
        out: list[str | None] = []
        for v in values:
            if v is None:
                out.append(None)
                continue
            nonce = os.urandom(_NONCE)
            blob = nonce + aes.encrypt(nonce, v.encode("utf-8"), None)
            out.append(f"{kid}${base64.b64encode(blob).decode('ascii')}")
        return out

    def decrypt(self, token: str) -> str:
        key_id, _, body = token.partition("$")
        if key_id not in self.keys and self.engine is not None:
            self.reload()
        if key_id not in self.keys:
            raise KeyError(f"unknown data key {key_id!r}")
        blob = base64.b64decode(body)
        return AESGCM(self.keys[key_id]).decrypt(blob[:_NONCE], blob[_NONCE:], None).decode("utf-8")

    @staticmethod
    def key_id_of(token: str) -> str:
        return token.partition("$")[0]

    def reload(self) -> None:
        """Re-read the data keys (a rotation in another process added one)."""
        if self.engine is None:
            return
        with Session(self.engine) as session:
            keys, active = _load_keys(session)
        with _lock:
            self.keys, self.active_key_id, self.loaded_at = keys, active, time.monotonic()


def _wrap(master: bytes, key: bytes) -> str:
    nonce = os.urandom(_NONCE)
    return base64.b64encode(nonce + AESGCM(master).encrypt(nonce, key, b"data-key")).decode("ascii")


def _unwrap(master: bytes, wrapped: str) -> bytes:
    blob = base64.b64decode(wrapped)
    return AESGCM(master).decrypt(blob[:_NONCE], blob[_NONCE:], b"data-key")


def create_data_key(session: Session) -> str:
    """Add a new active data key and retire the previous ones (their values stay readable)."""
    master = load_master_key()
    existing = session.scalars(select(DataKey)).all()
    next_no = 1 + max((int(k.key_id.lstrip("k")) for k in existing), default=0)
    for k in existing:
        k.status = "retired"
    key_id = f"k{next_no}"
    session.add(DataKey(key_id=key_id, wrapped_key=_wrap(master, AESGCM.generate_key(256)), status="active"))
    session.flush()
    _cache.clear()
    return key_id


_cache: dict[str, FieldCipher] = {}
_lock = threading.RLock()
# A process re-reads the keys at least this often, so after a rotation elsewhere it soon seals new
# values under the new key (values under unknown keys trigger a re-read at once).
CACHE_SECONDS = 30.0


def _load_keys(session: Session) -> tuple[dict[str, bytes], str]:
    rows = session.scalars(select(DataKey)).all()
    master = load_master_key()
    keys = {r.key_id: _unwrap(master, r.wrapped_key) for r in rows}
    active = [r.key_id for r in rows if r.status == "active"]
    return keys, max(active, key=lambda k: int(k[1:]))


def get_cipher(session: Session, *, refresh: bool = False) -> FieldCipher:
    """The cipher for this database, creating the first data key if there is none."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    cache_key = f"{engine.url}#{id(engine)}"
    with _lock:
        cached = _cache.get(cache_key)
        if cached is not None and not refresh and time.monotonic() - cached.loaded_at < CACHE_SECONDS:
            return cached
        if session.scalar(select(DataKey.key_id).limit(1)) is None:
            create_data_key(session)
        keys, active = _load_keys(session)
        cipher = FieldCipher(keys=keys, active_key_id=active, engine=engine)
        _cache[cache_key] = cipher
        return cipher


def ensure_data_key(engine: Engine) -> None:
    """Create and commit the first data key before an import's transaction, never inside it."""
    with Session(engine) as session:
        get_cipher(session)
        session.commit()


def forget_ciphers() -> None:
    _cache.clear()
