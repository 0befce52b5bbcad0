"""Relationship-based access to a customer's data: who may read or act on whose holdings, balances,
P&L, margin, plans and conversations, and the ledgered record of every such read.

A role says what *kind* of data a member of staff may see (:mod:`brokercare.security.policy`); a
relationship says *whose*. Staff reach a customer only while one holds:

* the agent (or advisor, manager, team lead) **serving** the customer's conversation, while it is
  assigned to them;
* the **team lead supervising** it: a conversation assigned to an agent of their team, or waiting
  in the queue for someone to take it;
* the customer's **manager** or assigned **advisor**;
* the **risk desk**, for a customer in an open risk case or on the margin watchlist;
* **compliance**, with a stated reason (recorded with the read).

Administrators run the system and never read customer data. A customer reaches only themself.

The facts come from the domains that own them (customers, the service hub, risk, monitoring):
each declares :class:`Provider` objects in its ``relationships`` module, discovered like jobs, so
this module reads none of their tables. A decision costs one indexed query per provider asked and
is cached on the request's session.

Every staff read of class-3+ data goes to the ledger as one ``access.read`` entry per request —
who, whose, what, why and the relationship that allowed it — and to ``security_access_reads``, the
index compliance searches by customer and by staff member (:mod:`brokercare.security.audit`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy import insert
from sqlalchemy.orm import Session

from brokercare.core.database import get_session, utcnow
from brokercare.core.domains import domain_modules
from brokercare.core.errors import PermissionDenied
from brokercare.ledger.service import append
from brokercare.security.models import AccessRead
from brokercare.security.policy import ROLE_LABELS, SERVING_ROLES, Principal, current_user

SELF = "self"
SERVING = "serving_conversation"
TICKET = "handling_ticket"
SUPERVISING = "supervising_team"
MANAGER = "customer_manager"
ADVISOR = "assigned_advisor"
RISK_CASE = "risk_case"
MARGIN_WATCH = "margin_watchlist"
COMPLIANCE = "compliance_review"
QUALITY_REVIEW = "quality_review"

RELATIONSHIP_LABELS = {
    SELF: "本人", SERVING: "正在服务的会话", TICKET: "经办工单", SUPERVISING: "团队主管督导", MANAGER: "客户经理", ADVISOR: "签约投资顾问",
    RISK_CASE: "风控案件", MARGIN_WATCH: "两融盯市名单", COMPLIANCE: "合规调阅",
    QUALITY_REVIEW: "服务质检抽查",
}
#: What a read was of, as compliance reads it on the audit page (the ledger keeps the codes).
READ_LABELS = {
    "customer360": "客户全景页", "customer": "客户资料", "profile": "客户画像", "tier_history": "客户分层记录",
    "balances": "资金余额", "positions": "持仓", "transfers": "银证转账", "tickets": "工单", "alerts": "预警",
    "alert_settings": "预警设置", "alert_settings.change": "修改预警设置", "margin_calls": "两融追保",
    "ipo_quota": "新股申购额度", "goals": "理财目标", "goal": "理财目标", "goal.create": "新建理财目标",
    "goal.review": "理财目标复盘", "goal_projection": "目标测算", "rebalance": "调仓建议",
    "package_plan": "组合方案", "package_drift": "组合偏离", "risk_assessment": "风险测评",
    "risk_assessment.submit": "代客提交风险测评", "suitability": "适当性匹配", "suitability.confirm": "适当性确认",
    "app_messages": "App 消息", "outbox": "外发消息", "conversation": "会话", "assistant": "智能助手查询",
    "pii": "个人信息", "risk_case": "风控案件", "ticket": "工单", "account": "账户", "margin_call": "两融追保",
    "review_sample": "质检抽查",
}
PII_LABELS = {"name": "姓名", "id_number": "证件号码", "phone": "手机号", "address": "地址", "bank_cards": "银行卡号"}


def read_label(what: str) -> str:
    """``positions:12`` → 持仓 #12, ``pii.phone`` → 完整手机号: a read as a person names it."""
    if what.startswith("pii."):
        return "完整" + PII_LABELS.get(what[4:], "个人信息")
    key, _, ref = what.partition(":")
    label = READ_LABELS.get(key, "其他数据")
    return f"{label} #{ref}" if ref and ref.isdigit() else label


MIN_REASON = 4  # characters: "核查投诉" is a reason, "a" is not
_CACHE_KEY = "brokercare.access"


@dataclass(frozen=True)
class Provider:
    """A relationship an owning domain can prove: for staff of ``roles``, ``find`` returns a
    reference to the fact (``"conversation:12"``, ``"customer:42"``) or ``None``."""

    relationship: str
    roles: frozenset[str]
    find: Callable[[Session, int, int], str | None]


