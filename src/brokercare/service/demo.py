"""Demo history of the service hub for ``brokercare generate``: conversations on every channel,
hand-offs, tickets through their states (a few still open or breached), feedback and suggestions,
CSAT answers — produced by running the hub's own services day by day over the last five months,
so every row, routing decision and ledger entry is one the live system would have written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from brokercare.accounts import service as accounts
from brokercare.core.calendar import SHANGHAI, is_trading_day
from brokercare.customers import service as customers
from brokercare.security.service import get_cipher, get_user_by_username, list_users
from brokercare.service import agents, callbacks, csat, feedback, queues, sla, tickets
from brokercare.service import service as conv_svc
from brokercare.service.assistant import Analysis
from brokercare.service.channels import (
    Identity,
    from_json_message,
    parse_call_transcript,
    parse_email,
)
from brokercare.service.models import AgentProfile, Conversation, CsatSurvey, Feedback, Ticket


@dataclass(frozen=True)
class Script:
    intent: str
    emotion: str
    intensity: float
    texts: tuple[str, ...]


SCRIPTS = (
    Script("bank_transfer", "calm", 0.1, ("银证转账几点以后就转不了了？", "周末可以把钱从证券账户转回银行卡吗？")),
    Script("transfer_status", "anxious", 0.5, ("昨天下午转了5万到证券账户，到现在还没到账，怎么回事？",
                                               "转出显示成功了，银行卡里还没看到钱。")),
    Script("commission_query", "calm", 0.1, ("我现在的佣金是万几？能不能帮我降到万一？", "股票交易佣金怎么收的，有最低5元吗？")),
    Script("trading_rules", "calm", 0.1, ("今天买的股票明天才能卖吗？", "集合竞价9点20以后还能撤单吗？")),
    Script("order_status", "disappointed", 0.4, ("我挂的单为什么一直不成交？", "委托显示废单是什么原因？")),
    Script("trading_permission", "calm", 0.1, ("开通科创板需要满足什么条件？", "创业板权限怎么开？")),
    Script("margin_ratio", "calm", 0.2, ("维持担保比例是怎么计算的？", "我现在的担保比例是多少，离警戒线还有多远？")),
    Script("margin_liquidation", "anxious", 0.8, ("收到追保通知了，今天不补会被强平吗？", "担保比例跌到132%了，会不会被平仓？")),
    Script("ipo_subscribe", "calm", 0.1, ("打新需要多少市值？", "明天有新股申购吗，我的额度是多少？")),
    Script("ipo_payment", "anxious", 0.5, ("中签了但是账户钱不够，还来得及缴款吗？",)),
    Script("reverse_repo", "calm", 0.1, ("国债逆回购204001怎么买，最少多少钱？", "逆回购的钱什么时候能取出来？")),
    Script("fund_trade", "calm", 0.2, ("基金赎回几天能到账？", "场外基金申购费率是多少？")),
    Script("position_diagnosis", "anxious", 0.7, ("最近股市跌惨了，我该怎么办？", "持仓套了20%，要不要割肉？")),
    Script("pnl_query", "calm", 0.1, ("今年我的账户总收益是多少？",)),
    Script("password_reset", "anxious", 0.4, ("交易密码输错被锁了，怎么解锁？",)),
    Script("login_security", "anxious", 0.7, ("收到异地登录提醒，不是我本人登录的！",)),
    Script("account_frozen", "anxious", 0.8, ("我的账户怎么被冻结了？今天必须要卖股票！",)),
    Script("dividend_tax", "calm", 0.2, ("红利税为什么卖出的时候才扣？", "分红到账了怎么少了一部分？")),
    Script("statement", "calm", 0.1, ("怎么开资产证明，办签证要用。", "去年的年度对账单在哪里下载？")),
    Script("app_issue", "disappointed", 0.5, ("APP行情一直不刷新，重装也没用。", "登录APP老是闪退。")),
    Script("branch_service", "calm", 0.1, ("营业部周六上班吗？", "离我最近的营业部在哪里？")),
    Script("human_agent", "calm", 0.3, ("转人工。", "我要找人工客服。")),
    Script("complaint", "angry", 0.8, ("你们系统又崩了！开盘半小时下不了单，必须给个说法！",
                                       "客户经理推荐的产品说保本，现在亏了30%，我要投诉！",
                                       "营业部柜台办业务等了两个小时没人理，太差了！")),
    Script("feedback", "calm", 0.2, ("建议APP增加条件单功能，跌破某个价格自动卖出。", "希望行情页能加上北交所板块。",
                                     "建议逆回购到期能自动续做。", "客服小王很耐心，给你们点个赞！")),
    Script("legal_dispute", "calm", 0.3, ("父亲去世了，他账户里的股票怎么继承过户？",)),
    Script("chitchat", "satisfied", 0.5, ("好的，谢谢！", "明白了，多谢。")),
)
CHANNEL_MIX = (("app", 0.34), ("wechat", 0.26), ("web", 0.1), ("phone", 0.16), ("email", 0.06), ("branch", 0.08))
AGENT_REPLY = {
    "trading": "您好，我是交易专席。已帮您查看了委托和资金记录，具体情况如下：{detail}如还有疑问请随时联系我。",
    "margin": "您好，我是两融专席。您当前的维持担保比例我已核实，{detail}建议您关注持仓波动，必要时及时追加担保物。",
    "funds": "您好，我是理财专席。{detail}如需调整配置，我可以根据您的风险等级给出建议。",
    "complaints": "非常抱歉给您带来不好的体验，我是投诉专员。您反映的问题已登记并升级处理，{detail}我们会在承诺时限内给您答复。",
    "account_security": "您好，为保障账户安全，{detail}请勿向任何人透露密码和验证码。",
    "account_service": "您好，{detail}如需现场办理，请携带本人身份证到营业部。",
    "tax": "您好，关于红利税：持股1个月以内税负20%，1个月至1年10%，超过1年免征，{detail}",
    "legal": "您好，继承过户需要公证书或法院文书等材料，{detail}我们的法务专员会与您联系。",
}
#: What the desk wrote when it resolved a ticket, by department: the hand-off summary shows it for a
#: later case like it (相似案例), so the demo's notes say what was done, as a real desk's do.
RESOLUTIONS = {
    "trading": "已核对委托与资金流水：委托因价格超出涨跌幅限制被废单，已指导客户按有效价格重新下单。",
    "margin": "已说明维持担保比例的计算方法：低于130%须在T+2日前追加担保物或卖出还款，客户补足后已恢复至150%以上。",
    "funds": "已核实基金赎回款按T+3到账，客户确认款项已到资金账户。",
    "complaints": "已向客户致歉并说明原因，相关问题已反馈业务部门整改，客户表示接受处理结果。",
    "account_security": "已指导客户通过APP人脸识别重置密码并解锁账户，客户确认可以正常登录。",
    "account_service": "已指导客户在APP办理，并告知所需材料和办理时限，客户已提交申请。",
    "tax": "已说明红利税按持股期限差异化计征，卖出时由中国结算补扣，客户无异议。",
    "legal": "已转法务专员跟进，告知客户需准备的公证材料和办理流程。",
}
DETAILS = ("款项已在清算中，预计今日到账。", "相关记录已核对无误。", "已为您提交加急处理。", "系统显示一切正常。")


def _pick(rng, items):
    return items[int(rng.integers(len(items)))]


def _channel(rng) -> str:
    r, acc = float(rng.random()), 0.0
    for name, share in CHANNEL_MIX:
        acc += share
        if r < acc:
            return name
    return "app"


#: Routing skills and chat slots of the demo staff logins (the security domain's demo creates them).
STAFF_PROFILES = {
    "lead01": (["trading", "margin", "complaints"], 3),
    "agent01": (["trading", "account_service"], 5),
    "agent02": (["margin", "trading"], 5),
    "agent03": (["funds", "account_service"], 5),
    "agent04": (["complaints", "account_security"], 4),
    "agent05": (["tax", "legal", "account_service"], 4),
    "advisor01": (["funds", "wealth"], 5),
    "manager01": (["wealth", "vip"], 5),
}


def demo_profiles(session: Session) -> None:
    """The demo staff's agent profiles; agents are under the team lead (``lead01``)."""
    lead = get_user_by_username(session, "lead01")
    for username, (skills, slots) in STAFF_PROFILES.items():
        user = get_user_by_username(session, username)
        if user is None or session.get(AgentProfile, user.id) is not None:
            continue
        agents.set_profile(session, user.id, skills=skills, max_concurrent=slots,
                           team_lead_id=lead.id if lead is not None and user.id != lead.id else None)
    session.commit()


