"""The ID-card OCR and face-match/liveness vendor behind the identity step: one interface, and a
local fake for the demo, the tests and a pilot without a vendor contract.

A broker's vendor adapter implements :class:`IdentityVendor` and is named by
``BROKERCARE_ID_VENDOR=package.module:ClassName`` (built with no arguments). The platform only
ever sees the vendor's readings (text fields, a similarity score, a liveness verdict); what the
checks do with them is :mod:`brokercare.onboarding.checks`.

The local fake cannot read a real photo. It reads pictures made by :func:`sample_picture` (and
by the demo's applicant), which carry their "printed" fields as PNG ``iTXt`` chunks; any other
file is unreadable and its face unknown, so a real photo uploaded to a fake-vendor install goes
to the back office rather than through.
"""

from __future__ import annotations

import importlib
import struct
import zlib
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from brokercare.core.settings import get_settings

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PICTURE_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class CardReading:
    """The portrait side of a second-generation ID card as the OCR read it; ``valid_until`` is
    the back side's 有效期限 end (None: 长期)."""

    readable: bool
    name: str | None = None
    id_number: str | None = None
    valid_until: date | None = None


@dataclass(frozen=True)
class FaceMatch:
    """The selfie against the card's portrait: ``similarity`` 0..1 (None: no face found) and
    whether the liveness check (a live person, not a photo of a photo) passed."""

    live: bool
    similarity: float | None


class IdentityVendor(Protocol):
    def read_id_card(self, picture: bytes) -> CardReading: ...

    def match_face(self, id_card: bytes, selfie: bytes) -> FaceMatch: ...


def _chunks(data: bytes) -> dict[str, str]:
    """The ``iTXt`` key/value chunks of a PNG (empty for anything that is not one)."""
    if not data.startswith(PNG_SIGNATURE):
        return {}
    found, pos = {}, len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"iTXt":
            key, _, rest = body.partition(b"\0")
            text = rest[2:].split(b"\0", 2)[-1]  # compression flag, method, language, keyword
            found[key.decode("latin-1")] = text.decode("utf-8", "replace")
        if kind == b"IEND":
            break
    return found


class LocalFakeVendor:
    """Reads the fields a :func:`sample_picture` carries; the same ``face`` on card and selfie
    scores 0.97, another face 0.21, no face None; liveness passes when the selfie says so."""

    def read_id_card(self, picture: bytes) -> CardReading:
        fields = _chunks(picture)
        if "id_number" not in fields:
            return CardReading(readable=False)
        until = fields.get("valid_until") or None
        return CardReading(True, fields.get("name"), fields["id_number"],
                           date.fromisoformat(until) if until else None)

    def match_face(self, id_card: bytes, selfie: bytes) -> FaceMatch:
        card, face = _chunks(id_card).get("face"), _chunks(selfie)
        live = face.get("live") == "yes"
        if not card or not face.get("face"):
            return FaceMatch(live, None)
        return FaceMatch(live, 0.97 if face["face"] == card else 0.21)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def sample_picture(width: int = 64, height: int = 40, **fields: str) -> bytes:
    """A small grey PNG carrying ``fields`` (name, id_number, valid_until, face, live) for the
    local fake vendor: what the demo and the tests upload as an ID card or a selfie."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    pixels = zlib.compress(b"".join(b"\0" + bytes([200]) * width for _ in range(height)))
    text = b"".join(_chunk(b"iTXt", k.encode("latin-1") + b"\0\0\0\0\0" + v.encode("utf-8"))
                    for k, v in fields.items())
    return PNG_SIGNATURE + _chunk(b"IHDR", header) + text + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b"")


def adapter(path: str | None, default: type):
    """A broker's adapter named ``package.module:ClassName`` (built with no arguments), else
    ``default()``: how the vendor and 中国结算 adapters are configured."""
    if not path:
        return default()
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)()


def identity_vendor() -> IdentityVendor:
    """The configured vendor (``BROKERCARE_ID_VENDOR``), else the local fake."""
    return adapter(get_settings().id_vendor, LocalFakeVendor)
