"""The outbox API for staff: every outbound message's state, the depth per channel, retries, and
customers' quiet hours.

Message bodies are class-3 data (holdings, replies). A body to a customer is shown only to staff
with a relationship to that customer (security.access; the read is ledgered), a body to staff to
roles cleared for class 3; everyone else (operators watching delivery, administrators) sees states,
errors and masked addresses without them.
"""

from __future__ import annotations

import uuid
from datetime import time, timedelta

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy.orm import Session

from brokercare.core.database import get_session, utcnow
from brokercare.core.errors import PermissionDenied
from brokercare.outbox import embedded, service
from brokercare.outbox.schemas import ChannelSummary, MessageView, QuietHoursView, ReceiptIn
from brokercare.risk import service as risk_service
from brokercare.security.access import ReadLog, Reads, customer_reader
from brokercare.security.policy import (
    STAFF_ROLES,
    Principal,
    current_user,
    require_roles,
    visibility,
)

router = APIRouter(prefix="/outbox", tags=["outbox"])
staff = require_roles(*STAFF_ROLES)
operators = require_roles("admin", "team_lead")


def _shows_body(user: Principal) -> bool:
    return visibility(user.role, 3) == "full"


def _bodies_by_relationship(views: list[MessageView], reads: ReadLog) -> list[MessageView]:
    """Each message's body where the caller may read it: a customer's only under a relationship
    with that customer (noted for the ledger), a staff member's by clearance."""
    out = []
    for view in views:
        if view.customer_id is None:
            readable = _shows_body(reads.user)
        elif (grant := reads.may(view.customer_id)) is not None:
            reads.note(grant, f"outbox:{view.id}")
            readable = True
        else:
            readable = False
        out.append(view if readable or view.body is None else view.model_copy(update={"body": None}))
    return out


@router.get("/messages", response_model=list[MessageView], summary="Outbound messages, newest first")
def list_messages(
    reads: Reads,
    state: str | None = Query(None, description="pending, sending, sent, failed or dead"),
    channel: str | None = Query(None, description="app, sms, wechat or email"),
    origin: str | None = Query(None, description="The domain that wrote it, e.g. service"),
    origin_ref: str | None = Query(None, description="What it belongs to, e.g. message:812"),
    customer_id: int | None = Query(None),
    before_id: int | None = Query(None, description="Page on: the last id of the previous page"),
    limit: int = Query(50, ge=1, le=500),
    session: Session = Depends(get_session),
    _: Principal = Depends(staff),
) -> list[MessageView]:
    return _bodies_by_relationship(service.list_messages(
        session, state=state, channel=channel, origin=origin, origin_ref=origin_ref,
        customer_id=customer_id, before_id=before_id, limit=limit), reads)


@router.get("/messages/{message_id}", response_model=MessageView)
def get_message(message_id: int, reads: Reads, session: Session = Depends(get_session),
                _: Principal = Depends(staff)) -> MessageView:
    return _bodies_by_relationship([service.get_message(session, message_id)], reads)[0]


@router.post("/messages/{message_id}/retry", response_model=MessageView,
             summary="Send a failed or dead message again (from its first try)")
def retry(message_id: int, reads: Reads, session: Session = Depends(get_session),
          _: Principal = Depends(operators)) -> MessageView:
    service.retry(session, message_id)
    session.commit()
    return _bodies_by_relationship([service.get_message(session, message_id)], reads)[0]


@router.get("/summary", response_model=list[ChannelSummary],
            summary="Per channel: configured or not, messages waiting, failing, dead")
def summary(session: Session = Depends(get_session), _: Principal = Depends(staff)) -> list[ChannelSummary]:
    return service.summary(session)


class QuietHoursIn(BaseModel):
    start: time | None = None  # Beijing time; both None removes the customer's own period
    end: time | None = None


def _may_set(user: Principal, customer_id: int) -> None:
    if user.role == "customer" and user.customer_id == customer_id:
        return
    if user.role in ("customer_manager", "agent", "team_lead"):
        return
    raise PermissionDenied("只有客户本人或服务人员可以设置免打扰时段。")


@router.get("/quiet-hours/{customer_id}", response_model=QuietHoursView)
def get_quiet_hours(customer_id: int, session: Session = Depends(get_session),
                    user: Principal = Depends(current_user)) -> QuietHoursView:
    if user.role == "customer" and user.customer_id != customer_id:
        raise PermissionDenied("您只能查看本人的免打扰时段。")
    return service.quiet_hours_of(session, [customer_id])[customer_id]


@router.put("/quiet-hours/{customer_id}", response_model=QuietHoursView,
            summary="Set a customer's quiet hours (Beijing time; may wrap midnight)")
def set_quiet_hours(customer_id: int, body: QuietHoursIn, session: Session = Depends(get_session),
                    user: Principal = Depends(current_user)) -> QuietHoursView:
    _may_set(user, customer_id)
    view = service.set_quiet_hours(session, customer_id, start=body.start, end=body.end)
    session.commit()
    return view


# --- the customer's message centre (app messages of every domain) -------------------------------

@router.get("/customers/{customer_id}/messages", response_model=list[MessageView],
            summary="A customer's app messages that were delivered, newest first")
def customer_messages(customer_id: int, session: Session = Depends(get_session),
                      user: Principal = Depends(current_user),
                      _: ReadLog = Depends(customer_reader("app_messages"))) -> list[MessageView]:
    """The customer, or staff while a relationship with the customer holds (ledgered)."""
    views = service.inbox(session, customer_id)
    if user.role == "customer" or _shows_body(user):
        return views
    return [v.model_copy(update={"body": None}) for v in views]


@router.post("/customers/{customer_id}/messages/{message_id}/read", response_model=MessageView,
             summary="The customer opened an app message")
def read_message(customer_id: int, message_id: int, session: Session = Depends(get_session),
                 user: Principal = Depends(current_user)) -> MessageView:
    if not (user.role == "customer" and user.customer_id == customer_id):
        raise PermissionDenied("只有客户本人可以标记消息已读。")
    view = service.mark_read(session, message_id, customer_id)
    session.commit()
    return view


@router.post("/receipts", response_model=MessageView,
             summary="A gateway's delivery receipt: the message reached the customer's device")
def delivery_receipt(body: ReceiptIn, session: Session = Depends(get_session),
                     _: Principal = Depends(require_roles("admin"))) -> MessageView:
    view = service.mark_delivered(session, body.provider_message_id)
    session.commit()
    return view


def _send_verification_code(session: Session, customer_id: int, text: str) -> None:
    """A risk step-up's SMS code: urgent (quiet hours do not hold it), never sent after it expired."""
    service.enqueue(session, channel="sms", kind="verification_code", body=text,
                    customer_id=customer_id, urgent=True, origin="risk",
                    idempotency_key=f"risk:code:{uuid.uuid4().hex}",
                    expires_at=utcnow() + timedelta(minutes=5))


def startup() -> None:
    """The embedded dispatcher, when this process is to send (``BROKERCARE_DISPATCHER``); the SMS
    channel for the risk desk's verification codes."""
    risk_service.set_sms_sender(_send_verification_code)
    embedded.start_if_configured()


def shutdown() -> None:
    embedded.stop()
