"""Tree heads written to a witness outside the database, and the check against it.

Whoever holds the signing key (stolen with the server) can rewrite the ledger and re-sign every
tree head: the ledger then verifies on its own. A witness the broker keeps elsewhere (an
append-only file on another mount, or an HTTP service) receives every signed checkpoint once its
transaction commits; ``verify_against`` then asks whether the ledger still has, at each witnessed
size, the root the witness saw. A rewritten history cannot, so it is caught and located.

``BROKERCARE_LEDGER_WITNESS`` names the witness: a file path (one JSON line per head, appended) or
an ``http(s)://`` URL that takes a head as a JSON ``POST`` and lists them all on ``GET`` (a JSON
array, or JSON lines).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from brokercare.core.settings import get_settings
from brokercare.ledger.models import LedgerEntry
from brokercare.ledger.signing import get_signer, tree_head_message, verify_signature

log = logging.getLogger(__name__)
_HELD = "brokercare.ledger_witness_heads"
TIMEOUT_S = 5.0


def configured() -> str | None:
    return get_settings().ledger_witness or None


def hold(session: Session, head: dict) -> None:
    """Send ``head`` to the configured witness once ``session`` commits (a rollback drops it)."""
    if configured():
        session.info.setdefault(_HELD, []).append(head)


@event.listens_for(Session, "after_commit")
def _publish(session: Session) -> None:
    heads = session.info.pop(_HELD, [])
    if heads:
        publish(heads)


@event.listens_for(Session, "after_soft_rollback")
def _drop(session: Session, _previous: object) -> None:
    session.info.pop(_HELD, None)


def publish(heads: list[dict], where: str | None = None) -> None:
    """Write heads to the witness. A witness that cannot be reached is logged, never fatal: the
    ledger is committed, and the next checkpoint covers everything before it."""
    where = where or configured()
    if not where:
        return
    try:
        if where.startswith(("http://", "https://")):
            with httpx.Client(timeout=TIMEOUT_S) as client:
                for head in heads:
                    client.post(where, json=head).raise_for_status()
        else:
            path = Path(where)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as f:
                for head in heads:
                    f.write(json.dumps(head, sort_keys=True) + "\n")
    except (OSError, httpx.HTTPError) as exc:
        log.error("ledger witness %s not written: %s", where, exc)


def read(where: str) -> list[dict]:
    if where.startswith(("http://", "https://")):
        response = httpx.get(where, timeout=TIMEOUT_S)
        response.raise_for_status()
        text = response.text
    else:
        text = Path(where).read_text(encoding="utf-8")
    text = text.strip()
    if text.startswith("["):
        return list(json.loads(text))
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@dataclass
class WitnessReport:
    ok: bool
    witness: str
    heads: int
    checked: int = 0
    first_bad_size: int | None = None
    issues: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def verify_against(session: Session, where: str | None = None, *, public_key: bytes | None = None) -> WitnessReport:
    """Does the ledger hold, at every size the witness saw, the root the witness saw?"""
    where = where or configured()
    if not where:
        return WitnessReport(ok=False, witness="", heads=0, issues=["no witness configured (BROKERCARE_LEDGER_WITNESS)"])
    try:
        heads = read(where)
    except (OSError, ValueError, httpx.HTTPError) as exc:
        return WitnessReport(ok=False, witness=where, heads=0, issues=[f"witness unreadable: {exc}"])
    trusted = public_key or get_signer().public_raw
    report = WitnessReport(ok=True, witness=where, heads=len(heads))
    for head in sorted(heads, key=lambda h: h.get("tree_size", 0)):
        size, root = head.get("tree_size"), head.get("root_hash")
        message = tree_head_message(size, root, head.get("signed_at"))
        if not isinstance(size, int) or not verify_signature(trusted, message, head.get("signature", "")):
            report.issues.append(f"witness record for size {size} is not signed by the ledger key: ignored")
            continue
        stored = session.scalar(select(LedgerEntry.tree_root).where(LedgerEntry.id == size - 1))
        report.checked += 1
        if stored is None:
            problem = f"the witness saw {size} entries; the ledger has fewer now (truncated)"
        elif stored != root:
            problem = (f"at size {size} the ledger's root is {stored[:16]}…, the witness saw {root[:16]}…: "
                       "the history up to there was rewritten (and re-signed)")
        else:
            continue
        report.issues.append(problem)
        if report.first_bad_size is None:
            report.first_bad_size = size
    report.ok = not report.issues
    return report
