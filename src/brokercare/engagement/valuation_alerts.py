"""The nightly valuation warnings: which customers hold something measured by an index that is
dear by its own history (:mod:`engagement.valuation`), told once per customer and index while it
stays dear — only customers of the configured risk levels, through the compliance guard, under
the frequency cap (held back, tried again the next night)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.accounts.service import holdings_frame
from brokercare.assistant.service import check_outgoing
from brokercare.customers.service import customers_at_levels, get_customers
from brokercare.engagement import contact
from brokercare.engagement.models import Watch
from brokercare.engagement.valuation import (
    IndexValuation,
    config,
    index_of,
    staleness,
    valuation_on,
    warning_text,
)
from brokercare.market.service import instruments_of_kinds
from brokercare.outbox.schemas import NewMessage
from brokercare.outbox.service import enqueue_many

PARTITION = 20_000


@dataclass
class Warned:
    dear: list[str]  # index codes above the line today
    warned: int = 0
    capped: int = 0
    blocked: int = 0
    held: int = 0  # already told in this episode
    stale: str | None = None  # the operator's note when indices have no current valuation


def dear_indices(day: date) -> dict[str, IndexValuation]:
    cfg = config()
    out = {}
    for rule in cfg.indices:
        v = valuation_on(rule.code, day)
        if v is not None and v.top > cfg.percentile:
            out[rule.code] = v
    return out


def symbols_measured(session: Session, codes: set[str]) -> dict[str, tuple[str, str]]:
    """symbol -> (index code, instrument name) for every instrument measured by one of ``codes``."""
    out = {}
    for inst in instruments_of_kinds(session):
        rule = index_of(inst.name, inst.kind, inst.industry)
        if rule is not None and rule.code in codes:
            out[inst.symbol] = (rule.code, inst.name)
    return out


def _held(session: Session, customers: dict[int, str], measured: dict) -> dict[tuple[int, str], list[str]]:
    """(customer, index) -> names of the customer's holdings measured by it."""
    ids = sorted(customers)
    out: dict[tuple[int, str], list[str]] = {}
    for k in range(0, len(ids), PARTITION):
        part = ids[k:k + PARTITION]
        frame = holdings_frame(session.connection(), lo=part[0], hi=part[-1]).filter(
            pl.col("customer_id").is_in(part) & pl.col("symbol").is_in(list(measured)))
        for cid, symbol in frame.select("customer_id", "symbol").unique().sort("customer_id", "symbol").iter_rows():
            code, name = measured[symbol]
            out.setdefault((cid, code), []).append(name)
    return out


def send_valuation_warnings(session: Session, day: date) -> Warned:
    """Warn each concerned customer holding something measured by a dear index (caller commits)."""
    dear = dear_indices(day)
    result = Warned(dear=sorted(dear), stale=staleness(day))
    stale = {r.code for r in config().indices if valuation_on(r.code, day) is None}
    customers = dict(customers_at_levels(session, config().risk_levels)) if dear else {}
    found = _held(session, customers, symbols_measured(session, set(dear))) if customers else {}
    keys = {f"valuation:{cid}:{code}": (cid, code) for cid, code in found}
    # an index no longer dear (on fresh data) ends the episode: a later relapse is told again
    for w in session.scalars(select(Watch).where(Watch.kind == "valuation", Watch.bad.is_(True))):
        if w.key not in keys and w.detail.get("index") not in stale:
            w.bad, w.checked_on = False, day
    if not found:
        return result
    names = {c.id: c.name for c in get_customers(session, sorted({cid for cid, _ in found}))}
    ordered = sorted(keys)
    watches = {w.key: w for k in range(0, len(ordered), 900)
               for w in session.scalars(select(Watch).where(Watch.key.in_(ordered[k:k + 900])))}
    texts: dict[str, tuple[int, str]] = {}
    for key, (cid, code) in sorted(keys.items()):
        w = watches.get(key)
        if w is not None and w.bad and w.notified:
            w.checked_on = day
            result.held += 1
            continue
        if w is None or not w.bad:
            w = w or Watch(key=key, customer_id=cid, kind="valuation", notified=False, detail={}, since=day, checked_on=day)
            w.bad, w.since, w.notified = True, day, False
            session.add(w)
            watches[key] = w
        v = dear[code]
        w.detail, w.checked_on = {"index": code, "pe_pct": round(v.pe_pct, 1), "pb_pct": round(v.pb_pct, 1),
                                  "as_of": v.as_of.isoformat()}, day
        verdict = check_outgoing(warning_text(names.get(cid, "客户"), customers[cid], found[(cid, code)], v),
                                 risk_level=customers[cid])
        if verdict.action == "block":
            result.blocked += 1
            continue
        texts[key] = (cid, verdict.text)
    session.flush()
    _queue(session, texts, watches, day, result)
    return result


def _queue(session: Session, texts: dict[str, tuple[int, str]], watches: dict[str, Watch], day: date,
           result: Warned) -> None:
    refs = {key: f"{key}:{watches[key].since.isoformat()}" for key in texts}
    attempt = {key: f"{key}:{day.isoformat()}" for key in texts}  # the cap answers per night
    allowed = contact.allow(session, [(cid, attempt[key]) for key, (cid, _) in texts.items()], kind="valuation", day=day)
    messages = []
    for key, (cid, text) in texts.items():
        if (cid, attempt[key]) not in allowed:
            result.capped += 1
            continue
        watches[key].notified = True
        messages.append(NewMessage(channel="app", kind="engagement_valuation", subject="持仓估值提示", body=text,
                                   customer_id=cid, idempotency_key=f"engagement:{refs[key]}", origin="engagement",
                                   origin_ref=refs[key][:64]))
    result.warned += sum(q.created for q in enqueue_many(session, messages))
    session.flush()
