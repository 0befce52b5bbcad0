"""A chunk of the demo brokerage is a function of its seed and index alone."""

from __future__ import annotations

import base64
from datetime import date

import numpy as np
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from brokercare.demo.brokerage import _branches
from brokercare.demo.context import build_context
from brokercare.demo.generator import generate_chunk
from brokercare.market.reference import shipped_instruments

KEY = bytes(range(32))
MASTER = bytes(range(32, 64))


def _context(seed: int):
    codes, city_of, need = _branches(2_000)
    managers, first = [], 1
    for count in need:
        managers.append(list(range(first, first + count)))
        first += count
    return build_context(shipped_instruments(), as_of=date(2026, 11, 27), seed=seed,
                         branch_codes=codes, branch_city=city_of, managers_of_branch=managers,
                         cipher_keys={"k1": KEY}, active_key_id="k1", master_key=MASTER)


def _opened(value: str) -> str:
    raw = base64.b64decode(value.split("$", 1)[1])
    return AESGCM(KEY).decrypt(raw[:12], raw[12:], None).decode()


def _columns(part: dict) -> dict:
    """Every column of every table; ciphertexts by what they open to (each draws a fresh nonce)."""
    out = {}
    for table, columns in part.items():
        for name, values in columns.items():
            if name.endswith("_enc"):
                out[table, name] = [_opened(v) for v in values]
            elif isinstance(values, np.ndarray) and values.dtype != object:
                out[table, name] = (values.dtype.str, values.tobytes())
            else:
                out[table, name] = repr(list(values))
    return out


def test_a_chunk_depends_only_on_its_seed_and_index():
    first = generate_chunk(_context(42), 42, 1, 300, 301)
    ctx = _context(42)
    generate_chunk(ctx, 42, 0, 300, 1)  # another chunk first, in the same process
    again = generate_chunk(ctx, 42, 1, 300, 301)
    assert _columns(first) == _columns(again)
    assert first["customers"]["id_number_enc"] != again["customers"]["id_number_enc"]
    assert len(first["trades"]["symbol"]) > 0 and len(first["margin_contracts"]["local_account"]) > 0


def test_another_seed_gives_other_customers():
    a = generate_chunk(_context(42), 42, 0, 300, 1)
    b = generate_chunk(_context(43), 43, 0, 300, 1)
    same_name = np.mean(a["customers"]["name"] == b["customers"]["name"])
    assert same_name < 0.05
    assert set(a["customers"]["id_number_hash"]).isdisjoint(b["customers"]["id_number_hash"])
