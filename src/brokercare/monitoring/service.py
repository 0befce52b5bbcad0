"""Monitoring services: customers' alert rules, loading the columnar book, and turning the
evaluator's findings into alerts, margin calls and outbox notifications in one transaction.

The book is loaded with a few bulk column selects from the accounts and instruments tables (the
hot path cannot afford one service call per customer); everything else goes through services.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from brokercare.accounts.models import Account, MarginContract, MarginShort, Position
from brokercare.core.bus_redis import partition_for
from brokercare.core.calendar import SHANGHAI, add_trading_days
from brokercare.core.errors import ValidationFailed
from brokercare.market.limits import limit_arrays
from brokercare.market.models import Instrument
from brokercare.monitoring import explain, ipo
from brokercare.monitoring.engine import (
    RULE_LIMIT_DOWN,
    RULE_LIMIT_UP,
    RULE_MOVE_DOWN,
    RULE_MOVE_UP,
    RULE_NAMES,
    RULE_VOLUME,
    ZONE_LIQUIDATION,
    Book,
    Evaluator,
    Findings,
    MarketInfo,
    trading_minute,
)
from brokercare.monitoring.forecast import (
    TRADING_MINUTES_PER_DAY,
    daily_history,
    risk_model_for,
    session_variance_curve,
)
from brokercare.monitoring.models import (
    Alert,
    AlertPreference,
    MarginCall,
    MarketTemperature,
    Notification,
)
from brokercare.monitoring.temperature import BOARD_NAMES, Temperature, temperatures

DEFAULTS = {
    "move_pct": 0.05,
    "window_min": 10,
    "volume_ratio": 3.0,
    "limit_alerts": True,
    "quiet_start": None,
    "quiet_end": None,
    "hourly_cap": 6,
    "channels": ["app"],
    "margin_forecast_threshold": 0.5,
}
CHANNELS = ("app", "sms", "wechat")
UNIVERSE_KINDS = ("stock", "etf")


# preferences ----------------------------------------------------------------------------------
def get_preferences(session: Session, customer_id: int) -> dict:
    row = session.get(AlertPreference, customer_id)
    if row is None:
        return dict(DEFAULTS)
    return {
        "move_pct": float(row.move_pct),
        "window_min": row.window_min,
        "volume_ratio": float(row.volume_ratio),
        "limit_alerts": row.limit_alerts,
        "quiet_start": row.quiet_start,
        "quiet_end": row.quiet_end,
        "hourly_cap": row.hourly_cap,
        "channels": list(row.channels or ["app"]),
        "margin_forecast_threshold": float(row.margin_forecast_threshold),
    }


def set_preferences(session: Session, customer_id: int, **changes) -> dict:
    """Change a customer's alert rules; bad values are refused with a Chinese message."""
    unknown = set(changes) - set(DEFAULTS)
    if unknown:
        raise ValidationFailed(f"不支持的提醒设置：{', '.join(sorted(unknown))}")
    if "move_pct" in changes and not 0.01 <= float(changes["move_pct"]) <= 0.2:
        raise ValidationFailed("涨跌幅提醒阈值需在 1% 到 20% 之间")
    if "window_min" in changes and not 1 <= int(changes["window_min"]) <= 60:
        raise ValidationFailed("时间窗口需在 1 到 60 分钟之间")
    if "volume_ratio" in changes and not 1.5 <= float(changes["volume_ratio"]) <= 20:
        raise ValidationFailed("放量提醒倍数需在 1.5 到 20 倍之间")
    if "hourly_cap" in changes and not 1 <= int(changes["hourly_cap"]) <= 60:
        raise ValidationFailed("每小时提醒上限需在 1 到 60 条之间")
    if "channels" in changes:
        chans = list(changes["channels"])
        if not chans or any(c not in CHANNELS for c in chans):
            raise ValidationFailed("提醒渠道只能是 app、sms、wechat 中的一个或多个")
    if (
        "margin_forecast_threshold" in changes
        and not 0.1 <= float(changes["margin_forecast_threshold"]) <= 0.95
    ):
        raise ValidationFailed("两融预警概率阈值需在 10% 到 95% 之间")
    if ("quiet_start" in changes) != ("quiet_end" in changes):
        raise ValidationFailed("免打扰时段需要同时设置开始和结束时间")
    row = session.get(AlertPreference, customer_id)
    if row is None:
        row = AlertPreference(customer_id=customer_id, channels=["app"])
        session.add(row)
    for key, value in changes.items():
        if key in ("move_pct", "volume_ratio", "margin_forecast_threshold"):
            value = Decimal(str(value))
        if key in ("quiet_start", "quiet_end") and isinstance(value, str):
            value = time.fromisoformat(value)
        setattr(row, key, value)
    session.flush()
    return get_preferences(session, customer_id)


