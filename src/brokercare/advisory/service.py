"""Advisory services other domains call: "我该怎么调仓" for one customer, the nightly batch, goals
and packages, and the risk assessments and suitability checks this domain owns.

Other domains read assessments only through :func:`current_assessment` / :func:`current_assessments`
(or the ``risk.assessed`` event); a bulk load of assessments goes through :func:`load_frames`,
which hands the customers domain the latest of each customer loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from brokercare.accounts.service import accounts_of, margin_status, positions_of
from brokercare.advisory import (
    batch,
    catalogue,
    explanations,
    goals,
    packages,
    portfolios,
    questionnaire,
)
from brokercare.advisory import proposals as engine
from brokercare.advisory.loading import risk_assessments_spec as risk_assessments_spec
from brokercare.advisory.models import CustomerGoal, RiskAssessment
from brokercare.advisory.questionnaire import assess as assess
from brokercare.advisory.questionnaire import questions as questions
from brokercare.advisory.questionnaire import validity as validity
from brokercare.advisory.suitability import LEVELS, local_today
from brokercare.advisory.suitability import SuitabilityDecision as SuitabilityDecision
from brokercare.advisory.suitability import check as check
from brokercare.advisory.suitability import check_customer as check_customer
from brokercare.advisory.suitability import current_assessment as current_assessment
from brokercare.advisory.suitability import current_assessments as current_assessments
from brokercare.advisory.suitability import record_confirmation as record_confirmation
from brokercare.core.bulkload import insert_columns
from brokercare.core.database import utcnow
from brokercare.core.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from brokercare.core.settings import get_settings
from brokercare.customers.service import Assessed, get_customer, replace_assessed_risks
from brokercare.market.service import instrument_rows


@dataclass
class RebalanceAdvice:
    customer_id: int
    status: str  # on_target, rebalance, reassess, no_assets, below_minimum
    level: str | None
    text: str  # Chinese, for the customer
    drift: float
    current: dict[str, float]
    target: dict[str, float]
    trades: list[dict] = field(default_factory=list)
    regime: str = "normal"

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def rebalance_advice(session: Session, customer_id: int, *, today: date | None = None) -> RebalanceAdvice:
    """The proposal and its explanation for one customer, computed by the same engine as the batch."""
    get_customer(session, customer_id)
    instruments = instrument_rows(session)
    models = portfolios.current_models()
    ctx = engine.build_context(instruments, portfolios.weight_matrix(models))
    part = batch.partition_from_db(session, ctx, [customer_id], today=today)
    debt = margin_debt(session, customer_id)
    reserved = min(debt, float(part.cash[0]))
    part.cash[0] -= reserved  # the debt is repaid first: only the rest is invested
    result = engine.propose(part, ctx)
    high = next(iter(models.values())).regime.high
    text = explanations.explain(result, 0, part, ctx, explanations.names_of(ctx, instruments), high_volatility=high)
    if debt > 0 and int(result.status[0]) == engine.EMPTY:
        text = explanations.margin_sentence(debt, reserved) + "暂时没有其余资金需要调仓。"
    elif debt > 0:
        first, _, rest = text.partition("\n")
        text = "\n".join(filter(None, [first, explanations.margin_sentence(debt, reserved), rest]))
    names = explanations.names_of(ctx, instruments)
    trades = []
    for i in result.trades_of(customer_id):
        sym = str(ctx.symbols[result.t_inst[i]])
        trades.append({
            "symbol": sym, "name": names.get(sym, sym), "side": "buy" if result.t_side[i] > 0 else "sell",
            "quantity": float(result.t_qty[i]), "amount": float(result.t_amount[i]), "fees": float(result.t_fee[i]),
        })
    level = int(part.level[0])
    return RebalanceAdvice(
        customer_id=customer_id,
        status=engine.STATUS_NAMES[int(result.status[0])],
        level=LEVELS[level] if level >= 0 else None,
        text=text,
        drift=round(float(result.drift[0]), 4),
        current={c: round(float(result.current[0, j]), 4) for j, c in enumerate(ctx.classes)},
        target={c: round(float(result.target[0, j]), 4) for j, c in enumerate(ctx.classes)},
        trades=trades,
        regime="high_volatility" if high else "normal",
    )


def margin_debt(session: Session, customer_id: int) -> float:
    """What the customer owes on their margin accounts (financing, lending, interest), 0 without."""
    owed = 0.0
    for account in accounts_of(session, customer_id):
        if account.kind != "margin" or account.status == "closed":
            continue
        try:
            owed += float(margin_status(session, account.id).total_liabilities)
        except DomainError:  # a margin account without its contract owes nothing
            continue
    return owed


def shelf_funds(theme: str) -> list[dict]:
    """The OTC funds on the broker's own shelf (``data/products.yaml``) whose name carries ``theme``
    (沪深300, 黄金 …): what "the 沪深300 fund" means to this broker when a customer asks for one."""
    return [p for p in catalogue.products() if p["kind"] == "fund" and theme in p["name"]]


def risk_levels(session: Session, customer_ids: list[int], *, today: date | None = None) -> dict[int, str | None]:
    """Each customer's risk category (C1–C5) from their latest assessment, None when never assessed
    or expired, in one read for a batch of customers (the assistant answering a batch of messages)."""
    today = today or local_today()
    latest = current_assessments(session, customer_ids)
    return {cid: a.level if (a := latest.get(cid)) is not None and a.valid_until >= today else None
            for cid in customer_ids}


def suitability_of(session: Session, customer_id: int, product_risk: str, *,
                   today: date | None = None) -> SuitabilityDecision:
    """Whether a product of ``product_risk`` (R1–R5) suits this customer, by their current
    assessment (a missing or expired one is refused)."""
    return check_customer(session, customer_id, product_risk, today=today)


def nightly(session: Session, out_dir: Path, *, run_date: date | None = None, client=None,
            partition_size: int = 50_000, progress=None) -> batch.BatchSummary:
    """Proposals for every customer, written to ``out_dir/proposals-<date>/`` as Parquet."""
    run_date = run_date or date.today()
    ctx = batch.context_from_db(session)
    parts = batch.partitions_from_db(session, ctx, size=partition_size, today=run_date)
    result = engine.run_batch(parts, ctx, client=client, progress=progress)
    path = batch.write_parquet(result, ctx, out_dir, run_date)
    return batch.summarise(result, path)


# --- goals the customer sets -----------------------------------------------------------------


def customer_level(session: Session, customer_id: int, *, today: date | None = None) -> str:
    """The level advice may use: professional, or the latest valid assessment (else refused)."""
    customer = get_customer(session, customer_id)
    if customer.investor_type == "professional":
        return "C5"
    v = questionnaire.validity(session, customer_id, today=today)
    if v.status in ("missing", "expired"):
        raise PermissionDenied(v.message, extra={"assessment": v.status})
    return v.level


def _years_between(start: date, end: date) -> float:
    return (end - start).days / 365.25


def set_goal(session: Session, customer_id: int, *, kind: str, target_amount: float, target_date: date,
             current_value: float = 0.0, monthly: float = 0.0, name: str | None = None,
             today: date | None = None):
    """Create a goal and project it at once; nothing is stored when the goal is invalid."""
    today = today or local_today()
    level = customer_level(session, customer_id, today=today)
    years = _years_between(today, target_date)
    projection = goals.project(goals.Goal(kind, target_amount, years, current_value, monthly, level))
    row = CustomerGoal(
        customer_id=customer_id, kind=kind, name=(name or goals.config()["kinds"][kind]["name"])[:40],
        target_amount=Decimal(str(round(target_amount, 2))), target_date=target_date,
        current_value=Decimal(str(round(current_value, 2))), monthly_contribution=Decimal(str(round(monthly, 2))),
        probability=projection.probability, on_track=projection.on_track, reviewed_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row, projection


def review_goal(session: Session, goal_id: int, *, current_value: float | None = None,
                monthly: float | None = None, today: date | None = None):
    """Re-project a goal with today's savings (progress tracking) and store the new probability."""
    row = get_goal(session, goal_id)
    today = today or local_today()
    if current_value is not None:
        if current_value < 0:
            raise ValidationFailed("已积累金额不能为负数。")
        row.current_value = Decimal(str(round(current_value, 2)))
    if monthly is not None:
        if monthly < 0:
            raise ValidationFailed("每月投入不能为负数。")
        row.monthly_contribution = Decimal(str(round(monthly, 2)))
    if row.current_value >= row.target_amount:
        row.status, row.probability, row.on_track, row.reviewed_at = "achieved", 1.0, True, utcnow()
        session.flush()
        return row, None
    years = _years_between(today, row.target_date)
    if years <= 0:
        raise ValidationFailed("这个目标的日期已经到了，请调整目标日期或关闭目标。")
    level = customer_level(session, row.customer_id, today=today)
    projection = goals.project(goals.Goal(row.kind, float(row.target_amount), years, float(row.current_value),
                                          float(row.monthly_contribution), level))
    row.probability, row.on_track, row.reviewed_at = projection.probability, projection.on_track, utcnow()
    session.flush()
    return row, projection