def _customers(session: Session, rng, n: int) -> list[dict]:
    ids = customers.all_customer_ids(session)
    if not ids:
        return []
    idx = rng.choice(len(ids), size=min(n, len(ids)), replace=False)
    picked = {c.id: c for c in customers.get_customers(session, [ids[int(k)] for k in idx])}
    cipher = get_cipher(session)
    out = []
    for cid in sorted(picked):
        c = picked[cid]
        held = accounts.accounts_of(session, cid)
        out.append({"id": cid, "phone": cipher.decrypt(c.phone_enc), "email": c.email, "openid": c.wechat_openid,
                    "name": c.name, "account_no": held[0].account_no if held else None})
    return out


def _inbound(rng, who: dict | None, channel: str, text: str, at: datetime, seq: int):
    if channel == "phone":
        phone = who["phone"] if who else f"1{int(rng.integers(3, 9))}{int(rng.integers(10**8, 10**9))}"
        transcript = {
            "call_id": f"CC{at.astimezone(SHANGHAI):%Y%m%d}-{seq:07d}", "caller_number": phone,
            "ivr_verified": who is not None, "account_no": who["account_no"] if who else None,
            "agent": {"id": f"A{1000 + seq % 40}", "name": _pick(rng, ("刘芳", "马骏", "何静", "唐亮"))},
            "queue": "综合服务", "started_at": at.isoformat(),
            "ended_at": (at + timedelta(seconds=int(rng.integers(90, 600)))).isoformat(),
            "disposition": "unresolved" if rng.random() < 0.25 else "resolved",
            "segments": [
                {"speaker": "agent", "start_s": 0, "end_s": 4, "text": "您好，很高兴为您服务，请问有什么可以帮您？"},
                {"speaker": "customer", "start_s": 5, "end_s": 15, "text": text},
                {"speaker": "agent", "start_s": 16, "end_s": 30, "text": "好的，我来帮您查询处理。"},
            ],
        }
        return parse_call_transcript(json.loads(json.dumps(transcript)))
    if channel == "email":
        sender = (who or {}).get("email") or f"visitor{seq}@mail.example.cn"
        raw = (f"From: {sender}\r\nSubject: =?utf-8?b?{_b64('咨询：' + text[:12])}?=\r\n"
               f"Message-ID: <demo{seq}@mail.example.cn>\r\nDate: {at.strftime('%a, %d %b %Y %H:%M:%S +0000')}\r\n"
               f"Authentication-Results: mx.demo; dkim=pass\r\nContent-Type: text/plain; charset=utf-8\r\n"
               f"Content-Transfer-Encoding: base64\r\n\r\n{_b64(text)}\r\n").encode()
        return parse_email(raw)
    if channel == "wechat":
        openid = (who or {}).get("openid") or f"oDEMO{seq:08d}"
        return from_json_message("wechat", text, sent_at=at, client_msg_id=f"wx{seq}",
                                 identities=[Identity("wechat_openid", openid, True)])
    if who is None:
        return from_json_message(channel, text, sent_at=at, client_msg_id=f"d{seq}",
                                 identities=[Identity("phone", f"139{seq:08d}", False)])
    ident = (Identity("account_no", who["account_no"], True) if channel == "branch" and who["account_no"]
             else Identity("customer_id", str(who["id"]), True))
    return from_json_message(channel, text, sent_at=at, client_msg_id=f"d{seq}", identities=[ident])


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


