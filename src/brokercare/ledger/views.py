"""The ledger API for compliance and administrators: signed checkpoints, entries, proofs."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from brokercare.core.database import get_session
from brokercare.core.errors import NotFound
from brokercare.ledger import service
from brokercare.security.policy import Principal, require_roles

router = APIRouter(prefix="/ledger", tags=["ledger"])
auditor = require_roles("compliance", "admin")


@router.get("/checkpoint", summary="The latest signed tree head (signed now if the ledger grew)")
def checkpoint(session: Session = Depends(get_session), _: Principal = Depends(auditor)) -> dict:
    cp = service.checkpoint(session, create=True)
    session.commit()
    if cp is None:
        raise NotFound("the ledger is empty: nothing to sign yet")
    return {"size": service.size(session), **service.checkpoint_dict(cp)}


@router.get("/entries/{index}", summary="One ledger entry, with its body, hashes and signature")
def entry(index: int, session: Session = Depends(get_session), _: Principal = Depends(auditor)) -> dict:
    e = service.get_entry(session, index)
    return {
        "index": e.id, "kind": e.kind, "subject": e.subject, "created_at": e.created_at.isoformat(),
        "data": json.loads(e.body).get("data"), "body": e.body, "leaf_hash": e.leaf_hash,
        "tree_root": e.tree_root, "key_id": e.key_id, "signature": e.signature,
    }


@router.get("/entries/{index}/proof", summary="RFC 6962 inclusion proof of an entry")
def proof(
    index: int,
    tree_size: int | None = Query(None, ge=1, description="Tree size to prove against (default: current)."),
    session: Session = Depends(get_session),
    _: Principal = Depends(auditor),
) -> dict:
    return service.inclusion(session, index, tree_size)


@router.get("/consistency", summary="RFC 6962 consistency proof between two tree sizes")
def consistency(
    first: int = Query(..., ge=1),
    second: int = Query(..., ge=1),
    session: Session = Depends(get_session),
    _: Principal = Depends(auditor),
) -> dict:
    return service.consistency(session, first, second)


@router.post("/verify", summary="Recompute the whole ledger and check every signature")
def verify(session: Session = Depends(get_session), _: Principal = Depends(auditor)) -> dict:
    return service.verify(session).as_dict()
