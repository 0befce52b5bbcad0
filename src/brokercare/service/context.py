"""Routing facts: what the hub knows of the sender when it decides, and what a person is shown.

The customer's tier and manager, open tickets, how often they wrote this week, whether their
account is frozen or a stock they hold hit its limit — read for a whole batch of messages at
once where the hot path allows — and, on a hand-off, the summary the agent reads first.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from brokercare.accounts import service as accounts
from brokercare.core.calendar import SHANGHAI
from brokercare.core.errors import NotFound
from brokercare.customers import service as customers
from brokercare.service import assistant as hub_assistant
from brokercare.service.assistant import Analysis, intent_name, symbols
from brokercare.service.cases import similar_line
from brokercare.service.channels import CHANNEL_ZH
from brokercare.service.models import Conversation, Message, Ticket
from brokercare.service.routing import RoutingContext, load_policy
from brokercare.service.tickets import open_ticket_counts

TIER_ZH = {"vip": "VIP", "potential": "潜力客户", "mass": "大众客户", "long_tail": "长尾客户",
           "prospect": "潜在客户"}
EMOTION_ZH = {"calm": "平静", "anxious": "焦虑", "angry": "愤怒", "disappointed": "失望",
              "satisfied": "满意"}


def customer_record(session: Session, customer_id: int | None) -> Any:
    """The customer record (``None`` for a prospect or an id the customers domain does not know)."""
    if customer_id is None:
        return None
    try:
        return customers.get_customer(session, customer_id)
    except NotFound:
        return None


def customer_manager_id(session: Session, customer_id: int | None) -> int | None:
    record = customer_record(session, customer_id)
    return record.manager_id if record is not None else None


def tiers_and_managers(session: Session, customer_ids: list[int]) -> dict[int, tuple[str, int | None]]:
    """Tier and dedicated manager of each customer in one read (per batch); a customer the
    customers domain does not know counts as mass, with no manager."""
    ids = [c for c in customer_ids if c is not None]
    found = customers.tiers_and_managers(session, ids) if ids else {}
    return {cid: found.get(cid, ("mass", None)) for cid in ids}


def holdings(session: Session, customer_id: int | None) -> list[dict]:
    """The customer's positions as ``{symbol, name, quantity, market_value}`` dicts."""
    if customer_id is None:
        return []
    return [{"symbol": p.symbol, "name": p.name, "quantity": str(p.quantity),
             "market_value": str(p.market_value) if p.market_value is not None else None}
            for p in accounts.positions_of(session, customer_id)]


def account_frozen(session: Session, customer_id: int | None) -> bool:
    if customer_id is None:
        return False
    return any(a.status == "frozen" for a in accounts.accounts_of(session, customer_id))


def assistant_prefetched(session: Session, customer_ids: list[int]) -> AbstractContextManager[None]:
    """The assistant's batch context (one read of accounts and risk levels for these customers'
    replies); a no-op without an assistant."""
    assistant = hub_assistant.current()
    return assistant.prefetched(session, customer_ids) if assistant is not None else nullcontext()


@dataclass
class ContactFacts:
    """What the routing context knows of a contact from the database, read for a whole batch of
    messages at once: tier and manager, open tickets, and the contact sessions of the last 7 days
    (distinct channel and Beijing date of inbound messages)."""

    tier: str = "prospect"
    manager_id: int | None = None
    open_tickets: int = 0
    sessions_7d: frozenset = frozenset()

    def contacts_7d(self, now: datetime, incoming: str | None = None) -> int:
        """``incoming``: the channel of a message not stored yet, counted as of ``now``."""
        seen = set(self.sessions_7d)
        if incoming:
            seen.add((incoming, now.astimezone(SHANGHAI).date().isoformat()))
        return max(1, len(seen))