def _work_human_queue(session: Session, rng, now: datetime) -> None:
    """Agents answer and close what they hold (closing pulls the next waiting chat in)."""
    for _ in range(3):
        held = session.scalars(select(Conversation).where(Conversation.status == "assigned")).all()
        if not held:
            return
        for conv in held:
            agent = queues.agent(session, conv.assigned_agent_id)
            at = max(now, conv.assigned_at or now) + timedelta(minutes=int(rng.integers(1, 6)))
            template = AGENT_REPLY.get(conv.skill or "", AGENT_REPLY["account_service"])
            conv_svc.agent_reply(session, conv.id, agent, template.format(detail=_pick(rng, DETAILS)), now=at)
            conv_svc.close_conversation(session, conv.id, by_user_id=agent.id,
                                        now=at + timedelta(minutes=int(rng.integers(5, 30))))


def _work_tickets(session: Session, rng, now: datetime, fresh_days: int) -> None:
    staff = {u.id: u for role in ("agent", "team_lead") for u in list_users(session, role=role)}
    if not staff:
        return
    by_skill: dict[str, list[int]] = {}
    for uid, profile in sorted(agents.profiles(session, staff).items()):
        for s in profile.skills or []:
            by_skill.setdefault(s, []).append(uid)
    for t in session.scalars(select(Ticket).where(Ticket.status.in_(tickets.OPEN_STATES))).all():
        if (now - t.created_at) < timedelta(days=fresh_days) and rng.random() < 0.6:
            continue  # recent tickets stay open: the hub has live work
        actor = t.assignee_id or _pick(rng, by_skill.get(t.department) or list(staff))
        start = t.created_at + timedelta(minutes=int(rng.integers(10, 600)))
        if t.status == "open":
            tickets.transition(session, t.id, "in_progress", actor_id=actor, now=start)
        if rng.random() < 0.3:
            tickets.transition(session, t.id, "waiting_on_customer", actor_id=actor,
                               note="请您提供相关截图或流水，以便我们核实。", now=start + timedelta(hours=1))
            tickets.transition(session, t.id, "in_progress", actor_id=actor, now=start + timedelta(hours=5))
        done = start + timedelta(hours=float(rng.uniform(2, 40)))
        tickets.transition(session, t.id, "resolved", actor_id=actor,
                           note=RESOLUTIONS.get(t.department, "经核实已处理完毕，感谢您的耐心等待。"), now=done)
        tickets.transition(session, t.id, "closed", actor_id=actor, now=done + timedelta(days=1))
        if rng.random() < 0.05:
            tickets.transition(session, t.id, "open", actor_id=actor, note="客户反馈问题仍未解决", now=done + timedelta(days=2))