def get_goal(session: Session, goal_id: int) -> CustomerGoal:
    row = session.get(CustomerGoal, goal_id)
    if row is None:
        raise NotFound(f"目标 {goal_id} 不存在。")
    return row


def goals_of(session: Session, customer_id: int) -> list[CustomerGoal]:
    get_customer(session, customer_id)
    return list(session.scalars(select(CustomerGoal).where(CustomerGoal.customer_id == customer_id)
                                .order_by(CustomerGoal.target_date)))


def package_drift(session: Session, customer_id: int, key: str, *, years_left: float | None = None):
    """Monitor a customer's package from their actual positions in the package's products (at the
    reference price; the catalogue's price for a product the market has none for)."""
    level = customer_level(session, customer_id)
    plan = packages.plan(key, level, years_left=years_left)
    holdings: dict[str, float] = {}
    for p in positions_of(session, customer_id):
        if p.symbol not in plan.allocation:
            continue
        px = float(catalogue.get(p.symbol).get("last_price") or 0) if p.priced_at_cost else float(p.last_price)
        holdings[p.symbol] = holdings.get(p.symbol, 0.0) + float(p.quantity) * px
    return plan, packages.monitor(plan, holdings)


def reviewed_on(row: CustomerGoal, day: date) -> bool:
    """Whether the goal was re-projected on ``day`` (local time): its stored probability is that day's."""
    if row.reviewed_at is None:
        return False
    return row.reviewed_at.astimezone(ZoneInfo(get_settings().timezone)).date() == day


