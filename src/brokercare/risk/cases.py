"""The risk desk: the case queue, each case's evidence timeline, and the desk's decisions —
release or reject a held transfer, lift or impose a freeze, note, close. Every decision needs a
reason, is written to the case and appended to the ledger; the ones another domain must act on
are published on the bus after the caller commits (``risk.hold_released``, ``risk.hold_rejected``,
``risk.freeze_lifted``, ``risk.frozen``)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from brokercare.core.bus import Event, get_bus, register_event_type
from brokercare.core.database import utcnow
from brokercare.core.errors import Conflict, NotFound, ValidationFailed
from brokercare.ledger.service import append as ledger_append
from brokercare.risk.models import RiskCase, RiskCaseNote, RiskEvent, RiskMeasure
from brokercare.risk.schemas import CaseDetail, CaseOut, MeasureOut, TimelineItem
from brokercare.risk.service import measure_out

DESK_EVENTS = ("risk.hold_released", "risk.hold_rejected", "risk.freeze_lifted", "risk.frozen")
for _name in DESK_EVENTS:
    register_event_type(_name)
_ACTIONS = {"allow": "放行", "step_up": "二次验证", "hold": "暂缓转出", "freeze": "冻结"}
_TYPES = {"login": "登录", "login_failed": "登录失败", "password_change": "修改密码", "device_change": "更换设备",
          "transfer_out": "银证转出", "transfer_in": "银证转入", "order": "委托"}
#: Before a case opened, this much of the customer's history joins its timeline as context.
CONTEXT = timedelta(hours=24)


def case_out(c: RiskCase) -> CaseOut:
    return CaseOut(id=c.id, subject=c.subject, customer_id=c.customer_id, kind=c.kind, status=c.status,
                   priority=c.priority, summary=c.summary, assigned_to=c.assigned_to, outcome=c.outcome,
                   opened_at=c.opened_at, updated_at=c.updated_at, closed_at=c.closed_at)


def queue(session: Session, *, status: str = "open", limit: int = 50, offset: int = 0) -> list[CaseOut]:
    """Cases by priority (highest score first), then age."""
    if status not in ("open", "closed"):
        raise ValidationFailed("status is 'open' or 'closed'")
    rows = session.scalars(
        select(RiskCase).where(RiskCase.status == status)
        .order_by(RiskCase.priority.desc(), RiskCase.opened_at).limit(limit).offset(offset)
    )
    return [case_out(c) for c in rows]


def get_case(session: Session, case_id: int) -> RiskCase:
    case = session.get(RiskCase, case_id)
    if case is None:
        raise NotFound(f"risk case {case_id} does not exist")
    return case


def _event_item(e: RiskEvent, in_case: bool) -> TimelineItem:
    what = _TYPES.get(e.type, e.type)
    amount = f"，金额{e.amount}元" if e.amount is not None else ""
    title = f"{what}：{_ACTIONS.get(e.action, e.action)}（风险分{e.score}）" if in_case else f"{what}（此前的正常记录）"
    detail = "；".join(r["text"] for r in e.reasons) or f"地点{e.place or '未知'}，设备{e.device_id or '未知'}{amount}"
    return TimelineItem(at=e.occurred_at, what="event", title=title, detail=detail, data={
        "event_id": e.event_id, "type": e.type, "action": e.action, "score": e.score, "signals": e.signals,
        "ip": e.ip, "device_id": e.device_id, "place": e.place, "amount": str(e.amount) if e.amount else None,
        "evidence": e.evidence, "ledger_index": e.ledger_index, "in_case": in_case})


def timeline(session: Session, case: RiskCase) -> list[TimelineItem]:
    """Everything in time order: the case's events with their evidence, the customer's day before
    it as context, the measures taken and released, and the desk's notes."""
    events = list(session.scalars(select(RiskEvent).where(RiskEvent.case_id == case.id)))
    context: list[RiskEvent] = []
    if case.customer_id is not None:
        context = list(session.scalars(
            select(RiskEvent).where(RiskEvent.customer_id == case.customer_id,
                                    RiskEvent.occurred_at >= case.opened_at - CONTEXT,
                                    or_(RiskEvent.case_id.is_(None), RiskEvent.case_id != case.id))
            .order_by(RiskEvent.occurred_at.desc()).limit(20)))
    items = [_event_item(e, True) for e in events] + [_event_item(e, False) for e in context]
    for m in session.scalars(select(RiskMeasure).where(RiskMeasure.case_id == case.id)):
        items.append(TimelineItem(at=m.created_at, what="measure", title=f"措施：{_ACTIONS.get(m.kind, m.kind)}",
                                  detail=m.message, data={"measure_id": m.id, "status": m.status}))
        if m.resolved_at is not None:
            items.append(TimelineItem(at=m.resolved_at, what="measure", title=f"措施结束：{m.status}",
                                      detail=m.resolution or "", data={"measure_id": m.id, "by": m.resolved_by}))
    for n in session.scalars(select(RiskCaseNote).where(RiskCaseNote.case_id == case.id)):
        items.append(TimelineItem(at=n.created_at, what="note", title=f"风控专员：{n.action}", detail=n.text,
                                  data={"author_id": n.author_id}))
    return sorted(items, key=lambda i: i.at)


