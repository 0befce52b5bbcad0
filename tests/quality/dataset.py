"""A known month of a small broker's service desk (November 2026), written straight into the
tables: conversations with their messages, tickets with SLA clocks, CSAT answers, complaints as
feedback, and the alerts the monitoring domain queued in the outbox. The KPI tests compute every
figure of it again with hand-written SQL; the report tests render it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from brokercare.core.calendar import SHANGHAI
from brokercare.customers.models import Customer, CustomerProfile
from brokercare.outbox.models import OutboxMessage
from brokercare.security.crypto import blind_index, get_cipher
from brokercare.security.models import User
from brokercare.service.models import (
    AgentProfile,
    Contact,
    Conversation,
    CsatSurvey,
    Feedback,
    Message,
    SlaClock,
    Ticket,
)

MONTH = "2026-11"
#: When the report is made: the first trading day of December, before the desk opens.
AS_OF = datetime(2026, 12, 1, 8, 0, tzinfo=SHANGHAI)


def bj(month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=SHANGHAI)


@dataclass
class Desk:
    staff: dict[str, User] = field(default_factory=dict)
    contacts: dict[str, Contact] = field(default_factory=dict)
    conversations: dict[str, Conversation] = field(default_factory=dict)
    tickets: dict[str, Ticket] = field(default_factory=dict)


def _staff(session: Session, desk: Desk) -> None:
    for username, name, role, lead in [("lead_zhou", "周组长", "team_lead", None), ("lead_wu", "吴组长", "team_lead", None),
                                       ("agent_wang", "王敏", "agent", "lead_zhou"),
                                       ("agent_chen", "陈洁", "agent", "lead_zhou"),
                                       ("mgr_li", "李经理", "customer_manager", "lead_wu")]:
        user = User(username=username, display_name=name, role=role, password_hash="x", active=True)
        session.add(user)
        session.flush()
        lead_id = desk.staff[lead].id if lead else None
        session.add(AgentProfile(user_id=user.id, skills=["trading"], max_concurrent=3, team_lead_id=lead_id))
        desk.staff[username] = user


def _customers(session: Session, desk: Desk) -> None:
    cipher = get_cipher(session)
    people = [("lin", "林国华", "vip", "80000000", "active"), ("su", "苏晓梅", "potential", "9000000", "active"),
              ("zhang", "张伟", "mass", "1200000", "active"), ("wang", "王芳", "long_tail", "80000", "active"),
              ("liu", "刘洋", "mass", "2600000", "active"), ("zhao", "赵强", "mass", "900000", "closed")]
    for no, (key, name, tier, aum, status) in enumerate(people, start=1):
        c = Customer(customer_no=f"C{no:08d}", name=name, gender="M", birth_date=date(1979, 4, no),
                     id_number_enc=cipher.encrypt(f"3101041979040{no}123X"),
                     id_number_hash=blind_index(f"3101041979040{no}123X"),
                     phone_enc=cipher.encrypt(f"1391234567{no}"), phone_hash=blind_index(f"1391234567{no}"),
                     province="上海", city="上海", occupation="企业职员", branch_code="SH01",
                     opened_on=date(2019, 6, 1), status=status)
        session.add(c)
        session.flush()
        session.add(CustomerProfile(customer_id=c.id, aum=Decimal(aum), tier=tier, tags=[], features={}))
        contact = Contact(customer_id=c.id, kind="customer", label=name, created_at=bj(10, 1, 9))
        session.add(contact)
        desk.contacts[key] = contact
    prospect = Contact(customer_id=None, kind="prospect", label="访客 7731", created_at=bj(11, 12, 16))
    session.add(prospect)
    desk.contacts["visitor"] = prospect
    session.flush()


# key, contact, channel, intent, started, waiting, agent, first human reply, closed, customer text
CONVERSATIONS = [
    ("I", "zhang", "app", "chitchat", bj(10, 30, 10), None, None, None, bj(10, 30, 10, 20), "你好，在吗"),
    ("K", "wang", "wechat", "market_quote", bj(11, 1, 0, 30), None, None, None, bj(11, 1, 0, 50),
     "今天创业板怎么跌这么多？"),
    ("A", "lin", "wechat", "margin_ratio", bj(11, 3, 10), bj(11, 3, 10, 1), "agent_wang", bj(11, 3, 10, 4),
     bj(11, 3, 10, 30), "我的维持担保比例现在是多少？会不会被平仓？"),
    ("B", "zhang", "app", "bank_transfer", bj(11, 3, 14), None, None, None, bj(11, 3, 14, 35),
     "银证转账每天几点可以转出？"),
    ("C", "zhang", "app", "transfer_status", bj(11, 4, 9), bj(11, 4, 9, 2), "agent_chen", bj(11, 4, 9, 12),
     bj(11, 4, 9, 40), "昨天转出的五万块钱怎么还没到账？"),
    ("D", "wang", "web", "password_reset", bj(11, 5, 20), None, None, None, bj(11, 5, 20, 30),
     "忘记资金密码了，怎么重置？"),
    ("E", "su", "email", "complaint", bj(11, 10, 9, 30), bj(11, 10, 9, 31), "agent_chen", bj(11, 10, 10, 31),
     bj(11, 10, 11), "你们的APP行情不刷新，导致我错过卖点，要求给个说法"),
    ("F", "visitor", "web", "account_open", bj(11, 12, 16), None, None, None, None, "请问开户需要带什么材料？"),
    ("G", "lin", "phone", "margin_liquidation", bj(11, 20, 14, 50), bj(11, 20, 14, 50), "agent_wang",
     bj(11, 20, 14, 52), bj(11, 20, 15, 20), "持仓的股票跌停了，券商说要强制平仓，我该怎么办？"),
    ("H", "liu", "app", "fund_trade", bj(11, 28, 10), bj(11, 28, 10), "mgr_li", bj(11, 28, 10, 20),
     bj(11, 28, 10, 40), "赎回的货币基金什么时候到账？"),
    ("J", "wang", "web", "pnl_query", bj(12, 1, 0, 30), None, None, None, bj(12, 1, 0, 45), "我这个月总共赚了多少？"),
]


def _conversations(session: Session, desk: Desk) -> None:
    for key, who, channel, intent, started, waiting, agent, replied, closed, text in CONVERSATIONS:
        contact = desk.contacts[who]
        agent_id = desk.staff[agent].id if agent else None
        conv = Conversation(contact_id=contact.id, customer_id=contact.customer_id, channel=channel,
                            status="closed" if closed else "bot", last_intent=intent, assigned_agent_id=agent_id,
                            waiting_since=waiting, assigned_at=waiting, first_human_response_at=replied,
                            started_at=started, last_message_at=closed or started, closed_at=closed)
        session.add(conv)
        session.flush()
        session.add(Message(conversation_id=conv.id, contact_id=contact.id, direction="in", sender="customer",
                            channel=channel, text=text, sent_at=started))
        if replied:
            session.add(Message(conversation_id=conv.id, contact_id=contact.id, direction="out", sender="agent",
                                agent_id=agent_id, channel=channel, text="您好，我是您的专属客服，马上为您查询。",
                                sent_at=replied))
        desk.conversations[key] = conv
    session.flush()


# key, conversation, contact, channel, category, source, priority, assignee, created, resolved
# (张伟's transfer ticket TC was reopened once: the money had not arrived after all)
TICKETS = [
    ("M", None, "lin", "branch", "statement", "staff", "general", "agent_wang", bj(10, 30, 10), bj(11, 2, 10)),
    ("TC", "C", "zhang", "app", "transfer_status", "ai_unresolved", "urgent", "agent_chen", bj(11, 4, 9, 10),
     bj(11, 4, 15, 10)),
    ("TE", "E", "su", "email", "complaint", "complaint", "urgent", "agent_chen", bj(11, 10, 9, 35), bj(11, 11, 9, 35)),
    ("TG", "G", "lin", "phone", "margin_liquidation", "ai_unresolved", "emergency", "agent_wang", bj(11, 20, 14, 51),
     None),
    ("TL", None, "liu", "app", "account_frozen", "staff", "general", "mgr_li", bj(11, 29, 10), None),
]

# ticket, metric, policy, started, warn, due, met, breached
CLOCKS = [
    ("TC", "first_response", "urgent", bj(11, 4, 9, 10), bj(11, 5, 3, 10), bj(11, 5, 9, 10), bj(11, 4, 9, 12), None),
    ("TC", "resolution", "urgent", bj(11, 4, 9, 10), bj(11, 5, 3, 10), bj(11, 5, 9, 10), bj(11, 4, 15, 10), None),
    ("TE", "first_response", "urgent", bj(11, 10, 9, 35), bj(11, 11, 3, 35), bj(11, 11, 9, 35), bj(11, 10, 10, 31),
     None),
    ("TE", "resolution", "urgent", bj(11, 10, 9, 35), bj(11, 11, 3, 35), bj(11, 11, 9, 35), bj(11, 11, 9, 35), None),
    ("TG", "first_response", "emergency", bj(11, 20, 14, 51), bj(11, 20, 15, 2, 15), bj(11, 20, 15, 6),
     bj(11, 20, 14, 52), None),
    ("TG", "resolution", "emergency", bj(11, 20, 14, 51), bj(11, 21, 8, 51), bj(11, 21, 14, 51), None,
     bj(11, 21, 14, 52)),
    ("TL", "first_response", "general", bj(11, 29, 10), bj(12, 2, 9), bj(12, 2, 12), None, None),
]


def _tickets(session: Session, desk: Desk) -> None:
    for n, (key, conv, who, channel, category, source, priority, assignee, created, resolved) in enumerate(TICKETS):
        contact = desk.contacts[who]
        ticket = Ticket(ticket_no=f"T2026110{n:03d}", contact_id=contact.id, customer_id=contact.customer_id,
                        conversation_id=desk.conversations[conv].id if conv else None, source=source,
                        category=category, department="trading", priority=priority,
                        status="resolved" if resolved else "open", subject=f"{category} 跟进", description="客户来电反映问题",
                        channel=channel, assignee_id=desk.staff[assignee].id, created_at=created,
                        resolved_at=resolved, reopen_count=1 if key == "TC" else 0)
        session.add(ticket)
        session.flush()
        desk.tickets[key] = ticket
    for key, metric, policy, started, warn, due, met, breached in CLOCKS:
        session.add(SlaClock(subject_kind="ticket", subject_id=desk.tickets[key].id, metric=metric, policy=policy,
                             started_at=started, warn_at=warn, due_at=due, met_at=met, breached_at=breached))
    session.flush()


def _feedback_and_csat(session: Session, desk: Desk) -> None:
    liu, su = desk.contacts["liu"], desk.contacts["su"]
    phone_complaint = Feedback(contact_id=liu.id, customer_id=liu.customer_id, channel="phone",
                               text="客服电话一直打不通，等了四十分钟没人接", kind="complaint", category="complaint",
                               created_at=bj(11, 15, 10))
    linked = Feedback(contact_id=su.id, customer_id=su.customer_id, channel="email", text="行情不刷新的问题请尽快处理",
                      kind="complaint", category="complaint", ticket_id=desk.tickets["TE"].id,
                      created_at=bj(11, 10, 9, 40))
    idea = Feedback(contact_id=liu.id, customer_id=liu.customer_id, channel="app", text="希望APP增加夜间模式",
                    kind="suggestion", category="feedback", suggestion_status="shipped", shipped_in="APP 8.3.0",
                    created_at=bj(10, 16, 21), updated_at=bj(11, 25, 10))
    session.add_all([phone_complaint, linked, idea])
    session.flush()
    session.add(SlaClock(subject_kind="feedback", subject_id=phone_complaint.id, metric="answer", policy="feedback",
                         started_at=bj(11, 15, 10), warn_at=bj(11, 16, 4), due_at=bj(11, 16, 10)))
    # subject, key, channel, agent, sent, score, comment
    surveys = [("conversation", "A", "wechat", "agent_wang", bj(11, 3, 10, 30), 5, "经理解释得很清楚"),
               ("conversation", "C", "app", "agent_chen", bj(11, 4, 9, 40), 3, None),
               ("conversation", "D", "web", None, bj(11, 5, 20, 30), None, None),
               ("ticket", "TE", "email", "agent_chen", bj(11, 11, 9, 40), 2, "处理太慢了"),
               ("conversation", "H", "app", "mgr_li", bj(11, 28, 10, 40), 4, None),
               ("conversation", "I", "app", None, bj(10, 30, 10, 20), 1, None)]
    for n, (kind, key, channel, agent, sent, score, comment) in enumerate(surveys):
        subject = desk.tickets[key] if kind == "ticket" else desk.conversations[key]
        session.add(CsatSurvey(subject_kind=kind, subject_id=subject.id, contact_id=subject.contact_id,
                               customer_id=subject.customer_id, channel=channel, token=f"csat-token-{n}",
                               agent_id=desk.staff[agent].id if agent else None, sent_at=sent, score=score,
                               comment=comment, responded_at=sent.replace(minute=50) if score else None))
    session.flush()


# origin, channel, kind, state, created
ALERTS = [
    ("monitoring", "app", "price_move", "sent", bj(11, 2, 10, 5)),
    ("monitoring", "app", "price_move", "sent", bj(11, 2, 10, 6)),
    ("monitoring", "app", "limit_down", "sent", bj(11, 20, 14, 40)),
    ("monitoring", "sms", "margin_call", "dead", bj(11, 20, 14, 41)),
    ("monitoring", "app", "price_move", "failed", bj(11, 30, 23, 59)),
    ("monitoring", "wechat", "margin_call", "pending", bj(11, 1, 0, 10)),
    ("monitoring", "app", "price_move", "sent", bj(10, 31, 23, 50)),
    ("engagement", "app", "daily_report", "sent", bj(11, 2, 18, 30)),
]


def _alerts(session: Session, desk: Desk) -> None:
    lin = desk.contacts["lin"].customer_id
    for n, (origin, channel, kind, state, created) in enumerate(ALERTS):
        session.add(OutboxMessage(idempotency_key=f"alert-{n}", channel=channel, kind=kind, customer_id=lin,
                                  body="您持有的贵州茅台 10 分钟内下跌 5.2%，请留意风险。", origin=origin,
                                  origin_ref=f"alert:{n}", state=state, next_attempt_at=created,
                                  created_at=created))
    session.flush()


def build(session: Session) -> Desk:
    desk = Desk()
    _staff(session, desk)
    _customers(session, desk)
    _conversations(session, desk)
    _tickets(session, desk)
    _feedback_and_csat(session, desk)
    _alerts(session, desk)
    session.commit()
    return desk