def _beijing_date(session: Session, column):
    """SQL for the Beijing calendar date of a UTC timestamp column (China keeps no summer time)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("Asia/Shanghai", column), "YYYY-MM-DD")
    return func.date(column, "+8 hours")


def contact_facts(session: Session, contacts: list[tuple[int, int | None]], now: datetime) -> dict[int, ContactFacts]:
    """:class:`ContactFacts` of each ``(contact_id, customer_id)``, in three reads however many."""
    contact_ids = list({c for c, _ in contacts})
    tiers = tiers_and_managers(session, [cust for _, cust in contacts if cust is not None])
    tickets = open_ticket_counts(session, contact_ids)
    sessions: dict[int, set] = {c: set() for c in contact_ids}
    day = _beijing_date(session, Message.sent_at)
    for contact_id, channel, date in session.execute(
            select(Message.contact_id, Message.channel, day).distinct().where(
                Message.contact_id.in_(contact_ids), Message.direction == "in",
                Message.sent_at >= now - timedelta(days=7))):
        sessions[contact_id].add((channel, str(date)))
    out = {}
    for contact_id, customer_id in contacts:
        tier, manager_id = tiers.get(customer_id, ("prospect", None)) if customer_id else ("prospect", None)
        out[contact_id] = ContactFacts(tier, manager_id, tickets.get(contact_id, 0),
                                       frozenset(sessions[contact_id]))
    return out


class Holdings:
    """The customer's positions, read only if a rule or a hand-off summary needs them."""

    def __init__(self, session: Session, customer_id: int | None) -> None:
        self.session, self.customer_id, self._rows = session, customer_id, None

    def __call__(self) -> list[dict]:
        if self._rows is None:
            self._rows = holdings(self.session, self.customer_id)
        return self._rows


def _emergency(session: Session, analysis: Analysis, text: str, customer_id: int | None,
               held: Holdings) -> str | None:
    policy = load_policy()
    if customer_id is None:
        return None
    if analysis.intent in policy.emergency.intents:
        return "account_frozen"
    if analysis.intent in ("account_frozen", "login_security") and account_frozen(session, customer_id):
        return "account_frozen"
    if any(w in text for w in policy.emergency.limit_down_words):
        named = set(symbols(analysis))
        for h in held():
            if h["symbol"] in named or (h.get("name") and h["name"] in text):
                return "limit_down"
    return None


def build_context(session: Session, conv: Conversation, analysis: Analysis, text: str,
                  now: datetime, held: Holdings, *, incoming: str | None = None,
                  facts: ContactFacts | None = None) -> RoutingContext:
    """The routing inputs; ``incoming``: the channel of a message about to be stored (planned
    before the write), else the message is already in the thread; ``facts``: read already for
    a batch (:func:`contact_facts`)."""
    if facts is None:
        facts = contact_facts(session, [(conv.contact_id, conv.customer_id)], now)[conv.contact_id]
    reason = _emergency(session, analysis, text, conv.customer_id, held)
    return RoutingContext(
        tier=facts.tier,
        open_tickets=facts.open_tickets,
        contacts_7d=facts.contacts_7d(now, incoming),
        business_hours=load_policy().business_hours.is_open(now),
        emergency=reason is not None,
        emergency_reason=reason,
        has_manager=facts.manager_id is not None,
        channel=incoming or conv.channel,
    )


@dataclass
class ThreadSoFar:
    """What a hand-off summary shows of the thread before the message being handed off: the last
    messages (sender, text, channel), newest first, and the contact's open tickets. Read while
    planning, so the write that hands the thread over reads nothing more."""

    recent: list[tuple[str, str, str]]
    open_tickets: list[str]


def thread_so_far(session: Session, conv: Conversation | None, contact_id: int, *,
                  before_id: int | None = None) -> ThreadSoFar:
    """The thread until the message being handed off (``before_id``: that message, when it is
    stored already)."""
    stmt = select(Message.sender, Message.text, Message.channel)
    if before_id is not None:
        stmt = stmt.where(Message.id < before_id)
    recent = [] if conv is None or conv.id is None else [
        (m.sender, m.text, m.channel) for m in session.execute(
            stmt.where(Message.conversation_id == conv.id).order_by(Message.id.desc()).limit(30))]
    return ThreadSoFar(recent, list(session.scalars(select(Ticket.ticket_no).where(
        Ticket.contact_id == contact_id, Ticket.status.in_(("open", "in_progress", "waiting_on_customer"))))))