def case_detail(session: Session, case_id: int) -> CaseDetail:
    case = get_case(session, case_id)
    open_measures = session.scalars(
        select(RiskMeasure).where(RiskMeasure.case_id == case.id, RiskMeasure.status.in_(("active", "pending"))))
    return CaseDetail(**case_out(case).model_dump(), timeline=timeline(session, case),
                      open_measures=[measure_out(m) for m in open_measures])


def _note(session: Session, case_id: int | None, actor_id: int, action: str, text: str) -> None:
    if case_id is not None:
        session.add(RiskCaseNote(case_id=case_id, author_id=actor_id, action=action, text=text))
        case = session.get(RiskCase, case_id)
        if case is not None:
            case.updated_at = utcnow()


def _resolve(session: Session, measure_id: int, *, kind: str, to: str, actor_id: int, reason: str) -> RiskMeasure:
    measure = session.get(RiskMeasure, measure_id)
    if measure is None or measure.kind != kind:
        raise NotFound(f"no {kind} measure {measure_id}")
    if measure.status != "active":
        raise Conflict(f"measure {measure_id} is already {measure.status}")
    if len(reason.strip()) < 4:
        raise ValidationFailed("a reason of at least 4 characters is required for the record")
    measure.status, measure.resolved_at = to, utcnow()
    measure.resolved_by, measure.resolution = actor_id, reason.strip()
    _note(session, measure.case_id, actor_id, to, reason.strip())
    ledger_append(session, f"risk.{kind}_{to}", f"customer:{measure.customer_id}", {
        "measure_id": measure.id, "customer_id": measure.customer_id, "by_user_id": actor_id,
        "reason": reason.strip(), "amount": measure.amount})
    session.flush()
    return measure


def release_hold(session: Session, measure_id: int, *, actor_id: int, reason: str) -> RiskMeasure:
    """The held transfer may go (the customer confirmed it by phone, say)."""
    return _resolve(session, measure_id, kind="hold", to="released", actor_id=actor_id, reason=reason)


def reject_hold(session: Session, measure_id: int, *, actor_id: int, reason: str) -> RiskMeasure:
    """The held transfer does not go; the money stays in the securities account."""
    return _resolve(session, measure_id, kind="hold", to="rejected", actor_id=actor_id, reason=reason)


def lift_freeze(session: Session, measure_id: int, *, actor_id: int, reason: str) -> RiskMeasure:
    return _resolve(session, measure_id, kind="freeze", to="lifted", actor_id=actor_id, reason=reason)


FREEZE_MESSAGE = ("为保护您的资金安全，风控专员已暂停您账户的转出和交易，登录和查询不受影响。原因：{reason}。"
                  "请在App内完成人脸识别身份核验，或携带本人身份证到营业部申请解除；如有疑问请致电客服。")


def freeze(session: Session, customer_id: int, *, actor_id: int, reason: str, case_id: int | None = None) -> RiskMeasure:
    """The desk freezes an account by hand (e.g. the customer reported a stolen phone)."""
    if len(reason.strip()) < 4:
        raise ValidationFailed("a reason of at least 4 characters is required for the record")
    existing = session.scalars(select(RiskMeasure).where(
        RiskMeasure.customer_id == customer_id, RiskMeasure.kind == "freeze", RiskMeasure.status == "active")).first()
    if existing is not None:
        raise Conflict(f"customer {customer_id} is already frozen (measure {existing.id})")
    measure = RiskMeasure(customer_id=customer_id, kind="freeze", status="active", case_id=case_id,
                          message=FREEZE_MESSAGE.format(reason=reason.strip()), resolved_by=None)
    session.add(measure)
    session.flush()
    _note(session, case_id, actor_id, "freeze", reason.strip())
    ledger_append(session, "risk.frozen", f"customer:{customer_id}", {
        "measure_id": measure.id, "customer_id": customer_id, "by_user_id": actor_id, "reason": reason.strip()})
    return measure


def add_note(session: Session, case_id: int, *, actor_id: int, text: str) -> None:
    get_case(session, case_id)
    if not text.strip():
        raise ValidationFailed("an empty note")
    _note(session, case_id, actor_id, "note", text.strip())
    session.flush()


def close_case(session: Session, case_id: int, *, actor_id: int, outcome: str, reason: str) -> RiskCase:
    """Close a case; a held transfer or a freeze in it must be decided first."""
    case = get_case(session, case_id)
    if case.status != "open":
        raise Conflict(f"case {case_id} is already closed")
    pending = session.scalars(select(RiskMeasure).where(
        RiskMeasure.case_id == case_id, RiskMeasure.kind.in_(("hold", "freeze")), RiskMeasure.status == "active")).all()
    if pending:
        raise Conflict(f"decide the open measures first: {', '.join(f'{m.kind} {m.id}' for m in pending)}")
    case.status, case.outcome, case.closed_at = "closed", outcome, utcnow()
    _note(session, case_id, actor_id, "close", f"{outcome}: {reason.strip()}")
    ledger_append(session, "risk.case_closed", f"risk_case:{case_id}", {
        "case_id": case_id, "customer_id": case.customer_id, "outcome": outcome, "by_user_id": actor_id,
        "reason": reason.strip()})
    session.flush()
    return case


def publish(name: str, measure: RiskMeasure | MeasureOut) -> None:
    """Tell the other domains (after the caller's commit): accounts sends or cancels a held transfer."""
    get_bus().publish(Event(name, {"measure_id": measure.id, "kind": measure.kind, "status": measure.status,
                                   "amount": str(measure.amount) if measure.amount is not None else None},
                            customer_id=measure.customer_id))