def _answer_surveys(session: Session, rng, now: datetime) -> int:
    n = 0
    for s in session.scalars(select(CsatSurvey).where(CsatSurvey.responded_at.is_(None))).all():
        if rng.random() > 0.62 or s.sent_at > now:
            continue
        complaint = s.subject_kind == "ticket" and session.get(Ticket, s.subject_id).category == "complaint"
        weights = (0.12, 0.12, 0.2, 0.3, 0.26) if complaint else (0.02, 0.03, 0.1, 0.35, 0.5)
        score = int(rng.choice([1, 2, 3, 4, 5], p=weights))
        comment = {1: "问题拖了很久才解决。", 2: "回复太慢。", 5: "服务很专业，谢谢！"}.get(score) if rng.random() < 0.4 else None
        csat.record_response(session, s.token, score, comment=comment,
                             now=s.sent_at + timedelta(minutes=int(rng.integers(2, 600))))
        n += 1
    return n


def _work_feedback(session: Session, rng, now: datetime) -> None:
    leads = list_users(session, role="team_lead")
    if not leads:
        return
    lead = leads[0].id
    for fb in session.scalars(select(Feedback).where(Feedback.status == "new")).all():
        if rng.random() < 0.1:
            continue  # a few stay unanswered (and breach their 24 h answer SLA)
        at = fb.created_at + timedelta(hours=float(rng.exponential(6)))
        feedback.answer_feedback(session, fb.id, user_id=lead, now=at,
                                 answer="您的意见已转交相关部门，我们会认真研究并持续改进。")
        if fb.kind == "suggestion" and rng.random() < 0.6:
            feedback.set_suggestion_status(session, fb.id, "accepted", user_id=lead, now=at + timedelta(days=3))
            if rng.random() < 0.5 and at + timedelta(days=30) < now:
                feedback.set_suggestion_status(session, fb.id, "shipped", user_id=lead, now=at + timedelta(days=30),
                                               shipped_in=_pick(rng, ("APP v8.1", "APP v8.2", "网上营业厅 2026.10")))


