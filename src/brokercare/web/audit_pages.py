"""Compliance's workbench page of staff reads of customer data: per customer or per member of
staff, each read with the relationship that allowed it and its ledger entry's inclusion proof."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from brokercare.core.database import get_session
from brokercare.security.access import RELATIONSHIP_LABELS, read_label
from brokercare.security.policy import ROLE_LABELS, Principal
from brokercare.security.service import access_reads
from brokercare.web.sessions import staff_user

router = APIRouter(prefix="/workbench", include_in_schema=False)


@router.get("/access-reads", response_class=HTMLResponse)
def access_reads_page(request: Request, customer_id: int | None = Query(None, ge=1, le=2**62),
                      user_id: int | None = Query(None, ge=1, le=2**62),
                      user: Principal = Depends(staff_user),
                      session: Session = Depends(get_session)) -> HTMLResponse:
    from brokercare.web.workbench import render

    if user.role != "compliance":
        raise HTTPException(status_code=403, detail="数据调阅审计仅限合规专员查看。")
    records = access_reads(session, customer_id=customer_id, user_id=user_id) \
        if customer_id is not None or user_id is not None else []
    return render(request, "workbench/access_reads.html", user, records=records, customer_id=customer_id,
                  user_id=user_id, RELATIONSHIP_LABELS=RELATIONSHIP_LABELS, ROLE_LABELS=ROLE_LABELS,
                  read_label=read_label)
