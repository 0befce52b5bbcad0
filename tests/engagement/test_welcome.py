"""First trade (seed 2.3.1), on SQLite and PostgreSQL: the account an online opening issues is
welcomed through ``account.opened`` — the benefits are in the benefit ledger, the beginner's
guide leaves through the outbox within the hour — and each trade spends one commission waiver
until they are gone."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker
from tests.onboarding.applicants import open_account
from tests.outbox.gateways import HttpGateway

from brokercare.accounts.models import Account
from brokercare.accounts.trade_events import record_trade
from brokercare.core.bus import Event, get_bus
from brokercare.core.errors import Conflict
from brokercare.core.settings import reset_settings
from brokercare.engagement import service as engagement
from brokercare.engagement.handlers import subscribe_handlers
from brokercare.engagement.models import Benefit, BenefitUse, Touch
from brokercare.market.models import Instrument
from brokercare.outbox.models import OutboxMessage
from brokercare.outbox.service import dispatch_due, inbox


def trade(customer_id: int, n: int, *, quantity: int = 100, price: str = "10.50") -> Event:
    return Event("trade.executed", {"symbol": "600519.SH", "side": "buy", "quantity": quantity, "price": price},
                 customer_id=customer_id, id=f"trade-{customer_id}-{n}")


@pytest.fixture
def push(monkeypatch):
    """The app's push gateway, a real HTTP server in its own process."""
    gw = HttpGateway()
    monkeypatch.setenv("BROKERCARE_PUSH_URL", f"{gw.url}/push")
    reset_settings()
    yield gw
    gw.close()


def test_the_new_account_gets_its_benefits_and_the_guide_within_the_hour(engine, session, push):
    subscribe_handlers(get_bus())
    app = open_account(session)
    benefits = engagement.benefits_of(session, app.customer_id)
    assert [(b.code, b.quantity, b.used) for b in benefits] == [("first_trades_free", 10, 0), ("beginner_course", 1, 0)]

    guide = session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "welcome_guide"))
    assert guide.customer_id == app.customer_id and guide.channel == "app"
    assert app.account_no in guide.body and "前10笔交易免佣金" in guide.body and "王晓明" in guide.body
    assert guide.next_attempt_at <= app.opened_at + timedelta(minutes=1)
    counts = dispatch_due(sessionmaker(engine, expire_on_commit=False))
    assert counts["sent"] == 1
    assert app.account_no in str(push.delivered[guide.idempotency_key])
    session.expire_all()
    guide = session.get(OutboxMessage, guide.id)
    assert guide.state == "sent" and guide.sent_at - app.opened_at <= timedelta(hours=1)
    assert [m.subject for m in inbox(session, app.customer_id)] == ["新手指南：完成第一笔交易"]
    # The guide counts under the one frequency cap of proactive contacts.
    assert session.scalar(select(Touch.sent).where(Touch.customer_id == app.customer_id, Touch.kind == "welcome"))


def test_a_redelivered_opening_welcomes_once(engine, session):
    subscribe_handlers(get_bus())
    app = open_account(session)
    again = Event("account.opened", {"customer_id": app.customer_id, "account_id": 1, "account_no": app.account_no,
                                     "kind": "cash", "branch_code": "0001", "opened_on": "2026-12-05",
                                     "opened_at": app.opened_at.isoformat()}, customer_id=app.customer_id)
    get_bus().publish(again)
    get_bus().publish(again)
    assert session.scalar(select(func.count()).select_from(Benefit)) == 2
    assert session.scalar(select(func.count()).select_from(OutboxMessage)
                          .where(OutboxMessage.kind == "welcome_guide")) == 1


def test_trades_spend_the_waivers_once_each_until_none_is_left(engine, session):
    subscribe_handlers(get_bus())
    app = open_account(session)
    bus = get_bus()
    for n in range(1, 12):
        bus.publish(trade(app.customer_id, n, quantity=100 * n))
    bus.publish(trade(app.customer_id, 3, quantity=300))  # the trade feed redelivers one
    uses = engagement.uses_of(session, app.customer_id)
    assert len(uses) == 10 and [u.ref for u in uses] == [f"trade-{app.customer_id}-{n}" for n in range(1, 11)]
    # 100 shares at 10.50 = 1,050 元 at 万2.5 is 0.26 元, so the minimum of 5 元 is waived; 1,000
    # shares (10,500 元) too; the rate only passes the minimum from 20,000 元.
    assert {u.amount for u in uses} == {Decimal("5.00")}
    waiver = session.scalar(select(Benefit).where(Benefit.code == "first_trades_free"))
    session.refresh(waiver)
    assert waiver.used == waiver.quantity == 10
    assert uses[-1].detail == "第10/10笔免佣"
    big = engagement.use_commission_waiver(session, customer_id=app.customer_id, ref="trade-late",
                                           trade_value=Decimal("100000"), commission_rate=Decimal("0.00025"),
                                           at=app.opened_at)
    assert big is None  # all ten are spent


def test_the_course_is_redeemed_once(engine, session):
    subscribe_handlers(get_bus())
    app = open_account(session)
    use = engagement.redeem(session, customer_id=app.customer_id, code="beginner_course", ref="course:enrol")
    session.commit()
    assert use.benefit_id and session.scalar(select(func.count()).select_from(BenefitUse)) == 1
    with pytest.raises(Conflict, match="用完"):
        engagement.redeem(session, customer_id=app.customer_id, code="beginner_course", ref="course:again")


def _moutai(session) -> None:
    session.add(Instrument(symbol="600519.SH", code="600519", exchange="SH", name="贵州茅台", kind="stock",
                           board="main", lot_size=100))
    session.commit()


def test_the_first_trade_is_congratulated_once_with_what_a_beginner_needs_next(engine, session):
    subscribe_handlers(get_bus())
    _moutai(session)
    app = open_account(session)
    get_bus().publish(trade(app.customer_id, 1, quantity=200))
    get_bus().publish(trade(app.customer_id, 2, quantity=100))
    sent = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "first_trade")).all()
    assert len(sent) == 1 and sent[0].customer_id == app.customer_id and sent[0].channel == "app"
    body = sent[0].body
    assert "王晓明您好，恭喜您完成了在我司的首笔交易：买入贵州茅台 200 股" in body
    assert "还剩 9 笔免佣" in body and "T+1" in body and "{" not in body
    assert session.scalar(select(Touch.sent).where(Touch.customer_id == app.customer_id, Touch.kind == "first_trade"))


def test_no_first_trade_message_after_an_earlier_trade(engine, session):
    subscribe_handlers(get_bus())
    _moutai(session)
    app = open_account(session)
    assert record_trade(session, event_id="booked-1", customer_id=app.customer_id,
                        traded_at=app.opened_at,
                        payload={"symbol": "600519.SH", "side": "buy", "quantity": 100, "price": "1500"}) is not None
    session.commit()
    get_bus().publish(trade(app.customer_id, 7))
    assert session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == "first_trade")) == 0


def test_no_first_trade_message_for_an_account_opened_years_ago(engine, session):
    """A customer of years whose trade history was never imported is not a beginner."""
    subscribe_handlers(get_bus())
    app = open_account(session)
    for account in session.scalars(select(Account).where(Account.customer_id == app.customer_id)):
        account.opened_on -= timedelta(days=3 * 365)
    session.commit()
    get_bus().publish(trade(app.customer_id, 1))
    assert session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == "first_trade")) == 0
