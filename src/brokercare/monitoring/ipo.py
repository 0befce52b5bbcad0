"""IPO calendar (打新): quotas from market value, applications, winning lots, payment, unpaid wins.

T is the subscription day. The quota looks at the customer's non-restricted A-share market value
per exchange at each close of the 20 trading days ending T-2 (``market_value_daily``, recorded
nightly by :func:`record_market_values`); a day without holdings counts as zero. Winning lots are
announced on T+2 morning and must be paid by 16:00 on T+2; a win not paid is "abandoned", and
3 abandoned wins within 12 months bar the customer from online subscriptions for 6 months.
Rules are data (``data/ipo_rules.yaml``) with their sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from importlib import resources

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from brokercare.accounts.service import available_cash, stock_value_by_exchange
from brokercare.core.amounts import format_amount
from brokercare.core.calendar import SHANGHAI, add_trading_days, trading_days
from brokercare.core.database import utcnow
from brokercare.core.errors import Conflict, NotFound, ValidationFailed
from brokercare.monitoring.alerts import ORIGIN
from brokercare.monitoring.models import IpoApplication, IpoIssue, MarketValueDaily
from brokercare.outbox.service import enqueue


@lru_cache
def rules() -> dict:
    text = (
        resources.files("brokercare.monitoring").joinpath("data/ipo_rules.yaml").read_text("utf-8")
    )
    return yaml.safe_load(text)


def quota_window(day: date) -> tuple[date, date]:
    r = rules()
    end = add_trading_days(day, -r["lookback_ends_before_t"])
    start = add_trading_days(end, -(r["lookback_trading_days"] - 1))
    return start, end


def quota_for(exchange: str, board: str, average: float) -> int:
    r = rules()
    if average < r["minimum_average"]:
        return 0
    for q in r["quota"]:
        if q["exchange"] == exchange and q["board"] == board:
            return int(average // q["per_value"]) * q["shares"]
    return 0


def unit_for(exchange: str, board: str) -> int:
    for q in rules()["quota"]:
        if q["exchange"] == exchange and q["board"] == board:
            return int(q["shares"])
    raise ValidationFailed("暂不支持该板块的新股网上申购")


def _add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    y += d.year
    m += 1
    last = [
        31,
        29 if y % 4 == 0 and (y % 100 or y % 400 == 0) else 28,
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ][m - 1]
    return date(y, m, min(d.day, last))


@dataclass(frozen=True)
class BanStatus:
    abandoned_12m: int
    banned_until: date | None


def ban_status(session: Session, customer_id: int, day: date) -> BanStatus:
    r = rules()["unpaid"]
    since = _add_months(day, -r["window_months"])
    rows = session.execute(
        select(IpoApplication.settled_at, IpoIssue.payment_on)
        .join(IpoIssue, IpoIssue.id == IpoApplication.issue_id)
        .where(
            IpoApplication.customer_id == customer_id,
            IpoApplication.status == "abandoned",
            IpoIssue.payment_on > since,
            IpoIssue.payment_on <= day,
        )
        .order_by(IpoIssue.payment_on)
    ).all()
    dates = [p for _s, p in rows]
    banned_until = None
    # the ban starts after the third abandonment inside any 12-month window
    for k in range(r["count"] - 1, len(dates)):
        if dates[k] <= _add_months(dates[k - r["count"] + 1], r["window_months"]):
            until = dates[k] + timedelta(days=r["ban_days"])
            if until >= day:
                banned_until = until
    return BanStatus(len(dates), banned_until)


def ipo_quota(session: Session, customer_id: int, day: date) -> dict:
    """Read-only: the customer's subscription quotas for subscription day ``day`` (the
    assistant's answer to "我能打多少新股"), with the market values they come from."""
    start, end = quota_window(day)
    n_days = len(trading_days(start, end))
    sums = dict(
        session.execute(
            select(MarketValueDaily.exchange, func.sum(MarketValueDaily.value))
            .where(
                MarketValueDaily.customer_id == customer_id,
                MarketValueDaily.day >= start,
                MarketValueDaily.day <= end,
            )
            .group_by(MarketValueDaily.exchange)
        ).all()
    )
    avg = {ex: float(sums.get(ex) or 0) / n_days for ex in ("SH", "SZ")}
    ban = ban_status(session, customer_id, day)
    quotas = {
        "SH_main": quota_for("SH", "main", avg["SH"]),
        "SH_star": quota_for("SH", "star", avg["SH"]),
        "SZ": quota_for("SZ", "main", avg["SZ"]),
    }
    if ban.banned_until:
        quotas = {k: 0 for k in quotas}
    issues = [
        {
            "code": i.code,
            "name": i.name,
            "exchange": i.exchange,
            "board": i.board,
            "price": float(i.price),
            "max_shares": i.max_shares,
            "can_apply": min(i.max_shares, _quota_of(quotas, i.exchange, i.board)),
        }
        for i in session.scalars(
            select(IpoIssue).where(IpoIssue.subscribe_on == day).order_by(IpoIssue.code)
        )
    ]
    return {
        "customer_id": customer_id,
        "day": day.isoformat(),
        "window": [start.isoformat(), end.isoformat()],
        "average_market_value": {k: round(v, 2) for k, v in avg.items()},
        "quota": quotas,
        "abandoned_12m": ban.abandoned_12m,
        "banned_until": ban.banned_until.isoformat() if ban.banned_until else None,
        "issues": issues,
        "message": _quota_message(avg, quotas, ban, start, end),
    }