@dataclass(frozen=True)
class Grant:
    """Why ``user_id`` may reach ``customer_id`` now."""

    user_id: int
    role: str
    customer_id: int
    relationship: str
    reference: str | None = None
    reason: str | None = None

    @property
    def audited(self) -> bool:
        """Staff reads are ledgered; a customer reading themself is not."""
        return self.relationship != SELF


@cache
def providers() -> tuple[Provider, ...]:
    """Every domain's declared providers (``<domain>/relationships.py``: ``PROVIDERS``)."""
    return tuple(p for module in domain_modules("relationships") for p in module.PROVIDERS)


def _cache(session: Session) -> dict:
    return session.info.setdefault(_CACHE_KEY, {})


def relationship_of(session: Session, user: Principal, customer_id: int, *,
                    reason: str | None = None) -> Grant | None:
    """The relationship that lets ``user`` reach ``customer_id``, or ``None``.

    Compliance needs a reason of at least :data:`MIN_REASON` characters; administrators and
    service logins never get one. Staff decisions are cached on the session (one request)."""
    if user.role == "customer":
        return Grant(user.id, user.role, customer_id, SELF) if user.customer_id == customer_id else None
    if user.role == "compliance":
        reason = (reason or "").strip()
        return Grant(user.id, user.role, customer_id, COMPLIANCE, reason=reason) \
            if len(reason) >= MIN_REASON else None
    cache = _cache(session)
    key = (user.id, customer_id)
    if key not in cache:
        cache[key] = _found(session, user, customer_id)
    return cache[key]


def _found(session: Session, user: Principal, customer_id: int) -> Grant | None:
    for provider in providers():
        if user.role in provider.roles:
            reference = provider.find(session, user.id, customer_id)
            if reference is not None:
                return Grant(user.id, user.role, customer_id, provider.relationship, reference)
    return None


def require_relationship(session: Session, user: Principal, customer_id: int, *,
                         reason: str | None = None) -> Grant:
    """:func:`relationship_of`, or a 403 that says what would allow it."""
    grant = relationship_of(session, user, customer_id, reason=reason)
    if grant is not None:
        return grant
    raise PermissionDenied(refusal(user), extra={"customer_id": customer_id})


def refusal(user: Principal) -> str:
    """Why ``user`` may not reach a customer, and who may (Chinese, for the page or the 403)."""
    if user.role == "customer":
        return "您只能查看本人的信息。"
    if user.role == "compliance":
        return f"合规调阅客户数据须说明理由（至少 {MIN_REASON} 个字），调阅将记入审计日志。"
    if user.role == "admin":
        return "系统管理员不能查看客户数据。"
    label = ROLE_LABELS.get(user.role, user.role)
    return (f"您（{label}）与该客户目前没有服务关系：只有正在服务其会话的坐席、其客户经理或签约投顾、"
            "处理其风控案件的风控专员，或说明理由的合规专员可以查看或办理。")