def handoff_summary(conv: Conversation, analysis: Analysis, ctx: RoutingContext, held: list[dict], text: str,
                    *, before: ThreadSoFar, answered: str | None = None, ticket_no: str | None = None,
                    similar: list[dict] | None = None) -> dict:
    """What the human needs to see at once: intent, emotion, holdings touched, what the AI said.
    ``before``: the thread until this message; ``answered``: the AI's answer to it, if any;
    ``ticket_no``: the ticket opened for it; ``similar``: resolved cases like it
    (:func:`brokercare.service.cases.similar_cases`, as dicts)."""
    ai_said = [t for sender, t, _c in ([("ai", answered, "")] if answered else []) + before.recent
               if sender == "ai"][:3][::-1]
    customer_said = [t for sender, t, _c in [("customer", text, "")] + before.recent if sender == "customer"][:3][::-1]
    channels = sorted({conv.channel} | {c for _s, _t, c in before.recent})
    named = set(symbols(analysis))
    all_text = text + "".join(customer_said)
    touched = [h for h in held if h["symbol"] in named or (h.get("name") and h["name"] in all_text)]
    if not touched and analysis.intent in ("position_diagnosis", "margin_ratio", "margin_liquidation",
                                            "pnl_query", "robo_advice"):
        touched = sorted(held, key=lambda h: float(h.get("market_value") or 0), reverse=True)[:5]
    open_tickets = before.open_tickets + ([ticket_no] if ticket_no and ticket_no not in before.open_tickets else [])
    intent_zh = intent_name(analysis.intent)
    emotion_zh = EMOTION_ZH.get(analysis.emotion, analysis.emotion)
    parts = [
        f"{TIER_ZH.get(ctx.tier, ctx.tier)}经{'、'.join(CHANNEL_ZH.get(c, c) for c in channels) or CHANNEL_ZH.get(conv.channel, conv.channel)}渠道咨询「{intent_zh}」"
        f"（置信度 {analysis.confidence:.2f}），情绪{emotion_zh}（强度 {analysis.intensity:.1f}）。",
    ]
    if ctx.emergency_reason:
        parts.append("紧急情况：" + {"account_frozen": "账户冻结", "limit_down": "持仓跌停"}[ctx.emergency_reason] + "。")
    if touched:
        parts.append("涉及持仓：" + "；".join(
            f"{h.get('name') or ''} {h['symbol']} {h['quantity']} 股/份"
            + (f"，市值约 {h['market_value']} 元" if h.get("market_value") else "") for h in touched) + "。")
    if ai_said:
        parts.append("AI 已答复：" + ai_said[-1][:120] + ("…" if len(ai_said[-1]) > 120 else ""))
    else:
        parts.append("AI 尚未答复（直接转人工）。")
    if open_tickets:
        parts.append(f"未结工单：{', '.join(open_tickets)}。")
    if ctx.contacts_7d > 1:
        parts.append(f"近 7 天第 {ctx.contacts_7d} 次联系。")
    similar = list(similar or [])
    if similar:
        parts.append(similar_line(similar))
    return {
        "intent": analysis.intent, "intent_zh": intent_zh, "confidence": round(analysis.confidence, 3),
        "emotion": analysis.emotion, "intensity": round(analysis.intensity, 2), "tier": ctx.tier,
        "channels": channels, "holdings_touched": touched, "ai_said": ai_said,
        "customer_said": customer_said, "open_tickets": list(open_tickets),
        "contacts_7d": ctx.contacts_7d, "emergency": ctx.emergency_reason, "similar_cases": similar,
        "text": "".join(parts),
    }