def _quota_of(quotas: dict, exchange: str, board: str) -> int:
    if exchange == "SH":
        return quotas["SH_star"] if board == "star" else quotas["SH_main"]
    if exchange == "SZ":
        return quotas["SZ"]
    return 0


def _quota_message(avg: dict, quotas: dict, ban: BanStatus, start: date, end: date) -> str:
    if ban.banned_until:
        return (
            f"您近 12 个月内有 {ban.abandoned_12m} 次中签后未缴款，按规定在 {ban.banned_until:%Y年%m月%d日} 前"
            "不能参与新股、可转债等网上申购。"
        )
    span = f"{start.month}月{start.day}日至{end.month}月{end.day}日"
    parts = [
        f"按 {span} 20 个交易日的日均持仓市值计算：沪市 {format_amount(avg['SH'])}，深市 {format_amount(avg['SZ'])}。",
        f"沪市主板可申购 {quotas['SH_main']:,} 股，科创板 {quotas['SH_star']:,} 股，深市（主板、创业板）{quotas['SZ']:,} 股。",
    ]
    if max(quotas.values()) == 0:
        parts.append("任一市场日均市值达到 1 万元即可获得该市场的申购额度。")
    return "".join(parts)


def apply(
    session: Session, customer_id: int, issue_code: str, shares: int, day: date
) -> IpoApplication:
    """Record a subscription; refused (in Chinese) outside the day, over quota or cap, or banned."""
    issue = session.scalar(select(IpoIssue).where(IpoIssue.code == issue_code))
    if issue is None:
        raise NotFound(f"没有找到申购代码为 {issue_code} 的新股")
    if issue.subscribe_on != day:
        raise ValidationFailed(
            f"{issue.name} 的申购日是 {issue.subscribe_on:%Y年%m月%d日}，今天不能申购"
        )
    q = ipo_quota(session, customer_id, day)
    if q["banned_until"]:
        raise ValidationFailed(q["message"])
    unit = unit_for(issue.exchange, issue.board)
    limit = min(issue.max_shares, _quota_of(q["quota"], issue.exchange, issue.board))
    if shares <= 0 or shares % unit:
        raise ValidationFailed(f"申购数量须为 {unit} 股的整数倍")
    if shares > limit:
        raise ValidationFailed(f"申购数量超过您的可申购上限 {limit:,} 股")
    exists = session.scalar(
        select(IpoApplication).where(
            IpoApplication.customer_id == customer_id, IpoApplication.issue_id == issue.id
        )
    )
    if exists:
        raise Conflict("同一只新股只能申购一次，您已提交过申购")
    app = IpoApplication(customer_id=customer_id, issue_id=issue.id, shares=shares, quota=limit)
    session.add(app)
    session.flush()
    return app