# loading the book -----------------------------------------------------------------------------
def load_universe(session: Session) -> list[Instrument]:
    return list(
        session.scalars(
            select(Instrument)
            .where(Instrument.kind.in_(UNIVERSE_KINDS))
            .order_by(Instrument.symbol)
        )
    )


def load_book(
    session: Session,
    *,
    shard: int = 0,
    shards: int = 1,
    override: dict | None = None,
    universe: list[Instrument] | None = None,
) -> Book:
    """The columnar book of every active account in ``shard`` (customers split by id)."""
    universe = universe if universe is not None else load_universe(session)
    symbols = np.array([i.symbol for i in universe], dtype=object)
    names = np.array([i.name for i in universe], dtype=object)
    col = {s: k for k, s in enumerate(symbols)}
    rows = session.execute(
        select(Account.id, Account.customer_id, Account.kind, Account.cash_balance)
        .where(Account.status != "closed")
        .order_by(Account.id)
    ).all()
    # shard by customer: all of a customer's accounts meet in one worker (one digest, one cap)
    rows = [r for r in rows if shards <= 1 or partition_for(r[1], shards) == shard]
    account_ids = np.array([r[0] for r in rows], dtype=np.int64)
    customer_ids = np.array([r[1] for r in rows], dtype=np.int64)
    row_of = {a: k for k, a in enumerate(account_ids.tolist())}
    cash = {r[0]: float(r[3] or 0) for r in rows}

    pa, ps, pq, pc = [], [], [], []
    for acc, sym, qty, cost in session.execute(
        select(Position.account_id, Position.symbol, Position.quantity, Position.cost_price).where(
            Position.quantity > 0
        )
    ):
        r, c = row_of.get(acc), col.get(sym)
        if r is None or c is None:
            continue
        pa.append(r)
        ps.append(c)
        pq.append(float(qty))
        pc.append(float(cost or 0))

    prefs = (
        {
            p.customer_id: p
            for p in session.scalars(
                select(AlertPreference).where(
                    AlertPreference.customer_id.in_(set(customer_ids.tolist()))
                )
            )
        }
        if len(customer_ids) < 30_000
        else {p.customer_id: p for p in session.scalars(select(AlertPreference))}
    )
    n = len(account_ids)
    move_pct = np.full(n, DEFAULTS["move_pct"])
    window = np.full(n, DEFAULTS["window_min"], np.int16)
    vol_ratio = np.full(n, DEFAULTS["volume_ratio"])
    limit_on = np.ones(n, bool)
    for k, cid in enumerate(customer_ids.tolist()):
        p = prefs.get(cid)
        if p is not None:
            move_pct[k], window[k] = float(p.move_pct), p.window_min
            vol_ratio[k], limit_on[k] = float(p.volume_ratio), p.limit_alerts
    if override:
        if "move_pct" in override:
            move_pct[:] = override["move_pct"]
        if "window_min" in override:
            window[:] = override["window_min"]

    contracts = session.execute(
        select(
            MarginContract.id,
            MarginContract.account_id,
            MarginContract.financing_debt,
            MarginContract.lending_debt,
            MarginContract.interest_due,
            MarginContract.warning_line,
            MarginContract.liquidation_line,
            MarginContract.withdrawal_line,
            MarginContract.topup_days,
        )
        .where(MarginContract.status == "active")
        .order_by(MarginContract.id)
    ).all()
    contracts = [c for c in contracts if c[1] in row_of]
    # securities lending: shares owed, re-priced by the evaluator; a contract with shares on record
    # carries its lending debt through them, one without keeps the marked value as fixed
    margin_of = {c[0]: m for m, c in enumerate(contracts)}
    shorts = [
        (margin_of[cid], col[sym], float(qty))
        for cid, sym, qty in session.execute(
            select(MarginShort.contract_id, MarginShort.symbol, MarginShort.quantity).where(
                MarginShort.quantity > 0
            )
        )
        if cid in margin_of and sym in col
    ]
    priced = {m for m, _, _ in shorts}
    return Book(
        symbols=symbols,
        names=names,
        account_ids=account_ids,
        customer_ids=customer_ids,
        pos_account=np.array(pa, np.int32),
        pos_symbol=np.array(ps, np.int32),
        qty=np.array(pq, np.float64),
        cost=np.array(pc, np.float64),
        move_pct=move_pct,
        window_min=window,
        volume_ratio=vol_ratio,
        limit_alerts=limit_on,
        margin_rows=np.array([row_of[c[1]] for c in contracts], np.int64),
        margin_cash=np.array([cash[c[1]] for c in contracts], np.float64),
        margin_debt=np.array(
            [float(c[2] + c[4] + (0 if m in priced else c[3])) for m, c in enumerate(contracts)],
            np.float64,
        ),
        short_rows=np.array([m for m, _, _ in shorts], np.int64),
        short_symbol=np.array([c for _, c, _ in shorts], np.int32),
        short_qty=np.array([q for _, _, q in shorts], np.float64),
        warning_line=np.array([float(c[5]) for c in contracts]),
        liquidation_line=np.array([float(c[6]) for c in contracts]),
        withdrawal_line=np.array([float(c[7]) for c in contracts]),
        topup_days=np.array([c[8] for c in contracts], np.int16),
        contract_ids=np.array([c[0] for c in contracts], np.int64),
    )


