"""The mass tier's monthly post-investment commentary (月度投后点评) and the long tail's monthly
education links (``data/tier_services.yaml``).

The commentary is written from the customer's holdings at the month's end and the month's daily
bars (market's quote store): each of the largest holdings' move over the month, the portfolio's
change on those holdings, the market's move (the configured benchmark). The text passes the
assistant's compliance guard before it is queued; a blocked text is never sent. Both messages ask
the frequency cap first and are sent once per customer and month (the outbox's idempotency key).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd
import polars as pl
from sqlalchemy.orm import Session

from brokercare.accounts.service import holdings_frame
from brokercare.assistant.service import check_outgoing
from brokercare.customers.service import report_recipients
from brokercare.engagement import contact, education
from brokercare.engagement.tiers import config, customers_in, fill
from brokercare.market.service import daily_history, instruments_by_symbol
from brokercare.outbox.schemas import NewMessage
from brokercare.outbox.service import enqueue_many

PARTITION = 20_000
#: Where a library item opens in the customer's app (the customer's page).
LEARN_LINK = "/me/learn/"


@dataclass
class Sent:
    queued: int = 0
    capped: int = 0
    blocked: int = 0
    skipped: int = 0  # nothing to say: no priced holdings


def month_before(day: date) -> tuple[date, date]:
    """The calendar month before ``day``'s: its first and last day."""
    end = day.replace(day=1) - timedelta(days=1)
    return end.replace(day=1), end


def month_moves(session: Session, symbols: list[str], start: date, end: date) -> dict[str, tuple[float, float]]:
    """Per symbol: (close before the month, close at the month's end) from the daily bars; a
    symbol without both is left out."""
    bars = daily_history(session, symbols, before=end + timedelta(days=1), days=60)
    if bars.empty:
        return {}
    out = {}
    for symbol, rows in bars.groupby("symbol"):
        before = rows[rows["date"] < pd.Timestamp(start)]
        within = rows[rows["date"] <= pd.Timestamp(end)]
        if len(before) and len(within) and within["date"].iloc[-1] >= pd.Timestamp(start):
            out[str(symbol)] = (float(before["close"].iloc[-1]), float(within["close"].iloc[-1]))
    return out


def _pct(x: float) -> str:
    return f"{x:+.2%}"


def commentary_text(name: str, month: str, holdings: list[dict], market: tuple[str, float] | None,
                    top: int) -> str:
    """The commentary in plain Chinese; ``holdings``: name, value (month end), start value."""
    value = sum(h["value"] for h in holdings)
    start = sum(h["start_value"] for h in holdings)
    change = value - start
    parts = [f"{name}您好，这是您{month}的投后点评。"]
    if market is not None:
        parts.append(f"本月{market[0]}{'上涨' if market[1] >= 0 else '下跌'}{abs(market[1]):.2%}。")
    parts.append(f"按月末持仓估算，您的持仓市值约{value:,.0f}元，本月变动{change:+,.0f}元（{_pct(change / start)}）。"
                 if start > 0 else f"按月末持仓估算，您的持仓市值约{value:,.0f}元。")
    biggest = sorted(holdings, key=lambda h: (-h["value"], h["name"]))[:top]
    parts.append("占比最大的持仓：" + "；".join(
        f"{h['name']}占{h['value'] / value:.0%}，本月{_pct(h['value'] / h['start_value'] - 1)}"
        for h in biggest) + "。")
    if biggest[0]["value"] / value > 0.3:
        parts.append(f"{biggest[0]['name']}一只就超过持仓的三成，净值波动会比较集中，可以留意分散。")
    parts.append("以上按月末收盘价计算，仅供参考；市场有风险，过去的表现不代表未来。")
    return "".join(parts)


def _holdings_by_customer(frame: pl.DataFrame, moves: dict, names: dict) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for cid, symbol, qty in frame.select("customer_id", "symbol", "quantity").iter_rows():
        if symbol not in moves:
            continue
        before, close = moves[symbol]
        out.setdefault(cid, []).append({"name": names.get(symbol, symbol), "value": qty * close,
                                        "start_value": qty * before})
    return out


