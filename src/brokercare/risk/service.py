"""Account risk control, as other domains and the API call it: score an event and decide (allow,
second factor, hold, freeze), tell the customer why, keep the evidence, ledger the decision.

Integration points (called by lower domains through a thin hook or their events, never imported
by them — see ``docs/risk.md``):

* :func:`assess_login` / :func:`assess_login_failure` — inside the login request (security);
* :func:`assess_transfer_out` — before a 银证转账 out leaves (accounts); a ``hold`` keeps it
  until the risk desk releases it (``risk.hold_released`` on the bus);
* :func:`assess_password_change`, :func:`assess_device_change`, :func:`assess_order`;
* :func:`ensure_may_transfer_out` — a frozen customer's transfer is refused with the reason;
* :func:`customer_status` — what a (frozen) customer reads after logging in;
* :func:`on_event` — the same assessments fed from the bus (``login.succeeded``, …).

Functions flush; the caller commits (the login request commits its own work with the decision).
"""

from __future__ import annotations

import copy
import math
from datetime import datetime
from decimal import Decimal

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.core.amounts import format_amount
from brokercare.core.bus import Event
from brokercare.core.database import session_scope, utcnow
from brokercare.core.errors import PermissionDenied
from brokercare.core.service import mark_processed
from brokercare.ledger.service import append as ledger_append
from brokercare.risk import baseline, scoring
from brokercare.risk.models import RiskBaseline, RiskCase, RiskEvent, RiskMeasure
from brokercare.risk.places import Place, locate
from brokercare.risk.rules import ACTIONS, SIGNALS, Rules, default_rules
from brokercare.risk.schemas import Assessment, MeasureOut, Reason, RiskEventIn, RiskStatus
from brokercare.risk.stepup import set_sms_sender as set_sms_sender
from brokercare.security.service import blind_index

#: Signals that put the event in front of the risk desk even when a second factor suffices.
DESK_SIGNALS = frozenset({"credential_stuffing", "impossible_travel", "order_burst", "exchange_high_frequency"})
#: Bus events the risk domain reacts to, and the event type each becomes.
BUS_TYPES = {
    "login.succeeded": "login", "login.failed": "login_failed", "password.changed": "password_change",
    "device.changed": "device_change", "transfer.requested": "transfer_out", "order.placed": "order",
}
_EVIDENCE = ("travel_km", "travel_hours", "hour_share_own", "prior_logins", "ip_accounts",
             "ip_failed_accounts", "device_accounts", "recent_failures", "amount_z", "hours_since_change",
             "orders_window", "orders_prior_max", "orders_second", "orders_day")


def _baseline(session: Session, customer_id: int | None) -> tuple[RiskBaseline | None, dict]:
    if customer_id is None:
        return None, {}
    row = session.scalars(
        select(RiskBaseline).where(RiskBaseline.customer_id == customer_id).with_for_update()
    ).first()
    if row is None:
        row = RiskBaseline(customer_id=customer_id, state={})
        session.add(row)
    return row, copy.deepcopy(row.state or {})  # a new object, so the update is seen


def active_freeze(session: Session, customer_id: int) -> RiskMeasure | None:
    return session.scalars(
        select(RiskMeasure).where(RiskMeasure.customer_id == customer_id, RiskMeasure.kind == "freeze",
                                  RiskMeasure.status == "active").order_by(RiskMeasure.id.desc())
    ).first()


def _context(state: dict, place: Place) -> dict[str, str]:
    amounts = state.get("amounts") or []
    return {
        "place": place.label,
        "previous_place": (state.get("last_verified") or {}).get("place", "未知地区"),
        "median_amount": format_amount(math.exp(float(np.median(amounts)))) if amounts else "（无历史记录）",
    }


def _evidence(f: dict[str, np.ndarray]) -> dict:
    out = {}
    for name in _EVIDENCE:
        v = f[name][0].item()
        if isinstance(v, float) and not math.isfinite(v):
            continue
        if v:
            out[name] = round(v, 3) if isinstance(v, float) else v
    return out


def _case(session: Session, *, subject: str, customer_id: int | None, kind: str, score: int,
          summary: str, at: datetime) -> RiskCase:
    """The open case of ``subject``, or a new one; its priority is the highest score seen."""
    case = session.scalars(
        select(RiskCase).where(RiskCase.subject == subject, RiskCase.status == "open")
    ).first()
    if case is None:
        case = RiskCase(subject=subject, customer_id=customer_id, kind=kind, status="open",
                        priority=score, summary=summary[:400], opened_at=at, updated_at=at)
        session.add(case)
        session.flush()
    else:
        case.priority = max(case.priority, score)
        case.updated_at = max(case.updated_at, at)
    return case


