"""The risk API: the risk desk's case queue and decisions (role ``risk``), a customer's own risk
status and second factor, and event scoring for trusted systems."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from brokercare.core.bus import get_bus
from brokercare.core.database import get_session
from brokercare.core.errors import PermissionDenied
from brokercare.risk import cases, service, stepup
from brokercare.risk.schemas import (
    Assessment,
    CaseClosing,
    CaseDetail,
    CaseOut,
    DeskDecision,
    MeasureOut,
    RiskEventIn,
    RiskStatus,
    StepUpAnswer,
    StepUpOut,
    StepUpResult,
    StepUpStart,
)
from brokercare.security.policy import CurrentUser, Principal, require_roles

router = APIRouter(prefix="/risk", tags=["risk"])
desk = require_roles("risk")


def startup() -> None:
    """React to the lower domains' events (login, password and device changes, transfers, orders)."""
    bus = get_bus()
    for name in service.BUS_TYPES:
        bus.subscribe(name, service.on_event, group="risk")


@router.get("/cases", response_model=list[CaseOut], summary="The risk desk's queue, highest risk first")
def queue(status: str = "open", limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0),
          session: Session = Depends(get_session), _: Principal = Depends(desk)) -> list[CaseOut]:
    return cases.queue(session, status=status, limit=limit, offset=offset)


@router.get("/cases/{case_id}", response_model=CaseDetail, summary="A case with its evidence timeline")
def case(case_id: int, session: Session = Depends(get_session), _: Principal = Depends(desk)) -> CaseDetail:
    return cases.case_detail(session, case_id)


@router.post("/cases/{case_id}/notes", response_model=CaseDetail, summary="Add a note to a case")
def note(case_id: int, body: DeskDecision, session: Session = Depends(get_session),
         user: Principal = Depends(desk)) -> CaseDetail:
    cases.add_note(session, case_id, actor_id=user.id, text=body.reason)
    session.commit()
    return cases.case_detail(session, case_id)


@router.post("/cases/{case_id}/close", response_model=CaseOut, summary="Close a case with its outcome")
def close(case_id: int, body: CaseClosing, session: Session = Depends(get_session),
          user: Principal = Depends(desk)) -> CaseOut:
    closed = cases.close_case(session, case_id, actor_id=user.id, outcome=body.outcome, reason=body.reason)
    session.commit()
    return cases.case_out(closed)


def _decided(session: Session, measure, event: str) -> MeasureOut:  # a RiskMeasure
    session.commit()
    cases.publish(event, measure)
    return service.measure_out(measure)


@router.post("/holds/{measure_id}/release", response_model=MeasureOut, summary="Let a held transfer go")
def release(measure_id: int, body: DeskDecision, session: Session = Depends(get_session),
            user: Principal = Depends(desk)) -> MeasureOut:
    measure = cases.release_hold(session, measure_id, actor_id=user.id, reason=body.reason)
    return _decided(session, measure, "risk.hold_released")


@router.post("/holds/{measure_id}/reject", response_model=MeasureOut, summary="Stop a held transfer")
def reject(measure_id: int, body: DeskDecision, session: Session = Depends(get_session),
           user: Principal = Depends(desk)) -> MeasureOut:
    measure = cases.reject_hold(session, measure_id, actor_id=user.id, reason=body.reason)
    return _decided(session, measure, "risk.hold_rejected")


@router.post("/freezes/{measure_id}/lift", response_model=MeasureOut, summary="Lift a freeze")
def lift(measure_id: int, body: DeskDecision, session: Session = Depends(get_session),
         user: Principal = Depends(desk)) -> MeasureOut:
    measure = cases.lift_freeze(session, measure_id, actor_id=user.id, reason=body.reason)
    return _decided(session, measure, "risk.freeze_lifted")


@router.post("/customers/{customer_id}/freeze", response_model=MeasureOut, status_code=201,
             summary="Freeze a customer's transfers and trading by hand")
def freeze(customer_id: int, body: DeskDecision, session: Session = Depends(get_session),
           user: Principal = Depends(desk)) -> MeasureOut:
    measure = cases.freeze(session, customer_id, actor_id=user.id, reason=body.reason)
    return _decided(session, measure, "risk.frozen")


@router.post("/events", response_model=Assessment, summary="Score one event (trusted systems, the desk's replay)")
def assess(body: RiskEventIn, session: Session = Depends(get_session), _: Principal = Depends(desk)) -> Assessment:
    result = service.assess(session, body)
    session.commit()
    return result


def _own(user: CurrentUser, customer_id: int) -> None:
    if user.role == "customer" and user.customer_id != customer_id:
        raise PermissionDenied("您只能查看本人的信息。")
    if user.role not in ("customer", "risk", "compliance", "customer_manager"):
        raise PermissionDenied(f"role {user.role!r} may not read risk measures")


@router.get("/customers/{customer_id}/status", response_model=RiskStatus,
            summary="What the customer may do now and why not (the customer, or staff)")
def status(customer_id: int, user: CurrentUser, session: Session = Depends(get_session)) -> RiskStatus:
    _own(user, customer_id)
    return service.customer_status(session, customer_id)


@router.post("/step-ups/{measure_id}/challenge", response_model=StepUpOut, summary="Ask for a second factor")
def challenge(measure_id: int, body: StepUpStart, user: CurrentUser,
              session: Session = Depends(get_session)) -> StepUpOut:
    if user.role != "customer" or user.customer_id is None:
        raise PermissionDenied("只有客户本人可以完成二次验证。")
    out = stepup.start(session, measure_id=measure_id, customer_id=user.customer_id, method=body.method)
    session.commit()
    return out


@router.post("/step-ups/challenges/{challenge_id}", response_model=StepUpResult, summary="Answer a second factor")
def answer(challenge_id: int, body: StepUpAnswer, user: CurrentUser,
           session: Session = Depends(get_session)) -> StepUpResult:
    if user.role != "customer" or user.customer_id is None:
        raise PermissionDenied("只有客户本人可以完成二次验证。")
    try:
        result = stepup.verify(session, challenge_id=challenge_id, customer_id=user.customer_id, code=body.code)
    finally:
        session.commit()  # attempts count even when the answer is refused
    return result