def send_monthly_commentary(session: Session, day: date) -> Sent:
    """Last month's commentary to every customer of the commentary's tiers who holds priced
    securities: guarded, capped, queued once per customer and month."""
    cfg = config().monthly_commentary
    start, end = month_before(day)
    month = f"{end.year}年{end.month}月"
    wanted = customers_in(session, cfg.tiers)
    total = Sent()
    for k in range(0, len(wanted), PARTITION):
        ids = wanted[k:k + PARTITION]
        conn = session.connection()
        frame = holdings_frame(conn, lo=ids[0], hi=ids[-1]).filter(pl.col("customer_id").is_in(ids))
        people = report_recipients(conn, lo=ids[0], hi=ids[-1])
        symbols = sorted(set(frame["symbol"].to_list()) | {cfg.benchmark.symbol})
        moves = month_moves(session, symbols, start, end)
        names = {s: i.name for s, i in instruments_by_symbol(session, symbols).items()}
        bench = moves.get(cfg.benchmark.symbol)
        market = (cfg.benchmark.name, bench[1] / bench[0] - 1) if bench else None
        held = _holdings_by_customer(frame, moves, names)
        texts: dict[int, str] = {}
        mine = set(ids)
        for cid, name, level in people.select("customer_id", "name", "risk_level").iter_rows():
            if cid not in mine:
                continue
            if cid not in held:
                total.skipped += 1
                continue
            verdict = check_outgoing(commentary_text(name, month, held[cid], market, cfg.top_holdings), risk_level=level)
            if verdict.action == "block":
                total.blocked += 1
                continue
            texts[cid] = verdict.text
        _send(session, texts, kind="commentary", ref=f"commentary:{end:%Y-%m}", day=day, total=total,
              subject=fill(cfg.subject, {"month": month}), channel=cfg.channel)
    return total


def _send(session: Session, texts: dict[int, str], *, kind: str, ref: str, day: date, total: Sent,
          subject: str, channel: str) -> None:
    allowed = contact.allow(session, [(cid, ref) for cid in sorted(texts)], kind=kind, day=day)
    messages = [NewMessage(channel=channel, kind=f"engagement_{kind}", subject=subject, body=texts[cid],
                           customer_id=cid, idempotency_key=f"engagement:{ref}:{cid}", origin="engagement",
                           origin_ref=ref) for cid in sorted(texts) if (cid, ref) in allowed]
    total.queued += sum(q.created for q in enqueue_many(session, messages))
    total.capped += len(texts) - len(messages)


def send_education(session: Session, day: date) -> Sent:
    """This month's education links to every customer of the education's tiers, capped, once a
    month: each customer's own top unfinished items of the library (:mod:`engagement.library`,
    chosen by their profile), then the regulators' and exchanges' education sites."""
    cfg = config().education
    month = f"{day.year}年{day.month}月"
    wanted = customers_in(session, cfg.tiers)
    total = Sent()
    sites = "\n".join(f"· {link.title}：{link.url}" for link in cfg.links)
    for k in range(0, len(wanted), PARTITION):
        ids = set(wanted[k:k + PARTITION])
        lo, hi = min(ids), max(ids)
        people = report_recipients(session.connection(), lo=lo, hi=hi)
        picks = education.monthly_links(session, ids, lo, hi)
        texts = {cid: "\n".join([fill(cfg.intro, {"name": name}),
                                 *(f"· {i.title}（约{i.minutes}分钟）：{LEARN_LINK}{i.key}" for i in picks.get(cid, [])),
                                 sites])
                 for cid, name in people.select("customer_id", "name").iter_rows() if cid in ids}
        _send(session, texts, kind="education", ref=f"education:{day:%Y-%m}", day=day, total=total,
              subject=fill(cfg.subject, {"month": month}), channel=cfg.channel)
    return total