def record_lottery(session: Session, issue_code: str, winners: dict[int, int]) -> int:
    """Apply the lottery result: ``winners`` maps customer id to shares won."""
    issue = session.scalar(select(IpoIssue).where(IpoIssue.code == issue_code))
    if issue is None:
        raise NotFound(f"没有找到申购代码为 {issue_code} 的新股")
    apps = session.scalars(
        select(IpoApplication).where(
            IpoApplication.issue_id == issue.id, IpoApplication.status == "applied"
        )
    ).all()
    for a in apps:
        won = winners.get(a.customer_id, 0)
        if won > a.shares:
            raise ValidationFailed(f"customer {a.customer_id} cannot win more than applied")
        a.won_shares, a.status = won, ("won" if won else "lost")
    session.flush()
    return sum(1 for a in apps if a.won_shares)


def _notify(
    session: Session,
    key: str,
    customer_id: int,
    kind: str,
    title: str,
    body: str,
    at: datetime,
    urgent: bool = False,
) -> bool:
    """Queue an app message (not before ``at``); False when this key was queued before."""
    return enqueue(session, channel="app", kind=kind, subject=title, body=body, urgent=urgent,
                   customer_id=customer_id, origin=ORIGIN, origin_ref=key, idempotency_key=key,
                   not_before=at).created


def _at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=SHANGHAI)


def daily_reminders(session: Session, day: date) -> dict[str, int]:
    """Queue the day's IPO notices (idempotent: re-running the job adds nothing)."""
    counts = {"subscription": 0, "winning": 0, "payment": 0}
    issues = session.scalars(select(IpoIssue).where(IpoIssue.subscribe_on == day)).all()
    if issues:
        start, end = quota_window(day)
        n_days = len(trading_days(start, end))
        averages = session.execute(
            select(
                MarketValueDaily.customer_id,
                MarketValueDaily.exchange,
                func.sum(MarketValueDaily.value),
            )
            .where(MarketValueDaily.day >= start, MarketValueDaily.day <= end)
            .group_by(MarketValueDaily.customer_id, MarketValueDaily.exchange)
        ).all()
        for cid, exchange, total in averages:
            avg = float(total) / n_days
            for issue in issues:
                if issue.exchange != exchange:
                    continue
                quota = min(issue.max_shares, quota_for(exchange, issue.board, avg))
                if quota <= 0 or ban_status(session, cid, day).banned_until:
                    continue
                body = (
                    f"今日可申购新股 {issue.name}（申购代码 {issue.code}），发行价 {float(issue.price):.2f} 元，"
                    f"您本次最多可申购 {quota:,} 股。申购无需预先缴款，中签后请在 T+2 日 16:00 前确保资金到账。"
                )
                if _notify(
                    session,
                    f"ipo:sub:{issue.code}:{cid}",
                    cid,
                    "ipo_subscription",
                    f"今日新股申购：{issue.name}",
                    body,
                    _at(day, 9, 0),
                ):
                    counts["subscription"] += 1
    for app, issue, due, cash in _wins(session, IpoIssue.results_on, day):
        body = (
            f"恭喜！您申购的 {issue.name}（{issue.code}）中签 {app.won_shares:,} 股，应缴款 {format_amount(due)}。"
            f"请在今天 16:00 前确保资金账户可用余额足额，逾期视为放弃认购。"
        )
        if _notify(
            session,
            f"ipo:win:{issue.code}:{app.customer_id}",
            app.customer_id,
            "ipo_winning",
            f"新股中签：{issue.name}",
            body,
            _at(day, 8, 30),
        ):
            counts["winning"] += 1
        if Decimal(cash) < due:
            short = due - Decimal(cash)
            body = (
                f"您中签的 {issue.name} 需缴款 {format_amount(due)}，目前资金账户可用余额还差约 {format_amount(short)}。"
                f"请在今天 16:00 前转入资金，否则视为放弃认购；12 个月内累计 3 次中签未缴款将 6 个月不能参与打新。"
            )
            if _notify(
                session,
                f"ipo:pay:{issue.code}:{app.customer_id}",
                app.customer_id,
                "ipo_payment",
                "中签缴款提醒",
                body,
                _at(day, 14, 0),
                urgent=True,
            ):
                counts["payment"] += 1
    session.flush()
    return counts


