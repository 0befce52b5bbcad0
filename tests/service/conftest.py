"""Fixtures of the service-hub tests: a small brokerage with customers of every tier, their
accounts and holdings, and service staff with skills and chat slots."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy.orm import Session

from brokercare.accounts.models import Account, Position
from brokercare.customers.models import Customer, CustomerProfile
from brokercare.market.models import Instrument
from brokercare.security.crypto import blind_index, get_cipher
from brokercare.security.models import User
from brokercare.service import agents
from brokercare.service import assistant as hub_assistant
from brokercare.service.service import set_agent_profile

# DKIM for the test mail domain: BrokerCare verifies signatures itself (the Authentication-Results
# header a sender writes proves nothing), so the sample mails are signed with this key and its
# public half is what the zone answers for brokercare._domainkey.example.cn.
_DKIM_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_DKIM_PEM = _DKIM_KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption())
_DKIM_TXT = b"v=DKIM1; k=rsa; p=" + base64.b64encode(_DKIM_KEY.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


def dkim_signed(raw: bytes, domain: bytes = b"example.cn") -> bytes:
    import dkim

    return dkim.sign(raw, b"brokercare", domain, _DKIM_PEM, include_headers=[b"from", b"subject", b"message-id"]) + raw


@pytest.fixture(autouse=True)
def _dkim_zone(monkeypatch):
    from brokercare.service import channels

    def txt(name: bytes, timeout: int = 5) -> bytes | None:
        return _DKIM_TXT if name.rstrip(b".") == b"brokercare._domainkey.example.cn" else None

    monkeypatch.setattr(channels, "dkim_dns", txt)


# A trading day (Tuesday 2026-09-15) at 10:00 Beijing time: the service desk is open.
OPEN_HOURS = datetime(2026, 9, 15, 2, 0, tzinfo=UTC)
# National Day holiday, 2026-10-03 22:00 Beijing: the desk is closed.
CLOSED_HOURS = datetime(2026, 10, 3, 14, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _real_assistant(monkeypatch):
    """The hub answers with the real assistant, as the composition root wires it; tests about
    routing put their scripted one in its place (``fakes.install``)."""
    from brokercare.assistant import service as assistant_service

    monkeypatch.setattr(hub_assistant, "_wired", [assistant_service])


def add_user(session: Session, username: str, *, role: str = "agent", skills=(), slots: int = 2,
             display_name: str | None = None, team_lead_id: int | None = None, at_desk: bool = True) -> User:
    """A login with its agent profile; ``at_desk``: their workbench is open (a fresh heartbeat)."""
    user = User(username=username, display_name=display_name or username, role=role,
                password_hash="x", active=True)
    session.add(user)
    session.flush()
    if role != "customer":
        set_agent_profile(session, user.id, skills=list(skills), max_concurrent=slots, team_lead_id=team_lead_id)
        if at_desk:
            agents.seen(session, user.id)
    return user


def add_customer(session: Session, no: int, *, name: str, phone: str, tier: str,
                 openid: str | None = None, email: str | None = None, manager_id: int | None = None,
                 account_no: str | None = None, holdings=(), frozen: bool = False) -> Customer:
    cipher = get_cipher(session)
    c = Customer(
        customer_no=f"C{no:08d}", name=name, gender="F", birth_date=date(1980, 5, 1),
        id_number_enc=cipher.encrypt(f"11010519800501{no:04d}"),
        id_number_hash=blind_index(f"11010519800501{no:04d}"),
        phone_enc=cipher.encrypt(phone), phone_hash=blind_index(phone), phone_verified=True,
        email=email, wechat_openid=openid, province="上海", city="上海", occupation="企业管理",
        branch_code="SH01", manager_id=manager_id, opened_on=date(2018, 3, 1),
    )
    session.add(c)
    session.flush()
    aum = {"vip": "80000000", "potential": "9000000", "mass": "1200000", "long_tail": "80000"}[tier]
    session.add(CustomerProfile(customer_id=c.id, aum=Decimal(aum), tier=tier, tags=[], features={}))
    acct = Account(account_no=account_no or f"3100{no:08d}", customer_id=c.id, kind="cash",
                   status="frozen" if frozen else "active", opened_on=date(2018, 3, 1),
                   branch_code="SH01", commission_rate=Decimal("0.00025"),
                   cash_balance=Decimal("100000"))
    session.add(acct)
    session.flush()
    for symbol, qty in holdings:
        session.add(Position(account_id=acct.id, symbol=symbol, quantity=Decimal(qty),
                             available_quantity=Decimal(qty), cost_price=Decimal("10")))
    session.flush()
    return c


@dataclass
class Brokerage:
    lead: User
    manager: User
    margin_agent: User
    complaints_agent: User
    general_agent: User
    vip: Customer
    potential: Customer
    mass: Customer
    long_tail: Customer


@pytest.fixture
def brokerage(session) -> Brokerage:
    for sym, name, price in [("600519.SH", "贵州茅台", "1500"), ("300750.SZ", "宁德时代", "250"),
                             ("601318.SH", "中国平安", "48")]:
        session.add(Instrument(symbol=sym, code=sym[:6], exchange=sym[-2:], name=name, kind="stock",
                               board="main", last_price=Decimal(price)))
    session.flush()
    lead = add_user(session, "lead_zhou", role="team_lead", skills=["complaints", "margin"],
                    slots=3, display_name="周组长")
    manager = add_user(session, "mgr_li", role="customer_manager", skills=["funds"], slots=2,
                       display_name="李经理", team_lead_id=lead.id)
    margin_agent = add_user(session, "agent_wang", skills=["margin", "trading"], slots=1,
                            display_name="王敏", team_lead_id=lead.id)
    complaints_agent = add_user(session, "agent_chen", skills=["complaints"], slots=2,
                                display_name="陈洁", team_lead_id=lead.id)
    general_agent = add_user(session, "agent_zhao", skills=["account_service", "account_security",
                                                            "trading", "funds"], slots=2,
                             display_name="赵磊", team_lead_id=lead.id)
    vip = add_customer(session, 1, name="林国华", phone="13816881234", tier="vip",
                       openid="oVIP_linguohua_8x2k", manager_id=manager.id,
                       holdings=[("600519.SH", "2000"), ("601318.SH", "50000")])
    potential = add_customer(session, 2, name="苏晓梅", phone="13916882345", tier="potential",
                             email="su.xiaomei@example.cn", holdings=[("300750.SZ", "3000")])
    mass = add_customer(session, 3, name="张伟", phone="13700001111", tier="mass",
                        openid="oMASS_zhangwei_77ab", account_no="310000000003",
                        holdings=[("601318.SH", "1000")])
    long_tail = add_customer(session, 4, name="王芳", phone="15000002222", tier="long_tail")
    session.commit()
    return Brokerage(lead, manager, margin_agent, complaints_agent, general_agent, vip, potential,
                     mass, long_tail)
