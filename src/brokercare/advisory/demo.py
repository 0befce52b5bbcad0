"""Demo history for the advisory domain, run by ``brokercare generate`` after the base brokerage.

Adds what a running robo-advisor would have produced: recorded suitability confirmations for a
small share of assessed customers who bought one product above their level, the model backtest
report, and last night's rebalancing proposals for every customer.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from brokercare.advisory import backtest, catalogue, service
from brokercare.advisory.suitability import RISKS, check_customer, record_confirmation
from brokercare.core.settings import get_settings
from brokercare.customers.service import customers_at_levels

CONFIRMING_SHARE = 0.02
DEMO_GOALS = 40  # each projection is a Monte Carlo run: a few dozen keep `generate` quick


def _uniform(rng) -> float:
    return float(rng.random())


def generate(engine: Engine, rng, summary) -> None:
    reports = get_settings().data_dir / "reports" / "advisory"
    confirmations = 0
    with Session(engine, expire_on_commit=False) as session:
        rows = customers_at_levels(session, ["C2", "C3", "C4"])
        for customer_id, level in rows:
            if _uniform(rng) >= CONFIRMING_SHARE:
                continue
            above = RISKS[int(level[1])]  # one step above the customer's ladder
            shelf = [p for p in catalogue.products() if p["risk"] == above]
            product = shelf[int(_uniform(rng) * len(shelf)) % len(shelf)]
            decision = check_customer(session, customer_id, above)
            if decision.decision == "warn_confirm":
                record_confirmation(session, customer_id, product["symbol"], decision)
                confirmations += 1
        session.commit()
        goals_set = 0
        for customer_id, _level in rows:
            if goals_set >= DEMO_GOALS:
                break
            if _uniform(rng) >= 0.05:
                continue
            kind = "education" if _uniform(rng) < 0.6 else "retirement"
            years = 6 + int(_uniform(rng) * 12)
            target = 300_000 if kind == "education" else 1_500_000
            service.set_goal(session, customer_id, kind=kind, target_amount=target,
                             target_date=date.today() + timedelta(days=int(365.25 * years)),
                             current_value=round(target * (0.05 + 0.3 * _uniform(rng)), -3),
                             monthly=round(500 + 4500 * _uniform(rng), -2))
            goals_set += 1
        session.commit()
        result = service.nightly(session, reports)
    backtest.write_report(reports)
    line = (f"advisory: {confirmations} suitability confirmations, {goals_set} goals; proposals for {result.customers:,} customers "
            f"({result.rebalance:,} to rebalance) in {result.path}; backtest report in {reports}")
    if isinstance(summary, dict):
        summary["advisory"] = line
    elif isinstance(summary, list):
        summary.append(line)