def _wins(
    session: Session, on, day: date
) -> list[tuple[IpoApplication, IpoIssue, Decimal, Decimal]]:
    """Won, unsettled applications of issues whose date column ``on`` is ``day``, each with the
    amount due and the customer's available cash (cash accounts, less frozen funds)."""
    rows = session.execute(
        select(IpoApplication, IpoIssue)
        .join(IpoIssue, IpoIssue.id == IpoApplication.issue_id)
        .where(on == day, IpoApplication.status == "won")
    ).all()
    cash = available_cash(session, (app.customer_id for app, _ in rows))
    return [
        (app, issue, Decimal(app.won_shares) * issue.price, cash[app.customer_id])
        for app, issue in rows
    ]


def settle_payments(session: Session, day: date) -> dict[str, int]:
    """After 16:00 on T+2: wins with enough cash are paid, the others abandoned (and warned)."""
    out = {"paid": 0, "abandoned": 0}
    for app, issue, due, cash in _wins(session, IpoIssue.payment_on, day):
        app.settled_at = utcnow()
        if Decimal(cash) >= due:
            app.status = "paid"
            out["paid"] += 1
            continue
        app.status = "abandoned"
        out["abandoned"] += 1
        session.flush()
        ban = ban_status(session, app.customer_id, day)
        if ban.banned_until:
            body = (
                f"您中签的 {issue.name} 未在规定时间内足额缴款，视为放弃认购。这是 12 个月内第 {ban.abandoned_12m} 次，"
                f"按规定 {ban.banned_until:%Y年%m月%d日} 前不能参与新股、可转债等网上申购。"
            )
            title = "打新资格受限通知"
        else:
            left = rules()["unpaid"]["count"] - ban.abandoned_12m
            body = (
                f"您中签的 {issue.name} 未在规定时间内足额缴款，视为放弃认购（12 个月内第 {ban.abandoned_12m} 次）。"
                f"再有 {left} 次将被限制 6 个月不能参与打新，请中签后及时缴款。"
            )
            title = "中签未缴款提醒"
        _notify(
            session,
            f"ipo:abandon:{issue.code}:{app.customer_id}",
            app.customer_id,
            "ipo_abandoned",
            title,
            body,
            _at(day, 16, 30),
            urgent=True,
        )
    session.flush()
    return out


def record_market_values(session: Session, day: date) -> int:
    """Store every customer's closing market value per exchange (stocks only, SH includes STAR)."""
    rows = stock_value_by_exchange(session, ("SH", "SZ"))
    existing = {
        (c, e)
        for c, e in session.execute(
            select(MarketValueDaily.customer_id, MarketValueDaily.exchange).where(
                MarketValueDaily.day == day
            )
        )
    }
    added = 0
    for cid, exchange, value in rows:
        if (cid, exchange) in existing:
            continue
        session.add(
            MarketValueDaily(
                customer_id=cid,
                day=day,
                exchange=exchange,
                value=Decimal(str(round(float(value), 2))),
            )
        )
        added += 1
    session.flush()
    return added


def upcoming(session: Session, start: date, days: int = 10) -> list[IpoIssue]:
    return list(
        session.scalars(
            select(IpoIssue)
            .where(
                IpoIssue.subscribe_on >= start,
                IpoIssue.subscribe_on <= start + timedelta(days=days),
            )
            .order_by(IpoIssue.subscribe_on, IpoIssue.code)
        )
    )