@dataclass
class ReadLog:
    """The class-3+ reads of one request: checked as they happen, ledgered together at the end
    (one ``access.read`` entry per request, however many values a page shows)."""

    session: Session
    user: Principal
    action: str = ""
    reason: str | None = None
    grants: dict[int, Grant] = field(default_factory=dict)
    what: dict[int, list[str]] = field(default_factory=dict)
    pii: dict[int, dict] = field(default_factory=dict)

    def allow(self, customer_id: int, what: str | None = None) -> Grant:
        """403 unless a relationship holds; with ``what``, the read is noted for the ledger."""
        grant = self.grants.get(customer_id) or require_relationship(
            self.session, self.user, customer_id, reason=self.reason)
        self.grants[customer_id] = grant
        if what is not None:
            self.note(grant, what)
        return grant

    def may(self, customer_id: int) -> Grant | None:
        """The grant if a relationship holds, else ``None`` (a page leaves that part out)."""
        grant = self.grants.get(customer_id) or relationship_of(
            self.session, self.user, customer_id, reason=self.reason)
        if grant is not None:
            self.grants[customer_id] = grant
        return grant

    def act(self, customer_id: int, what: str) -> str:
        """403 unless the caller may act for the customer (:func:`customer_actor`); the act is
        ledgered with the relationship. Returns the channel (``app`` or ``branch``)."""
        channel = customer_actor(self.session, self.user, customer_id)
        self.note(self.allow(customer_id), what)
        return channel

    def note(self, grant: Grant, what: str) -> None:
        if grant.audited and what not in self.what.setdefault(grant.customer_id, []):
            self.what[grant.customer_id].append(what)

    def note_pii(self, customer_id: int, fields: list[str], digests: dict[str, str], *,
                 revealed: bool, reason: str | None = None) -> None:
        """Personal data shown whole in this request: its fields, whether revealed on request and
        why, and a keyed hash of each value (never the value) go into the request's one
        ``access.read`` entry."""
        grant = self.allow(customer_id)
        for name in fields:
            self.note(grant, f"pii.{name}")
        if grant.audited:
            seen = self.pii.setdefault(customer_id, {"revealed_on_request": False, "value_hmacs": {}})
            seen["revealed_on_request"] |= revealed
            seen["value_hmacs"].update(digests)
            if reason:
                seen["reason"] = reason

    def flush(self, *, commit: bool = True) -> int | None:
        """Append the request's reads as one ledger entry (and its index rows); commit so the
        entry is durable before the values leave. Returns the entry's index (``None``: nothing read)."""
        reads = [(self.grants[cid], what) for cid, what in self.what.items() if what]
        if not reads:
            return None
        entry = append(self.session, "access.read", f"user:{self.user.id}", self._entry(reads))
        at = utcnow()
        self.session.execute(insert(AccessRead), [
            {"ledger_index": entry.id, "user_id": self.user.id, "role": self.user.role,
             "customer_id": g.customer_id, "relationship": g.relationship, "reference": g.reference,
             "what": ",".join(what)[:400], "why": (g.reason or self.action)[:200], "read_at": at}
            for g, what in reads])
        self.what.clear()
        self.pii.clear()
        if commit:
            self.session.commit()
        return entry.id

    def _entry(self, reads: list[tuple[Grant, list[str]]]) -> dict:
        return {
            "user_id": self.user.id, "role": self.user.role, "action": self.action,
            "reads": [{"customer_id": g.customer_id, "relationship": g.relationship,
                       "reference": g.reference, "what": what, "why": g.reason or self.action,
                       **({"pii": self.pii[g.customer_id]} if g.customer_id in self.pii else {})}
                      for g, what in reads],
        }


def read_log(request: Request, user: Principal = Depends(current_user),
             session: Session = Depends(get_session),
             reason: str | None = Query(None, max_length=200,
                                        description="Why a compliance officer reads this customer's data "
                                                    "(required for compliance; recorded in the ledger).")
             ) -> Iterator[ReadLog]:
    """FastAPI dependency (as :data:`Reads`): the request's :class:`ReadLog`, ledgered once the
    route's answer is built and before it is sent; nothing is ledgered when the route fails."""
    log = ReadLog(session, user, action=f"{request.method} {request.url.path}", reason=reason)
    yield log
    log.flush()


Reads = Annotated[ReadLog, Depends(read_log, scope="function")]


def customer_reader(what: str) -> Callable[..., ReadLog]:
    """Dependency factory for routes with a ``customer_id`` path parameter: the caller must have a
    relationship with that customer (else 403), and the read of ``what`` is ledgered."""

    def dependency(customer_id: int, log: Reads) -> ReadLog:
        log.allow(customer_id, what)
        return log

    dependency.__name__ = f"customer_reader_{what.replace('.', '_')}"
    return dependency


def thread_readable(reads: ReadLog, conversation_id: int, *, customer_id: int | None, status: str,
                    note: bool = True) -> bool:
    """Whether the caller may read a conversation — its messages and its hand-off summary, which
    names the customer's holdings (the service hub's facts, passed in): staff who take
    conversations may look at one waiting in the queue, and at a prospect's (no customer data);
    otherwise a relationship with the customer is needed (the agent it is assigned to serves it),
    and the read is noted for the ledger (``note=False``: a refresh of a thread already read)."""
    if reads.user.role in SERVING_ROLES and (status == "waiting" or customer_id is None):
        return True
    grant = reads.may(customer_id) if customer_id is not None else None
    if grant is not None and note:
        reads.note(grant, f"conversation:{conversation_id}")
    return grant is not None


def require_thread(reads: ReadLog, conversation_id: int, *, customer_id: int | None, status: str,
                   note: bool = True) -> None:
    """:func:`thread_readable`, or a 403 that says who may."""
    if not thread_readable(reads, conversation_id, customer_id=customer_id, status=status, note=note):
        raise PermissionDenied(refusal(reads.user))


def customer_actor(session: Session, user: Principal, customer_id: int, *, reason: str | None = None) -> str:
    """Who may act for a customer (answer the questionnaire, confirm a warning, change alert
    settings): the customer (channel ``app``) or their manager or assigned advisor (``branch``)."""
    grant = relationship_of(session, user, customer_id, reason=reason)
    if grant is not None and grant.relationship == SELF:
        return "app"
    if grant is not None and grant.relationship in (MANAGER, ADVISOR):
        return "branch"
    raise PermissionDenied("只有客户本人，或该客户的客户经理、签约投资顾问可以办理这项操作。",
                           extra={"customer_id": customer_id})
