"""The knowledge owner's page of FAQ gaps (seed 3.1, the desk teaches the assistant): the questions
customers were handed off with because the knowledge base had no answer, grouped by meaning, the
most asked first — what to write the next FAQ entries for. The same function as the
``GET /api/v1/assistant/faq-gaps`` endpoint and ``brokercare kb gaps``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from brokercare.assistant import service as assistant
from brokercare.core.database import get_session
from brokercare.security.policy import Principal
from brokercare.web.sessions import staff_user

router = APIRouter(prefix="/workbench", include_in_schema=False)
#: The look-back windows offered on the page, in days.
WINDOWS = (7, 30, 90)


@router.get("/faq-gaps", response_class=HTMLResponse)
def faq_gaps_page(request: Request, days: int = Query(30, ge=1, le=365), user: Principal = Depends(staff_user),
                  session: Session = Depends(get_session)) -> HTMLResponse:
    from brokercare.web.workbench import render

    if user.role not in assistant.KNOWLEDGE_OWNERS:
        raise HTTPException(status_code=403, detail="知识库缺口供团队主管和系统管理员查看。")
    gaps = assistant.faq_gaps(session, days=days, limit=50)
    return render(request, "workbench/faq_gaps.html", user, gaps=gaps, days=days, windows=WINDOWS,
                  asked_total=sum(g.asked for g in gaps))
