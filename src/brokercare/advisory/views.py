"""The advisory API: questionnaire, suitability, models, rebalancing advice, goals, packages."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from brokercare.advisory import (
    catalogue,
    goals,
    packages,
    portfolios,
    questionnaire,
    service,
    suitability,
)
from brokercare.advisory.schemas import (
    AssessmentIn,
    CheckIn,
    ConfirmationIn,
    DriftIn,
    GoalCreate,
    GoalIn,
    GoalReview,
    ProfessionalIn,
)
from brokercare.core.database import get_session
from brokercare.core.errors import NotFound
from brokercare.market.service import get_instrument
from brokercare.security.access import ReadLog, Reads, customer_reader
from brokercare.security.policy import Principal, current_user

router = APIRouter(prefix="/advisory", tags=["advisory"])


def _level(session: Session, customer_id: int) -> str:
    return service.customer_level(session, customer_id)


@router.get("/questionnaire")
def get_questionnaire(user: Principal = Depends(current_user)) -> dict:
    cfg = questionnaire.config()
    return {"version": cfg["version"], "validity_months": cfg["validity_months"],
            "questions": [{"id": q["id"], "text": q["text"],
                           "options": [{"key": o["key"], "text": o["text"]} for o in q["options"]]}
                          for q in cfg["questions"]]}


@router.post("/customers/{customer_id}/risk-assessments")
def submit_assessment(customer_id: int, body: AssessmentIn, reads: Reads,
                      session: Session = Depends(get_session)) -> dict:
    channel = reads.act(customer_id, "risk_assessment.submit")
    result = questionnaire.assess(session, customer_id, body.answers, round_=body.round, channel=channel)
    reads.flush(commit=False)  # the act and its ledger entry in one transaction
    session.commit()
    out = result.to_dict()
    if result.status == "complete":
        out["valid_until"] = questionnaire.valid_until(suitability.local_today()).isoformat()
    return out


@router.get("/customers/{customer_id}/risk-assessment")
def assessment_status(customer_id: int, _: ReadLog = Depends(customer_reader("risk_assessment")),
                      session: Session = Depends(get_session)) -> dict:
    v = questionnaire.validity(session, customer_id)
    return {"level": v.level, "status": v.status, "message": v.message,
            "assessed_on": v.assessed_on.isoformat() if v.assessed_on else None,
            "valid_until": v.valid_until.isoformat() if v.valid_until else None}


@router.post("/suitability/check")
def suitability_check(body: CheckIn, user: Principal = Depends(current_user)) -> dict:
    return suitability.check(body.investor, body.product_risk).to_dict()


def _product_risk(session: Session, product: str) -> tuple[str, str]:
    """The product's rating: the advisory shelf first, then the market's instrument master."""
    try:
        item = catalogue.get(product)
        return item["symbol"], item["risk"]
    except NotFound:
        try:
            inst = get_instrument(session, product)
        except NotFound:
            inst = None
        if inst is None or not inst.risk_rating:
            raise NotFound(f"找不到产品 {product} 或它的风险等级。") from None
        return inst.symbol, inst.risk_rating


@router.get("/customers/{customer_id}/suitability")
def customer_suitability(customer_id: int, product: str = Query(..., max_length=32),
                         _: ReadLog = Depends(customer_reader("suitability")),
                         session: Session = Depends(get_session)) -> dict:
    symbol, risk = _product_risk(session, product)
    return {"product": symbol, **suitability.check_customer(session, customer_id, risk).to_dict()}


@router.post("/customers/{customer_id}/suitability/confirmations", status_code=201)
def confirm(customer_id: int, body: ConfirmationIn, reads: Reads,
            session: Session = Depends(get_session)) -> dict:
    channel = reads.act(customer_id, "suitability.confirm")
    symbol, risk = _product_risk(session, body.product)
    decision = suitability.check_customer(session, customer_id, risk)  # never trust a client's decision
    row = suitability.record_confirmation(session, customer_id, symbol, decision, channel=channel)
    reads.flush(commit=False)  # the act and its ledger entry in one transaction
    session.commit()
    return {"id": row.id, "product": symbol, "product_risk": risk, "decision": row.decision,
            "confirmed_at": row.confirmed_at.isoformat(), "ledger_entry_id": row.ledger_entry_id}


@router.get("/models")
def models(user: Principal = Depends(current_user)) -> dict:
    current = portfolios.current_models()
    out: dict = {lv: {k: round(v, 4) for k, v in m.weights.items()} for lv, m in current.items()}
    out["regime"] = next(iter(current.values())).regime.to_dict()
    return out


@router.get("/products")
def products(investor: str = Query(..., examples=["C3"]), user: Principal = Depends(current_user)) -> list[dict]:
    return catalogue.shelf_for(investor)


@router.get("/customers/{customer_id}/rebalance")
def rebalance(customer_id: int, _: ReadLog = Depends(customer_reader("rebalance")),
              session: Session = Depends(get_session)) -> dict:
    return service.rebalance_advice(session, customer_id).to_dict()


@router.post("/goals/projection")
def goal_projection(body: GoalIn, reads: Reads, session: Session = Depends(get_session)) -> dict:
    reads.allow(body.customer_id, "goal_projection")
    level = _level(session, body.customer_id)
    goal = goals.Goal(body.kind, body.target_amount, body.years, body.initial, body.monthly, level)
    return goals.project(goal).to_dict()


@router.post("/customers/{customer_id}/goals", status_code=201)
def create_goal(customer_id: int, body: GoalCreate, reads: Reads,
                session: Session = Depends(get_session)) -> dict:
    reads.act(customer_id, "goal.create")
    row, projection = service.set_goal(session, customer_id, kind=body.kind, target_amount=body.target_amount,
                                       target_date=body.target_date, current_value=body.current_value,
                                       monthly=body.monthly, name=body.name)
    reads.flush(commit=False)  # the act and its ledger entry in one transaction
    session.commit()
    return {"id": row.id, **projection.to_dict()}


@router.get("/customers/{customer_id}/goals")
def list_goals(customer_id: int, _: ReadLog = Depends(customer_reader("goals")),
               session: Session = Depends(get_session)) -> list[dict]:
    return [{"id": g.id, "kind": g.kind, "name": g.name, "target_amount": str(g.target_amount),
             "target_date": g.target_date.isoformat(), "current_value": str(g.current_value),
             "monthly_contribution": str(g.monthly_contribution), "status": g.status,
             "probability": g.probability, "on_track": g.on_track,
             "reviewed_at": g.reviewed_at.isoformat() if g.reviewed_at else None}
            for g in service.goals_of(session, customer_id)]


@router.post("/goals/{goal_id}/review")
def review_goal(goal_id: int, body: GoalReview, reads: Reads,
                session: Session = Depends(get_session)) -> dict:
    reads.act(service.get_goal(session, goal_id).customer_id, f"goal.review:{goal_id}")
    row, projection = service.review_goal(session, goal_id, current_value=body.current_value, monthly=body.monthly)
    reads.flush(commit=False)  # the act and its ledger entry in one transaction
    session.commit()
    return {"id": row.id, "status": row.status, "probability": row.probability, "on_track": row.on_track,
            "projection": projection.to_dict() if projection else None}


@router.post("/professional-assessment")
def professional(body: ProfessionalIn, user: Principal = Depends(current_user)) -> dict:
    result = suitability.assess_professional(financial_assets=body.financial_assets,
                                             avg_income_3y=body.avg_income_3y,
                                             experience_years=body.experience_years)
    return dict(result.__dict__)


@router.get("/packages")
def list_packages(user: Principal = Depends(current_user)) -> list[dict]:
    return [{"key": k, "name": p["name"], "kind": p["kind"]} for k, p in packages.config().items()]


@router.get("/packages/{key}/plan")
def package_plan(key: str, customer_id: int, reads: Reads, years_left: float | None = Query(None, gt=0, le=40),
                 session: Session = Depends(get_session)) -> dict:
    reads.allow(customer_id, f"package_plan:{key}")
    return packages.plan(key, _level(session, customer_id), years_left=years_left).to_dict()


@router.post("/packages/{key}/drift")
def package_drift(key: str, body: DriftIn, reads: Reads, session: Session = Depends(get_session)) -> dict:
    reads.allow(body.customer_id, f"package_drift:{key}")
    plan = packages.plan(key, _level(session, body.customer_id), years_left=body.years_left)
    return packages.monitor(plan, body.holdings).to_dict()


@router.get("/customers/{customer_id}/packages/{key}/drift")
def package_drift_from_positions(customer_id: int, key: str, years_left: float | None = Query(None, gt=0, le=40),
                                 _: ReadLog = Depends(customer_reader("package_drift")),
                                 session: Session = Depends(get_session)) -> dict:
    _plan, report = service.package_drift(session, customer_id, key, years_left=years_left)
    return report.to_dict()
