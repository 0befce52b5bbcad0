"""From the evaluator's findings to alerts, margin calls and outbox notifications, in the caller's
transaction, so nothing a worker decided is lost or written twice.

Stages of one snapshot: explain each holding alert and each margin finding (crossings with their
top-up deadline, forecasts with their probability) under a deterministic key; keep the keys not
stored yet; write them; fan the new alerts out to each customer's channels (a digest when several
fire at once, deferred in quiet hours, suppressed over the hourly cap; urgent ones never are).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.accounts.service import contract_numbers
from brokercare.core.calendar import SHANGHAI, add_trading_days
from brokercare.monitoring import explain
from brokercare.monitoring.engine import (
    RULE_LIMIT_DOWN,
    RULE_LIMIT_UP,
    RULE_MOVE_DOWN,
    RULE_MOVE_UP,
    RULE_NAMES,
    RULE_VOLUME,
    ZONE_LIQUIDATION,
    Book,
    Findings,
)
from brokercare.monitoring.models import Alert, MarginCall
from brokercare.monitoring.preferences import DEFAULTS, preferences_of, quiet_until
from brokercare.monitoring.temperature import Temperature, notable, record_temperatures
from brokercare.outbox.schemas import NewMessage
from brokercare.outbox.service import enqueue_many, recent_counts

#: How the outbox knows monitoring's messages (alerts, margin calls, IPO reminders).
ORIGIN = "monitoring"
#: Keys per ``IN`` list when looking up which alerts are stored already.
_KEY_CHUNK = 900
#: Above this many customers in one snapshot the hourly cap is not counted (a market-wide event).
_CAP_COUNTED_BELOW = 5000

Candidate = tuple[str, dict]


@dataclass
class Recorded:
    alerts: list[Alert]
    notifications: int
    suppressed: int


def _stamp(when: datetime) -> str:
    return f"{when.astimezone(UTC):%Y%m%dT%H%M%S}"


def _candidate(
    book: Book,
    row: int,
    key: str,
    *,
    rule: str,
    severity: str,
    title: str,
    body: str,
    data: dict,
    symbol: str | None = None,
    change_pct: float | None = None,
) -> Candidate:
    """An alert to write for account row ``row``, under its deterministic key."""
    return key, dict(
        customer_id=int(book.customer_ids[row]),
        account_id=int(book.account_ids[row]),
        symbol=symbol,
        rule=rule,
        severity=severity,
        title=title,
        body=body,
        change_pct=change_pct,
        data=data,
    )


# holdings -------------------------------------------------------------------------------------
def _holding_key(findings: Findings, book: Book, k: int) -> tuple[str, str, str]:
    """Rule name, symbol and dedup key of holding alert ``k``."""
    pos = int(findings.positions[k])
    rule = RULE_NAMES[int(findings.rules[k])]
    account = int(book.account_ids[book.pos_account[pos]])
    symbol = str(book.symbols[book.pos_symbol[pos]])
    return rule, symbol, f"{rule}:{account}:{symbol}:{_stamp(findings.time)}"


def _explained(
    rule_code: int,
    name: str,
    code: str,
    findings: Findings,
    k: int,
    holding: tuple,
    temp: str | None,
) -> tuple[str, str, str]:
    """Title, body and severity of holding alert ``k`` (``holding``: quantity, cost, price)."""
    qty, cost, price = holding
    change = float(findings.change[k])
    if rule_code in (RULE_MOVE_UP, RULE_MOVE_DOWN):
        window, reference = int(findings.window[k]), float(findings.reference[k])
        title, body = explain.move(name, code, window, change, price, reference, qty, cost, temp)
        return title, body, "warning" if rule_code == RULE_MOVE_DOWN else "info"
    if rule_code in (RULE_LIMIT_UP, RULE_LIMIT_DOWN):
        up = rule_code == RULE_LIMIT_UP
        title, body = explain.limit(name, code, up, price, change, qty, cost, temp)
        return title, body, "warning" if rule_code == RULE_LIMIT_DOWN else "info"
    title, body = explain.volume_spike(name, code, change, qty, price)
    return title, body, "info"


def _holding_alerts(
    book: Book,
    findings: Findings,
    prices: np.ndarray,
    temperature: dict[str, str] | None,
    boards: np.ndarray | None,
) -> list[Candidate]:
    out = []
    for k in range(len(findings.positions)):
        pos = int(findings.positions[k])
        rule_code = int(findings.rules[k])
        rule, symbol, key = _holding_key(findings, book, k)
        s = int(book.pos_symbol[pos])
        holding = float(book.qty[pos]), float(book.cost[pos]), float(prices[s])
        temp = temperature.get(str(boards[s])) if temperature and boards is not None else None
        title, body, severity = _explained(
            rule_code, str(book.names[s]), symbol.split(".")[0], findings, k, holding, temp
        )
        change = float(findings.change[k])
        out.append(
            _candidate(
                book,
                book.pos_account[pos],
                key,
                symbol=symbol,
                rule=rule,
                severity=severity,
                title=title,
                body=body,
                change_pct=round(change * 100, 3) if rule_code != RULE_VOLUME else None,
                data={
                    "quantity": holding[0],
                    "price": holding[2],
                    "reference": float(findings.reference[k]),
                    "window_min": int(findings.window[k]),
                },
            )
        )
    return out


# margin ---------------------------------------------------------------------------------------
def _crossing_alerts(
    book: Book, findings: Findings, numbers: dict[int, str]
) -> tuple[list[Candidate], list[MarginCall]]:
    """A line crossed on this snapshot: an urgent alert and a margin call with its top-up deadline."""
    when = findings.time
    day = when.astimezone(SHANGHAI).date()
    out: list[Candidate] = []
    calls: list[MarginCall] = []
    for m, zone in zip(findings.crossings.tolist(), findings.zones.tolist(), strict=True):
        row, contract = int(book.margin_rows[m]), int(book.contract_ids[m])
        ratio = float(findings.ratio[m])
        warning, liq = float(book.warning_line[m]), float(book.liquidation_line[m])
        days = int(book.topup_days[m])
        deadline = add_trading_days(day, days)
        debt = float(findings.liabilities[m])
        shortfall = max(warning * debt - ratio * debt, 0.0)
        title, body = explain.margin_crossing(
            numbers.get(contract, str(contract)),
            ratio,
            warning,
            liq,
            zone,
            deadline,
            days,
            shortfall,
        )
        line = "liquidation" if zone >= ZONE_LIQUIDATION else "warning"
        key = f"margin_{line}:{contract}:{_stamp(when)}"
        data = {
            "ratio": ratio,
            "line": warning if line == "warning" else liq,
            "deadline": deadline.isoformat(),
            "shortfall": round(shortfall, 2),
            "contract_id": contract,
        }
        out.append(
            _candidate(
                book,
                row,
                key,
                rule=f"margin_{line}",
                severity="urgent",
                title=title,
                body=body,
                data=data,
            )
        )
        calls.append(
            MarginCall(
                dedup_key=key,
                contract_id=contract,
                account_id=int(book.account_ids[row]),
                line=line,
                ratio=Decimal(str(round(ratio, 6))),
                opened_at=when,
                deadline=deadline,
            )
        )
    return out, calls


def _forecast_alerts(
    book: Book, findings: Findings, numbers: dict[int, str], forecast_minutes: int
) -> list[Candidate]:
    """A line likely to be crossed within the horizon: a warning with its probability."""
    out: list[Candidate] = []
    for m, line_k, prob in zip(
        findings.forecast_rows.tolist(),
        findings.forecast_line.tolist(),
        findings.forecast_prob.tolist(),
        strict=True,
    ):
        row, contract = int(book.margin_rows[m]), int(book.contract_ids[m])
        which = "warning" if line_k == 1 else "liquidation"
        line = float(book.warning_line[m] if line_k == 1 else book.liquidation_line[m])
        ratio = float(findings.ratio[m])
        title, body = explain.margin_forecast(
            numbers.get(contract, str(contract)), ratio, line, which, prob, forecast_minutes
        )
        key = f"margin_forecast_{which}:{contract}:{_stamp(findings.time)}"
        data = {
            "ratio": ratio,
            "line": line,
            "probability": round(prob, 4),
            "horizon_min": forecast_minutes,
            "contract_id": contract,
        }
        out.append(
            _candidate(
                book,
                row,
                key,
                rule=f"margin_forecast_{which}",
                severity="warning",
                title=title,
                body=body,
                data=data,
            )
        )
    return out


def _margin_alerts(
    session: Session, book: Book, findings: Findings, forecast_minutes: int
) -> tuple[list[Candidate], list[MarginCall]]:
    if not (len(findings.crossings) or len(findings.forecast_rows)):
        return [], []
    rows = np.concatenate([findings.crossings, findings.forecast_rows])
    numbers = contract_numbers(session, (int(book.contract_ids[m]) for m in rows))
    crossings, calls = _crossing_alerts(book, findings, numbers)
    return crossings + _forecast_alerts(book, findings, numbers, forecast_minutes), calls


# writing --------------------------------------------------------------------------------------
def _stored_keys(session: Session, keys: list[str]) -> set[str]:
    stored: set[str] = set()
    for start in range(0, len(keys), _KEY_CHUNK):
        chunk = keys[start : start + _KEY_CHUNK]
        stored.update(session.scalars(select(Alert.dedup_key).where(Alert.dedup_key.in_(chunk))))
    return stored


def record_findings(
    session: Session,
    book: Book,
    findings: Findings,
    prices: np.ndarray,
    *,
    temperature: dict[str, str] | None = None,
    boards: np.ndarray | None = None,
    forecast_minutes: int = 60,
) -> Recorded:
    """Write alerts, margin calls and their notifications for one snapshot (caller commits).

    Idempotent: every alert has a deterministic key; one already stored is skipped.
    """
    candidates = _holding_alerts(book, findings, prices, temperature, boards)
    margin, margin_calls = _margin_alerts(session, book, findings, forecast_minutes)
    candidates += margin
    if not candidates:
        return Recorded([], 0, 0)
    stored = _stored_keys(session, [k for k, _ in candidates])
    alerts = [
        Alert(dedup_key=k, fired_at=findings.time, **v) for k, v in candidates if k not in stored
    ]
    if not alerts:
        return Recorded([], 0, 0)
    session.add_all(alerts)
    session.add_all([mc for mc in margin_calls if mc.dedup_key not in stored])
    session.flush()
    sent, suppressed = fan_out(session, alerts, findings.time)
    return Recorded(alerts, sent, suppressed)


def record_snapshot(
    session: Session,
    book: Book,
    findings: Findings,
    prices: np.ndarray,
    temps: dict[str, Temperature],
    boards: np.ndarray,
    *,
    store_temperature: bool = True,
) -> Recorded:
    """Everything one evaluated snapshot writes (caller commits): its alerts, with the notable
    board temperatures in their explanations, and the temperatures themselves."""
    recorded = record_findings(
        session, book, findings, prices, temperature=notable(temps), boards=boards
    )
    if store_temperature:
        record_temperatures(session, temps, findings.time)
    return recorded


# notifications --------------------------------------------------------------------------------
def _sent_last_hour(session: Session, customers: list[int], when: datetime) -> dict[int, int]:
    """Distinct non-urgent messages each customer was sent in the hour before ``when`` (the cap's
    count; the outbox counts each alert or digest once, however many channels it went on)."""
    if len(customers) >= _CAP_COUNTED_BELOW:
        return {}
    return recent_counts(session, origin=ORIGIN, customer_ids=customers,
                         since=when - timedelta(hours=1))


def _groups(items: list[Alert]) -> list[list[Alert]]:
    """One message per urgent alert, one digest for all the others."""
    groups = [[a] for a in items if a.severity == "urgent"]
    normal = [a for a in items if a.severity != "urgent"]
    if normal:
        groups.append(normal)
    return groups


def _message(group: list[Alert]) -> tuple[str, str, str, Alert]:
    """Title, body, kind and anchor alert of one message (a digest names the worst three)."""
    if len(group) == 1:
        return group[0].title, group[0].body, group[0].rule, group[0]
    worst = sorted(group, key=lambda a: a.change_pct or 0)
    title = f"您有 {len(group)} 条持仓提醒"
    body = "；".join(a.title for a in worst[:3]) + (
        f" 等 {len(group)} 条，请在 App 中查看详情。" if len(group) > 3 else "。"
    )
    return title, body, "digest", worst[0]


def fan_out(session: Session, alerts: list[Alert], when: datetime) -> tuple[int, int]:
    """Messages for new alerts, queued in the outbox in the alerts' transaction: one per customer
    and channel (a digest when several fired at once), deferred in quiet hours; over the hourly cap
    (urgent ones never are) the alerts stay in the customer's list, marked, and nothing is sent."""
    by_customer: dict[int, list[Alert]] = defaultdict(list)
    for a in alerts:
        by_customer[a.customer_id].append(a)
    customers = list(by_customer)
    prefs = preferences_of(session, customers)
    recent = _sent_last_hour(session, customers, when)
    messages: list[NewMessage] = []
    suppressed = 0
    for cid, items in by_customer.items():
        p = prefs.get(cid)
        channels = list(p.channels) if p is not None and p.channels else ["app"]
        cap = p.hourly_cap if p is not None else DEFAULTS["hourly_cap"]
        for group in _groups(items):
            is_urgent = group[0].severity == "urgent"
            if not is_urgent:
                if recent.get(cid, 0) >= cap:
                    suppressed += 1
                    for a in group:
                        a.data = {**(a.data or {}), "notice": "over_hourly_cap"}
                    continue
                recent[cid] = recent.get(cid, 0) + 1
            title, body, kind, anchor = _message(group)
            quiet = None if is_urgent or p is None else quiet_until(when, p.quiet_start, p.quiet_end)
            messages += [NewMessage(
                channel=channel, kind=kind, subject=title, body=body, urgent=is_urgent,
                customer_id=cid, origin=ORIGIN, origin_ref=f"alert:{anchor.id}",
                idempotency_key=f"{anchor.dedup_key}:{len(group)}:{channel}", not_before=quiet)
                for channel in channels]
    enqueue_many(session, messages)
    session.flush()
    return len(messages), suppressed


# reads ----------------------------------------------------------------------------------------
def alerts_of(session: Session, customer_id: int, limit: int = 50) -> list[Alert]:
    return list(
        session.scalars(
            select(Alert)
            .where(Alert.customer_id == customer_id)
            .order_by(Alert.fired_at.desc())
            .limit(limit)
        )
    )


def margin_calls_of(session: Session, account_ids: list[int]) -> list[MarginCall]:
    """The margin calls of these accounts (a customer's), newest first."""
    return list(
        session.scalars(
            select(MarginCall)
            .where(MarginCall.account_id.in_(account_ids))
            .order_by(MarginCall.opened_at.desc())
        )
    )
