"""Importing a broker's risk-assessment history (``brokercare import risk_assessments``).

Natural key: ``customer_no`` + ``assessed_on`` (one assessment per customer and day, as the
questionnaire's daily limit and the regulator's records count them). After the import commits,
each new assessment is announced with ``risk.assessed``, as a questionnaire taken in BrokerCare
is, so the customer's risk level, assessment count and profile follow. A corrected existing row
is stored but not announced again (the customers domain would count it twice).
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, select

from brokercare.advisory.events import RISK_ASSESSED
from brokercare.advisory.models import RiskAssessment
from brokercare.advisory.suitability import local_today
from brokercare.core.bulkimport import Column, ImportSpec, Prepared, choice, parse_date, pattern
from brokercare.core.bus import Event, get_bus
from brokercare.customers.service import ids_by_customer_no

LEVEL = {f"C{i}": f"C{i}" for i in range(1, 6)} | {f"c{i}": f"C{i}" for i in range(1, 6)} | {
    "保守型": "C1", "谨慎型": "C2", "稳健型": "C3", "积极型": "C4", "激进型": "C5"}
CHANNEL = {"app": "app", "web": "web", "branch": "branch", "phone": "phone", "手机": "app",
           "网上": "web", "柜台": "branch", "电话": "phone", "营业部": "branch"}

COLUMNS = [
    Column("customer_no", pattern(r"[0-9A-Za-z]{4,20}", "a customer number")),
    Column("level", choice(LEVEL, "risk level")),
    Column("score", pattern(r"\d{1,3}", "a score (0-100)")),
    Column("assessed_on", parse_date),
    Column("valid_until", parse_date),
    Column("channel", choice(CHANNEL, "channel"), required=False, default="app"),
]


def _prepare(conn: Connection, parsed: dict[int, dict]) -> Prepared:
    errors: dict[int, str] = {}
    customers = ids_by_customer_no(conn, (r["customer_no"] for r in parsed.values()))
    today, out = local_today(), {}
    for row_no, r in parsed.items():
        if r["customer_no"] not in customers:
            errors[row_no] = f"customer {r['customer_no']} not found (import customers first)"
        elif int(r["score"]) > 100:
            errors[row_no] = f"score {r['score']} is above 100"
        elif r["assessed_on"] > today:
            errors[row_no] = "assessed_on cannot be in the future"
        elif r["valid_until"] <= r["assessed_on"]:
            errors[row_no] = "valid_until must be after assessed_on"
        else:
            out[row_no] = {"customer_id": customers[r["customer_no"]], "level": r["level"],
                           "score": int(r["score"]), "assessed_on": r["assessed_on"],
                           "valid_until": r["valid_until"], "channel": r["channel"]}
    return Prepared(out, errors)


def _announce(engine: Engine, written: list[dict]) -> None:
    """``risk.assessed`` for each new assessment, oldest first, as if each had been taken here:
    the customers domain counts every one and keeps the latest as the customer's risk level."""
    ra = RiskAssessment
    new = {(r["customer_id"], r["assessed_on"]) for r in written if "_id" not in r}
    owners = sorted({k[0] for k in new})
    events = []
    with engine.connect() as conn:
        for start in range(0, len(owners), 500):
            stored = select(ra.id, ra.customer_id, ra.level, ra.score, ra.assessed_on, ra.valid_until,
                            ra.channel).where(ra.customer_id.in_(owners[start:start + 500]))
            for r in conn.execute(stored.order_by(ra.assessed_on, ra.id)):
                if (r.customer_id, r.assessed_on) in new:
                    events.append(Event(type=RISK_ASSESSED, customer_id=r.customer_id, payload={
                        "customer_id": r.customer_id, "assessment_id": r.id, "level": r.level,
                        "score": r.score, "assessed_on": r.assessed_on.isoformat(),
                        "valid_until": r.valid_until.isoformat(), "channel": r.channel}))
    bus = get_bus()
    for event in events:
        bus.publish(event)


def risk_assessments_spec() -> ImportSpec:
    return ImportSpec(
        kind="risk_assessments", table=RiskAssessment.__table__, columns=COLUMNS,
        key=("customer_no", "assessed_on"), key_columns=("customer_id", "assessed_on"),
        prepare=_prepare, compared=("level", "score", "valid_until", "channel"),
        after_commit=_announce,
    )