@lru_cache(maxsize=32)
def _avg_volume(day: date) -> dict[str, float]:
    hist = daily_history()
    recent = hist[hist["date"] < np.datetime64(day)]
    return recent.groupby("code").tail(20).groupby("code")["volume"].mean().to_dict()


def average_volume_20d(symbols: np.ndarray, day: date) -> np.ndarray:
    """20-day average daily volume before ``day`` from the shipped history (NaN when unknown).

    A deployment replaces this with its market-data warehouse; the shipped history covers the
    47 large caps in ``data/SOURCE.md``.
    """
    avg = _avg_volume(day)
    codes = [str(s).split(".")[0] for s in symbols]
    return np.array([avg.get(c, np.nan) for c in codes], dtype=np.float64)


def market_info(
    universe: list[Instrument], day: date, prev_close: np.ndarray | None = None
) -> MarketInfo:
    """Reference data of the day: previous closes, limit prices, 20-day volumes, the intraday risk
    model (open-to-close volatilities) and the time-of-day variance curve."""
    if prev_close is None:
        prev_close = np.array(
            [float(i.last_price) if i.last_price is not None else np.nan for i in universe]
        )
    boards = [i.board if i.kind == "stock" else "main" for i in universe]
    up, down = limit_arrays(
        boards, [i.is_st for i in universe], [i.listed_on for i in universe], prev_close, day
    )
    symbols = np.array([i.symbol for i in universe], dtype=object)
    model = risk_model_for([i.code for i in universe], boards, intraday=True)
    return MarketInfo(
        day,
        prev_close,
        up,
        down,
        average_volume_20d(symbols, day),
        model,
        variance_curve=session_variance_curve(),
    )


# findings -> alerts and outbox ----------------------------------------------------------------
@dataclass
class Recorded:
    alerts: list[Alert]
    notifications: int
    suppressed: int


def _local(moment: datetime) -> datetime:
    return moment.astimezone(SHANGHAI)


def quiet_until(moment: datetime, start: time | None, end: time | None) -> datetime | None:
    """When a quiet period containing ``moment`` ends (None if ``moment`` is not in one)."""
    if start is None or end is None or start == end:
        return None
    local = _local(moment)
    t = local.time()
    inside = (start <= t < end) if start < end else (t >= start or t < end)
    if not inside:
        return None
    end_day = local.date() if (start < end or t < end) else local.date() + timedelta(days=1)
    return datetime.combine(end_day, end, tzinfo=SHANGHAI).astimezone(UTC)