def _decide(e: RiskEventIn, scored: scoring.Scored, frozen: bool) -> tuple[str, list[str]]:
    action = ACTIONS[int(scored.action[0])]
    raised = [s for s, on in zip(SIGNALS, scored.signals[0], strict=True) if on]
    if frozen and e.type in ("transfer_out", "order"):
        action = "freeze"
    return action, raised


def _measure(session: Session, e: RiskEventIn, row: RiskEvent, action: str, message: str,
             frozen: RiskMeasure | None) -> RiskMeasure | None:
    if action == "allow" or e.customer_id is None or e.type == "login_failed":
        return None
    if action == "freeze" and frozen is not None:
        return frozen
    measure = RiskMeasure(
        customer_id=e.customer_id, event_id=row.id, case_id=row.case_id, kind=action,
        status="pending" if action == "step_up" else "active", message=message,
        amount=e.amount if e.type == "transfer_out" else None, created_at=e.occurred_at,
    )
    session.add(measure)
    session.flush()
    return measure


def assess(session: Session, e: RiskEventIn, *, rules: Rules | None = None) -> Assessment:
    """Score one event against its customer's baseline and decide; idempotent by ``event_id``."""
    rules = rules or default_rules()
    seen = session.scalars(select(RiskEvent).where(RiskEvent.event_id == e.event_id)).first()
    if seen is not None:
        return _assessment(session, seen, duplicate=True)
    place = locate(e.ip)
    row_state, state = _baseline(session, e.customer_id)
    frozen = active_freeze(session, e.customer_id) if e.customer_id is not None else None
    with session.no_autoflush:  # the new baseline row is written with the event, not before the counts
        f = baseline.features(session, e, place, state, rules)
    scored = scoring.score(f, rules)
    action, raised = _decide(e, scored, frozen is not None)
    values = {k: v[0].item() for k, v in f.items()}
    reasons = scoring.reason_texts(raised, values, _context(state, place))
    if frozen is not None and action == "freeze" and e.type in ("transfer_out", "order"):
        reasons.append({"code": "account_frozen", "text": "账户处于冻结状态，暂停转出和交易"})
    message = scoring.customer_message(action, e.type, reasons, float(e.amount) if e.amount else None)
    row = RiskEvent(
        event_id=e.event_id, type=e.type, occurred_at=e.occurred_at, customer_id=e.customer_id,
        ip=e.ip, device_id=e.device_id, place=place.label if place.known else None, channel=e.channel,
        amount=e.amount, card=e.card, symbol=e.symbol, side=e.side, quantity=e.quantity,
        score=int(scored.score[0]), action=action, signals=raised, reasons=reasons,
        evidence=_evidence(f), rules_version=rules.version,
    )
    if action in ("hold", "freeze") or DESK_SIGNALS & set(raised):
        stuffing = "credential_stuffing" in raised and e.ip
        subject = f"ip:{e.ip}" if stuffing or e.customer_id is None else f"customer:{e.customer_id}"
        kind = next((s for s in raised if s in DESK_SIGNALS), raised[0] if raised else action)
        summary = "；".join(r["text"] for r in reasons) or message
        row.case_id = _case(session, subject=subject, customer_id=None if stuffing else e.customer_id,
                            kind=kind, score=row.score, summary=summary, at=e.occurred_at).id
    session.add(row)
    session.flush()
    measure = _measure(session, e, row, action, message, frozen)
    if row_state is not None:
        row_state.state = baseline.update(state, e, place, f, action, rules)
        row_state.updated_at = utcnow()
    entry = ledger_append(session, "risk.decided", f"customer:{e.customer_id}" if e.customer_id else "risk:anonymous", {
        "event_id": e.event_id, "type": e.type, "customer_id": e.customer_id, "action": action,
        "score": row.score, "signals": raised, "rules_version": rules.version,
        "ip_hash": blind_index(e.ip) if e.ip else None, "measure_id": measure.id if measure else None,
    })
    row.ledger_index = entry.index
    session.flush()
    return _assessment(session, row, measure=measure, message=message)


def _assessment(session: Session, row: RiskEvent, *, measure: RiskMeasure | None = None,
                message: str | None = None, duplicate: bool = False) -> Assessment:
    if measure is None and row.action != "allow":
        measure = session.scalars(select(RiskMeasure).where(RiskMeasure.event_id == row.id)).first()
    if message is None:
        message = measure.message if measure is not None else ""
    return Assessment(
        event_id=row.event_id, customer_id=row.customer_id, action=row.action, score=row.score,
        reasons=[Reason(**r) for r in row.reasons], message=message,
        measure_id=measure.id if measure else None, case_id=row.case_id, place=row.place,
        duplicate=duplicate,
    )