def review_goals(session: Session, *, today: date | None = None, progress=None) -> dict[str, int]:
    """Re-project every active goal (the nightly progress check); counts by outcome.

    A goal already re-projected today — by the engagement domain's nightly watch, which values
    goals from actual holdings (``engagement.watch_goals``, scheduled first) — is not simulated
    again: its stored result is counted (``reused``). A goal whose customer has no valid
    assessment is skipped (and counted), not failed: the customer is already being asked to re-test.
    """
    today = today or local_today()
    counts = {"on_track": 0, "off_track": 0, "achieved": 0, "skipped": 0, "reused": 0}
    rows = list(session.scalars(select(CustomerGoal).where(CustomerGoal.status == "active")))
    for goal in rows:
        if reviewed_on(goal, today) and goal.on_track is not None:
            counts["reused"] += 1
            counts["on_track" if goal.on_track else "off_track"] += 1
        else:
            try:
                with session.begin_nested():
                    row, projection = review_goal(session, goal.id, today=today)
            except DomainError:
                counts["skipped"] += 1
            else:
                if projection is None:
                    counts["achieved"] += 1
                else:
                    counts["on_track" if row.on_track else "off_track"] += 1
        if progress is not None:
            progress()
    return counts


# --- the customers domain's copy of the latest assessments ------------------------------------


#: The tables a bulk load of column frames writes (the demo brokerage).
FRAME_TABLES = (RiskAssessment.__tablename__,)


def load_frames(conn: Connection, frames: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """Write column frames of assessments (``{"risk_assessments": {column: values}}``, ids
    included) and hand the customers domain the latest assessment of every customer loaded, as
    ``risk.assessed`` would one by one. A frame for another table is refused before anything is
    written. Rows written per table."""
    unknown = sorted(set(frames) - set(FRAME_TABLES))
    if unknown:
        raise ValueError(f"no bulk load into {', '.join(unknown)} here; tables: {', '.join(FRAME_TABLES)}")
    columns = frames.get(RiskAssessment.__tablename__)
    written = insert_columns(conn, RiskAssessment.__tablename__, columns) if columns else 0
    if written:
        owners = np.asarray(columns["customer_id"])
        share_latest_assessments(conn, lo=int(owners.min()), hi=int(owners.max()))
    return {RiskAssessment.__tablename__: written}


def share_latest_assessments(db: Session | Connection, *, lo: int | None = None, hi: int | None = None) -> int:
    """Hand the latest assessment (and how many were taken) of every customer ``lo..hi`` (all
    without a range) to the customers domain, replacing its copy of them: after a bulk load, which
    publishes no ``risk.assessed`` per row. Returns the number of customers; the caller commits."""
    ra = RiskAssessment
    ranked = select(
        ra.customer_id, ra.id, ra.level, ra.score, ra.assessed_on, ra.valid_until,
        func.row_number().over(partition_by=ra.customer_id, order_by=(ra.assessed_on.desc(), ra.id.desc())).label("rn"),
        func.count().over(partition_by=ra.customer_id).label("taken"),
    )
    if lo is not None and hi is not None:
        ranked = ranked.where(ra.customer_id.between(lo, hi))
    latest = ranked.subquery()
    rows = db.execute(select(latest).where(latest.c.rn == 1).order_by(latest.c.customer_id))
    return replace_assessed_risks(db, (
        Assessed(r.customer_id, r.id, r.level, r.score, r.assessed_on, r.valid_until, r.taken) for r in rows),
        lo=lo, hi=hi)


def active_goals(session: Session) -> list[CustomerGoal]:
    """Every active goal, by customer and id (the nightly watch re-values them from holdings)."""
    return list(session.scalars(select(CustomerGoal).where(CustomerGoal.status == "active")
                                .order_by(CustomerGoal.customer_id, CustomerGoal.id)))


def goal_package(kind: str) -> tuple[str, frozenset[str]] | None:
    """The package a goal of ``kind`` is invested through (the package whose ``goal_kind`` it is;
    a target-return goal: the goal package) and every product the package may hold at any
    level; None when no package serves the goal (a house purchase)."""
    for key, pkg in packages.config().items():
        if pkg.get("goal_kind") == kind or (kind == "target_return" and pkg["kind"] == "goal"):
            allocations = [pkg["allocation"]] if "allocation" in pkg else list(pkg["by_level"].values())
            return key, frozenset(s for a in allocations for s in a)
    return None
