"""Assistant API: analyse a message; reply to a customer (reply, sources, guard verdict, hand-off);
the FAQ gaps the desk's unanswered hand-offs show, for whoever writes the knowledge base."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from brokercare.assistant import schemas, service
from brokercare.assistant.guard import inspect_request
from brokercare.assistant.kb import get_matcher
from brokercare.core.database import get_session
from brokercare.core.errors import PermissionDenied, ValidationFailed
from brokercare.core.settings import get_settings
from brokercare.security.access import Reads
from brokercare.security.policy import STAFF_ROLES, CurrentUser, Principal, require_roles

router = APIRouter(prefix="/assistant", tags=["assistant"])


def startup() -> None:
    """Load the intent and emotion models, the lexicon, the knowledge base's matcher and the guard's
    attempt classifier before the server takes traffic, so no customer's first message waits."""
    if not get_settings().warm_up:
        return
    service.analyze("你好，银证转账几点截止？")
    get_matcher()
    inspect_request("你好，银证转账几点截止？")


@router.post("/analyze", response_model=schemas.AnalyzeResponse,
             summary="Intent (top-3 with confidence), emotion and intensity, entities of one message")
def analyze(body: schemas.AnalyzeRequest, _: CurrentUser) -> dict:
    return service.analyze(body.text).as_dict()


@router.post("/reply", response_model=schemas.ReplyResponse,
             summary="Answer a customer: reply text, sources, compliance verdict, hand-off advice")
def reply(body: schemas.ReplyRequest, user: CurrentUser, reads: Reads,
          session: Session = Depends(get_session)) -> dict:
    """Staff get an answer about a customer only while a relationship with them holds (the reply
    reads the customer's holdings, balances and margin through the assistant's tools): the read is
    ledgered with what the tools looked at, and staff never move the customer's money this way."""
    if user.role == "customer":
        if user.customer_id is None:
            raise PermissionDenied("当前登录账号没有关联客户，无法查询")
        if body.customer_id not in (None, user.customer_id):
            raise PermissionDenied("只能查询您本人的账户信息")
        customer_id = user.customer_id
    elif user.role in STAFF_ROLES:
        if body.customer_id is None:
            raise ValidationFailed("customer_id is required when staff ask on a customer's behalf")
        grant = reads.allow(body.customer_id)
        answer = service.reply(session, body.customer_id, body.text, channel=body.channel, on_behalf=True)
        for source in answer.sources:
            if source.get("type") == "tool":
                reads.note(grant, f"assistant:{source['name']}")
        return answer.as_dict()
    else:
        raise PermissionDenied("无权使用智能助手回复")
    return service.reply(session, customer_id, body.text, channel=body.channel).as_dict()


@router.get("/faq-gaps", summary="Questions the knowledge base could not answer, grouped by meaning, most asked first")
def faq_gaps(days: int = Query(30, ge=1, le=365), limit: int = Query(20, ge=1, le=200),
             _user: Principal = Depends(require_roles(*service.KNOWLEDGE_OWNERS)),
             session: Session = Depends(get_session)) -> dict:
    """Each gap: the representative question (what to write an FAQ entry for), how many hand-offs
    asked it, up to five distinct wordings, first and last time asked. Texts are the stored ones,
    with personal numbers already masked."""
    return {"days": days, "gaps": [g.as_dict() for g in service.faq_gaps(session, days=days, limit=limit)]}