def _thresholds(findings: Findings, book: Book, k: int) -> tuple[str, str, str]:
    """Rule name, symbol and dedup key of holding alert ``k``."""
    pos = int(findings.positions[k])
    rule = RULE_NAMES[int(findings.rules[k])]
    account = int(book.account_ids[book.pos_account[pos]])
    symbol = str(book.symbols[book.pos_symbol[pos]])
    key = f"{rule}:{account}:{symbol}:{findings.time.astimezone(UTC):%Y%m%dT%H%M%S}"
    return rule, symbol, key


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
) -> tuple[str, dict]:
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
    when = findings.time
    candidates: list[tuple[str, dict]] = []
    for k in range(len(findings.positions)):
        pos = int(findings.positions[k])
        rule_code = int(findings.rules[k])
        rule, symbol, key = _thresholds(findings, book, k)
        s = int(book.pos_symbol[pos])
        name, code = str(book.names[s]), symbol.split(".")[0]
        qty, cost, price = float(book.qty[pos]), float(book.cost[pos]), float(prices[s])
        change = float(findings.change[k])
        temp = temperature.get(str(boards[s])) if temperature and boards is not None else None
        if rule_code in (RULE_MOVE_UP, RULE_MOVE_DOWN):
            title, body = explain.move(
                name,
                code,
                int(findings.window[k]),
                change,
                price,
                float(findings.reference[k]),
                qty,
                cost,
                temp,
            )
            severity = "warning" if rule_code == RULE_MOVE_DOWN else "info"
        elif rule_code in (RULE_LIMIT_UP, RULE_LIMIT_DOWN):
            title, body = explain.limit(
                name, code, rule_code == RULE_LIMIT_UP, price, change, qty, cost, temp
            )
            severity = "warning" if rule_code == RULE_LIMIT_DOWN else "info"
        else:
            title, body = explain.volume_spike(name, code, change, qty, price)
            severity = "info"
        candidates.append(
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
                    "quantity": qty,
                    "price": price,
                    "reference": float(findings.reference[k]),
                    "window_min": int(findings.window[k]),
                },
            )
        )

    margin_calls: list[MarginCall] = []
    if len(findings.crossings) or len(findings.forecast_rows):
        from brokercare.accounts.models import MarginContract as MC

        ids = {
            int(book.contract_ids[m])
            for m in np.concatenate([findings.crossings, findings.forecast_rows])
        }
        numbers = dict(session.execute(select(MC.id, MC.contract_no).where(MC.id.in_(ids))).all())
        day = _local(when).date()
        for m, zone in zip(findings.crossings.tolist(), findings.zones.tolist(), strict=True):
            row = int(book.margin_rows[m])
            contract = int(book.contract_ids[m])
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
            key = f"margin_{line}:{contract}:{when.astimezone(UTC):%Y%m%dT%H%M%S}"
            candidates.append(
                _candidate(
                    book,
                    row,
                    key,
                    rule=f"margin_{line}",
                    severity="urgent",
                    title=title,
                    body=body,
                    data={
                        "ratio": ratio,
                        "line": warning if line == "warning" else liq,
                        "deadline": deadline.isoformat(),
                        "shortfall": round(shortfall, 2),
                        "contract_id": contract,
                    },
                )
            )
            margin_calls.append(
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
        for m, line_k, prob in zip(
            findings.forecast_rows.tolist(),
            findings.forecast_line.tolist(),
            findings.forecast_prob.tolist(),
            strict=True,
        ):
            row = int(book.margin_rows[m])
            contract = int(book.contract_ids[m])
            which = "warning" if line_k == 1 else "liquidation"
            line = float(book.warning_line[m] if line_k == 1 else book.liquidation_line[m])
            ratio = float(findings.ratio[m])
            title, body = explain.margin_forecast(
                numbers.get(contract, str(contract)), ratio, line, which, prob, forecast_minutes
            )
            key = f"margin_forecast_{which}:{contract}:{when.astimezone(UTC):%Y%m%dT%H%M%S}"
            candidates.append(
                _candidate(
                    book,
                    row,
                    key,
                    rule=f"margin_forecast_{which}",
                    severity="warning",
                    title=title,
                    body=body,
                    data={
                        "ratio": ratio,
                        "line": line,
                        "probability": round(prob, 4),
                        "horizon_min": forecast_minutes,
                        "contract_id": contract,
                    },
                )
            )
    if not candidates:
        return Recorded([], 0, 0)

    keys = [k for k, _ in candidates]
    existing = set()
    for chunk in range(0, len(keys), 900):
        existing.update(
            session.scalars(
                select(Alert.dedup_key).where(Alert.dedup_key.in_(keys[chunk : chunk + 900]))
            )
        )
    alerts = [Alert(dedup_key=k, fired_at=when, **v) for k, v in candidates if k not in existing]
    if not alerts:
        return Recorded([], 0, 0)
    session.add_all(alerts)
    session.add_all([mc for mc in margin_calls if mc.dedup_key not in existing])
    session.flush()
    sent, suppressed = fan_out(session, alerts, when)
    return Recorded(alerts, sent, suppressed)


def fan_out(session: Session, alerts: list[Alert], when: datetime) -> tuple[int, int]:
    """Notifications for new alerts: one per customer and channel (a digest when several fired
    at once), deferred in quiet hours, suppressed over the hourly cap (urgent ones never are)."""
    by_customer: dict[int, list[Alert]] = defaultdict(list)
    for a in alerts:
        by_customer[a.customer_id].append(a)
    customers = list(by_customer)
    prefs = {
        p.customer_id: p
        for p in session.scalars(
            select(AlertPreference).where(AlertPreference.customer_id.in_(customers))
        )
    }
    hour_ago = when - timedelta(hours=1)
    recent = (
        dict(
            session.execute(
                select(
                    Notification.customer_id,
                    func.count(func.distinct(Notification.kind + Notification.title)),
                )
                .where(
                    Notification.customer_id.in_(customers),
                    Notification.created_at >= hour_ago,
                    Notification.status != "suppressed",
                    Notification.urgent.is_(False),
                )
                .group_by(Notification.customer_id)
            ).all()
        )
        if len(customers) < 5000
        else {}
    )
    created = suppressed = 0
    for cid, items in by_customer.items():
        p = prefs.get(cid)
        channels = list(p.channels) if p is not None and p.channels else ["app"]
        cap = p.hourly_cap if p is not None else DEFAULTS["hourly_cap"]
        urgent = [a for a in items if a.severity == "urgent"]
        normal = [a for a in items if a.severity != "urgent"]
        groups = [[a] for a in urgent]
        if normal:
            groups.append(normal)
        for group in groups:
            is_urgent = group[0].severity == "urgent"
            if len(group) == 1:
                title, body, kind, anchor = group[0].title, group[0].body, group[0].rule, group[0]
            else:
                worst = sorted(group, key=lambda a: a.change_pct or 0)
                title = f"您有 {len(group)} 条持仓提醒"
                body = "；".join(a.title for a in worst[:3]) + (
                    f" 等 {len(group)} 条，请在 App 中查看详情。" if len(group) > 3 else "。"
                )
                kind, anchor = "digest", worst[0]
            not_before = when
            quiet = (
                None if is_urgent or p is None else quiet_until(when, p.quiet_start, p.quiet_end)
            )
            if quiet is not None:
                not_before = quiet
            status = "pending"
            if not is_urgent:
                if recent.get(cid, 0) >= cap:
                    status = "suppressed"
                    suppressed += 1
                recent[cid] = recent.get(cid, 0) + 1
            for channel in channels:
                session.add(
                    Notification(
                        idempotency_key=f"{anchor.dedup_key}:{len(group)}:{channel}",
                        customer_id=cid,
                        alert_id=anchor.id,
                        channel=channel,
                        kind=kind,
                        title=title,
                        body=body,
                        urgent=is_urgent,
                        status=status,
                        not_before=not_before,
                        created_at=when,
                    )
                )
                created += 1
    session.flush()
    return created, suppressed


def alerts_of(session: Session, customer_id: int, limit: int = 50) -> list[Alert]:
    return list(
        session.scalars(
            select(Alert)
            .where(Alert.customer_id == customer_id)
            .order_by(Alert.fired_at.desc())
            .limit(limit)
        )
    )


def ipo_quota(session: Session, customer_id: int, day: date | None = None) -> dict:
    """The customer's IPO subscription quotas for subscription day ``day`` (today in Shanghai by
    default) with the market values behind them and a plain-Chinese ``message``; see
    :func:`brokercare.monitoring.ipo.ipo_quota`."""
    return ipo.ipo_quota(session, customer_id, day or datetime.now(SHANGHAI).date())


# market temperature ---------------------------------------------------------------------------
TEMPERATURE_HISTORY_DAYS = 3


def snapshot_temperatures(
    ev: Evaluator, boards: np.ndarray, volumes: np.ndarray, at: datetime
) -> dict[str, Temperature]:
    """Each board's temperature right after ``ev`` evaluated the snapshot at ``at``."""
    info = ev.info
    return temperatures(
        boards,
        ev.last_price,
        info.prev_close,
        volumes,
        info.avg_volume_20d,
        info.limit_up,
        info.limit_down,
        trading_minute(at) / TRADING_MINUTES_PER_DAY,
    )


def notable(temps: dict[str, Temperature]) -> dict[str, str]:
    """The boards whose mood is worth a sentence in an alert (anything but 正常)."""
    return {b: t.text for b, t in temps.items() if t.band != "正常"}


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


def record_temperatures(session: Session, temps: dict[str, Temperature], at: datetime) -> None:
    """Store the boards' temperatures of the snapshot at ``at`` (caller commits).

    One row per board and minute, overwritten by the minute's later snapshots, so the history is
    per minute; rows older than ``TEMPERATURE_HISTORY_DAYS`` are dropped when a minute opens.
    """
    if not temps:
        return
    at = at.astimezone(UTC)
    minute = at.replace(second=0, microsecond=0)
    rows = {
        r.board: r
        for r in session.scalars(
            select(MarketTemperature).where(
                MarketTemperature.minute == minute, MarketTemperature.board.in_(list(temps))
            )
        )
    }
    opened = False
    for board, t in temps.items():
        row = rows.get(board)
        if row is None:
            row = MarketTemperature(board=board, minute=minute)
            session.add(row)
            opened = True
        row.at = at
        row.score, row.band = round(t.score, 2), t.band
        row.breadth, row.activity = round(t.breadth, 4), round(t.activity, 4)
        row.limit_up, row.limit_down, row.quoted = t.limit_up, t.limit_down, t.quoted
    if opened:
        session.execute(
            delete(MarketTemperature).where(
                MarketTemperature.minute < minute - timedelta(days=TEMPERATURE_HISTORY_DAYS)
            )
        )
    session.flush()


def _temperature_dict(row: MarketTemperature) -> dict:
    return {
        **Temperature(
            row.board,
            row.score,
            row.band,
            row.breadth,
            row.limit_up,
            row.limit_down,
            row.activity,
            row.quoted,
        ).as_dict(),
        "at": row.at,
        "text": temperature_sentence(row),
    }


def temperature_sentence(row: MarketTemperature) -> str:
    """The temperature in plain words, e.g. for the assistant or an alert."""
    name = BOARD_NAMES.get(row.board, row.board)
    moves = (
        "上涨的股票多于下跌的"
        if row.breadth > 0.05
        else ("下跌的股票多于上涨的" if row.breadth < -0.05 else "涨跌家数大致相当")
    )
    volume = (
        f"成交比近 20 日同一时段多 {row.activity - 1:.0%}"
        if row.activity >= 1.1
        else (
            f"成交比近 20 日同一时段少 {1 - row.activity:.0%}"
            if row.activity <= 0.9
            else "成交量和近 20 日差不多"
        )
    )
    local = row.at.astimezone(SHANGHAI)
    return (
        f"截至 {local:%m 月 %d 日 %H:%M}，{name}市场温度 {row.score:.0f}（{row.band}）："
        f"{moves}，涨停 {row.limit_up} 家、跌停 {row.limit_down} 家，{volume}。"
    )


def latest_temperatures(session: Session, boards: list[str] | None = None) -> dict[str, dict]:
    """The newest stored temperature of each board (all boards when ``boards`` is None)."""
    newest = select(
        MarketTemperature.board, func.max(MarketTemperature.minute).label("minute")
    ).group_by(MarketTemperature.board)
    if boards is not None:
        newest = newest.where(MarketTemperature.board.in_(boards))
    newest = newest.subquery()
    rows = session.scalars(
        select(MarketTemperature)
        .join(
            newest,
            (MarketTemperature.board == newest.c.board)
            & (MarketTemperature.minute == newest.c.minute),
        )
        .order_by(MarketTemperature.board)
    )
    return {r.board: _temperature_dict(r) for r in rows}


def temperature_history(session: Session, board: str, minutes: int = 60) -> list[dict]:
    """A board's per-minute temperatures over the last ``minutes`` before its newest, oldest first."""
    last = session.scalar(
        select(func.max(MarketTemperature.minute)).where(MarketTemperature.board == board)
    )
    if last is None:
        return []
    rows = session.scalars(
        select(MarketTemperature)
        .where(
            MarketTemperature.board == board,
            MarketTemperature.minute > last - timedelta(minutes=minutes),
        )
        .order_by(MarketTemperature.minute)
    )
    return [{"at": r.at, "score": r.score, "band": r.band} for r in rows]