def assess_login(session: Session, *, customer_id: int, ip: str | None, device_id: str | None,
                 at: datetime | None = None, channel: str = "app", event_id: str | None = None) -> Assessment:
    """The login-time decision: ``step_up`` means no session until the second factor passes."""
    return assess(session, _event("login", customer_id, at, event_id, ip=ip, device_id=device_id, channel=channel))


def assess_login_failure(session: Session, *, customer_id: int | None, ip: str | None,
                         device_id: str | None, at: datetime | None = None, event_id: str | None = None) -> Assessment:
    """A wrong password (``customer_id`` None for an unknown username): feeds the stuffing count."""
    return assess(session, _event("login_failed", customer_id, at, event_id, ip=ip, device_id=device_id))


def assess_transfer_out(session: Session, *, customer_id: int, amount: Decimal, card_token: str | None,
                        ip: str | None = None, device_id: str | None = None, at: datetime | None = None,
                        event_id: str | None = None) -> Assessment:
    """Before money leaves: ``hold`` keeps it for the risk desk; ``freeze`` refuses it."""
    return assess(session, _event("transfer_out", customer_id, at, event_id, ip=ip, device_id=device_id,
                                  amount=amount, card=card_token))


def assess_password_change(session: Session, *, customer_id: int, ip: str | None, device_id: str | None,
                           at: datetime | None = None, event_id: str | None = None) -> Assessment:
    return assess(session, _event("password_change", customer_id, at, event_id, ip=ip, device_id=device_id))


def assess_device_change(session: Session, *, customer_id: int, ip: str | None, new_device_id: str,
                         at: datetime | None = None, event_id: str | None = None) -> Assessment:
    return assess(session, _event("device_change", customer_id, at, event_id, ip=ip, device_id=new_device_id))


def assess_order(session: Session, *, customer_id: int, symbol: str, side: str, quantity: int,
                 ip: str | None = None, device_id: str | None = None, at: datetime | None = None,
                 event_id: str | None = None) -> Assessment:
    return assess(session, _event("order", customer_id, at, event_id, ip=ip, device_id=device_id,
                                  symbol=symbol, side=side, quantity=quantity))


def _event(kind: str, customer_id: int | None, at: datetime | None, event_id: str | None, **values) -> RiskEventIn:  # noqa: ANN003
    fields = {"type": kind, "customer_id": customer_id, "occurred_at": at or utcnow(), **values}
    if event_id:
        fields["event_id"] = event_id
    return RiskEventIn(**fields)


def measure_out(m: RiskMeasure) -> MeasureOut:
    return MeasureOut(id=m.id, customer_id=m.customer_id, kind=m.kind, status=m.status, message=m.message,
                      amount=m.amount, created_at=m.created_at, resolved_at=m.resolved_at,
                      resolved_by=m.resolved_by, resolution=m.resolution, case_id=m.case_id)


def customer_status(session: Session, customer_id: int) -> RiskStatus:
    """What the customer may do now and why not — readable by a frozen customer after login."""
    measures = list(session.scalars(
        select(RiskMeasure).where(RiskMeasure.customer_id == customer_id, RiskMeasure.kind != "step_up",
                                  RiskMeasure.status == "active").order_by(RiskMeasure.id)
    ))
    frozen = next((m for m in measures if m.kind == "freeze"), None)
    holds = [m for m in measures if m.kind == "hold"]
    if frozen is not None:
        message = frozen.message
    elif holds:
        message = f"您有{len(holds)}笔银证转出正在等待风控复核：" + holds[-1].message
    else:
        message = "您的账户状态正常。"
    return RiskStatus(customer_id=customer_id, frozen=frozen is not None, may_transfer_out=frozen is None,
                      may_trade=frozen is None, message=message, measures=[measure_out(m) for m in measures])


def ensure_may_transfer_out(session: Session, customer_id: int) -> None:
    """Raise :class:`PermissionDenied` with the reason when the customer's account is frozen."""
    frozen = active_freeze(session, customer_id)
    if frozen is not None:
        raise PermissionDenied(frozen.message, extra={"measure_id": frozen.id})


def on_event(event: Event, *, consumer: str = "risk") -> Assessment | None:
    """Assess an event from the bus (payload in the ``RiskEventIn`` shape), exactly once."""
    kind = BUS_TYPES.get(event.type)
    if kind is None:
        return None
    payload = {"event_id": event.id, "occurred_at": event.occurred_at, "customer_id": event.customer_id,
               **event.payload, "type": kind}
    with session_scope() as session:
        if not mark_processed(session, consumer, event.id):
            return None
        return assess(session, RiskEventIn.model_validate(payload))