def _call_back(session: Session, day_end: datetime) -> None:
    """The desk makes the call-backs that fell due today (promised the evening or weekend before)."""
    leads = list_users(session, role="team_lead")
    for cb in callbacks.open_callbacks(session, limit=500):
        if cb.due_at <= day_end and leads:
            callbacks.mark_done(session, cb.id, by_user_id=leads[0].id,
                                now=cb.due_at + timedelta(minutes=20))


def generate(engine: Engine, rng, summary, *, conversations: int | None = None) -> None:
    """Run ~5 months of service history through the hub (bounded: at most 900 conversations)."""
    as_of = getattr(summary, "as_of", None) or date.today()
    end = datetime.combine(as_of, time(17, 0), SHANGHAI).astimezone(UTC)
    start = end - timedelta(days=150)
    with Session(engine, expire_on_commit=False) as session:
        demo_profiles(session)
        n_customers = getattr(summary, "customers", 0) or 2000
        people = _customers(session, rng, min(600, max(60, n_customers // 30)))
        if not people:
            return
        assistant_present = conv_svc.analyze("你好") is not None
        total = conversations or min(900, max(120, len(people) * 2))
        days = [start.date() + timedelta(days=k) for k in range(151)]
        weights = [3.0 if is_trading_day(d) else 1.0 for d in days]
        per_day = rng.multinomial(total, [w / sum(weights) for w in weights])
        seq = 0

        def one(at: datetime) -> None:
            nonlocal seq
            seq += 1
            script = _pick(rng, SCRIPTS)
            who = None if rng.random() < 0.08 else _pick(rng, people)
            inbound = _inbound(rng, who, _channel(rng), _pick(rng, script.texts), at, seq)
            got = conv_svc.ingest(session, inbound, now=at)
            analysis = None if assistant_present else Analysis(
                text="", intents=[(script.intent, float(rng.uniform(0.55, 0.97)))], emotion=script.emotion,
                intensity=min(1.0, script.intensity + float(rng.uniform(-0.1, 0.2))), entities=[])
            conv_svc.process(session, got.first_customer_message.id, analysis=analysis, now=at)

        for day, count in zip(days, per_day, strict=True):
            agents.whole_team(session, at_desk=True)  # the past was worked by a staffed desk
            moments = sorted(float(x) for x in rng.uniform(8.5, 21.5, size=int(count)))
            for hour in moments:
                at = datetime.combine(day, time(0), SHANGHAI).astimezone(UTC) + timedelta(hours=hour - 8)
                if at >= end - timedelta(hours=2):
                    continue
                one(at)
                if (end - at) > timedelta(hours=6):
                    _work_human_queue(session, rng, at)
            day_end = datetime.combine(day, time(23, 0), SHANGHAI).astimezone(UTC)
            _call_back(session, day_end)
            if day_end < end - timedelta(days=1):
                conv_svc.close_idle_conversations(session, now=day_end)
            if day.weekday() == 4:  # weekly: tickets worked, feedback answered, SLA job, surveys answered
                _work_tickets(session, rng, day_end, fresh_days=10)
                _work_feedback(session, rng, day_end)
                sla.run_sla_check(session, day_end)
                _answer_surveys(session, rng, day_end)
            session.commit()
        # The last two hours are live: chats with the AI and in the queue, waiting for the staff
        # who log in (nobody is at the desk until then; see agents' presence).
        agents.whole_team(session, at_desk=False)
        for minute in sorted(float(x) for x in rng.uniform(0, 118, size=max(6, total // 40))):
            one(end - timedelta(hours=2) + timedelta(minutes=minute))
        sla.run_sla_check(session, end)
        session.commit()
        counts = {
            "service_conversations": session.query(Conversation).count(),
            "service_tickets": session.query(Ticket).count(),
            "service_feedback": session.query(Feedback).count(),
            "service_csat_surveys": session.query(CsatSurvey).count(),
        }
    if hasattr(summary, "add"):
        for table, n in counts.items():
            summary.add(table, n)
    if hasattr(summary, "notes"):
        summary.notes.append(
            f"service hub: {counts['service_conversations']} conversations on every channel, "
            f"{counts['service_tickets']} tickets, {counts['service_feedback']} feedback entries, "
            f"{counts['service_csat_surveys']} CSAT requests over 150 days")
