"""Demo history for the advisory domain, run by ``brokercare generate`` after the base brokerage.

Adds what a running robo-advisor would have produced: recorded suitability confirmations for a
small share of assessed customers who bought one product above their level, the model backtest
report, and last night's rebalancing proposals for every customer.
"""

from __future__ import annotations

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from brokercare.advisory import backtest, catalogue, service
from brokercare.advisory.suitability import RISKS, check_customer, record_confirmation

CONFIRMING_SHARE = 0.02


def _uniform(rng) -> float:
    return float(rng.random())


def generate(engine: Engine, rng, summary) -> None:
    from brokercare.core.settings import get_settings
    from brokercare.customers.models import Customer

    reports = get_settings().data_dir / "reports" / "advisory"
    confirmations = 0
    with Session(engine, expire_on_commit=False) as session:
        rows = session.execute(select(Customer.id, Customer.risk_level).where(Customer.risk_level.in_(["C2", "C3", "C4"]))).all()
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
        result = service.nightly(session, reports)
    backtest.write_report(reports)
    line = (f"advisory: {confirmations} suitability confirmations; proposals for {result.customers:,} customers "
            f"({result.rebalance:,} to rebalance) in {result.path}; backtest report in {reports}")
    if isinstance(summary, dict):
        summary["advisory"] = line
    elif isinstance(summary, list):
        summary.append(line)
