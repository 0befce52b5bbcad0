"""赎回款到账 as the fund operations desk checks it: a redemption's proceeds reach the capital
account on the fund type's day counted in trading days from the NAV day (money-market T+1, bond
T+3, index and equity T+4, QDII T+8), across 国庆 and 春节; until then they are 在途资金 — shown
with their day, counted in the customer's assets, not spendable and not transferable to the bank —
and the settlement job credits each redemption once however often it runs. Purchases publish
their steps to the quality domain's fund-order funnel."""

from __future__ import annotations

from datetime import UTC, date
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.accounts.test_fund_orders import (  # noqa: F401  (shelf and _cheap_argon2 are fixtures)
    HS300,
    PASSWORD,
    _cheap_argon2,
    bj,
    confirm,
    investor,
    money,
    order,
    shelf,
    subscribe,
)

from brokercare.accounts import fund_settlement, funds, transfers
from brokercare.accounts.models import Account, CashMovement, FundOrder
from brokercare.accounts.service import net_assets_by_customer
from brokercare.api import create_app
from brokercare.core.bus import get_bus
from brokercare.core.database import session_scope
from brokercare.core.errors import Conflict, ValidationFailed
from brokercare.core.scheduler import run_now
from brokercare.ledger.models import LedgerEntry
from brokercare.quality import journeys as quality_journeys
from brokercare.quality.models import JourneyStepRecord
from brokercare.security.service import create_user, get_cipher

BOND = "001512.OF"  # 易方达中债3-5年期国债指数, bond


@pytest.mark.parametrize(("symbol", "fund_type", "nav_day", "arrives"), [
    ("004862.OF", "money", date(2026, 1, 13), date(2026, 1, 14)),   # 货币基金 T+1
    ("004862.OF", "money", date(2026, 2, 13), date(2026, 2, 24)),   # 春节前最后一天: 节后首日到账
    (BOND, "bond", date(2025, 9, 29), date(2025, 10, 10)),           # 债券基金 T+3, 跨国庆
    (HS300, "index", date(2026, 2, 12), date(2026, 2, 26)),          # 指数基金 T+4, 跨春节
    ("110011.OF", "mixed", date(2026, 1, 13), date(2026, 1, 19)),   # 混合基金 T+4, 跨周末
    ("270042.OF", "qdii", date(2026, 1, 13), date(2026, 1, 23)),    # QDII T+8
])
def test_the_settlement_day_is_counted_in_trading_days_by_fund_type(engine, symbol, fund_type, nav_day, arrives):
    assert fund_settlement.settle_day_for(symbol, fund_type, nav_day) == arrives


def holding(session, n: int) -> tuple[int, int]:
    """A 稳健型 customer who bought 10,000 元 of 华夏沪深300ETF联接A on 2026-02-02 (confirmed 02-03)."""
    cid, acc = investor(session, n, "C3")
    subscribe(session, cid, "10000", f"buy-{n}", bj(2026, 2, 2, 10, 0))
    confirm(session, date(2026, 2, 3))
    return cid, acc


def redeem(session, cid, units, key, at, symbol=HS300):
    out = funds.place_redemption(session, customer_id=cid, symbol=symbol, units=units,
                                 idempotency_key=key, now=at.astimezone(UTC))
    session.commit()
    return out


@pytest.mark.usefixtures("shelf")
def test_index_fund_proceeds_are_in_transit_over_the_spring_festival_then_credited_once(session):
    """Redeemed on Thursday 2-12 before 15:00: NAV day 2-12, confirmed 2-13, T+4 trading days is
    2-26 (春节 2-14..2-23 closed). In between the money is in transit; the job credits it on 2-26."""
    cid, acc = holding(session, 1)
    units = order(session, session.scalar(select(FundOrder.order_no))).units
    placed = redeem(session, cid, units, "app-sell", bj(2026, 2, 12, 14, 30))
    assert (placed.nav_day, placed.settle_day) == (date(2026, 2, 12), date(2026, 2, 26))
    assert placed.state_label == "已受理，待确认（赎回款预计 2 月 26 日到账）"

    confirm(session, date(2026, 2, 13))
    done = order(session, placed.order_no)
    assert done.state == "confirmed" and done.proceeds > Decimal("10000")
    assert money(session, acc) == (Decimal("190000.00"), Decimal("0.00"))  # not credited yet
    [transit] = fund_settlement.in_transit(session, [acc])
    assert (transit.amount, transit.expected_on) == (done.proceeds, date(2026, 2, 26))
    assert transit.label == f"在途资金：赎回华夏沪深300ETF联接A {done.proceeds:,.2f} 元，预计 2 月 26 日到账"
    assert funds.view(done).state_label == "已确认，赎回款在途（预计 2 月 26 日到账）"
    [mine] = [n for n in net_assets_by_customer(session) if n.customer_id == cid]
    assert mine.assets == Decimal("190000.00") + done.proceeds  # still the customer's money

    for day in (date(2026, 2, 13), date(2026, 2, 24), date(2026, 2, 25)):
        assert fund_settlement.settle_due(session, day)["settled"] == 0
    session.commit()
    counts = fund_settlement.settle_due(session, date(2026, 2, 26), now=bj(2026, 2, 26, 9, 10))
    session.commit()
    assert (counts["settled"], counts["still_in_transit"]) == (1, 0)
    assert fund_settlement.settle_due(session, date(2026, 2, 26))["settled"] == 0  # twice: once
    session.commit()
    assert money(session, acc) == (Decimal("190000.00") + done.proceeds, Decimal("0.00"))
    assert fund_settlement.in_transit(session, [acc]) == []
    movement = session.scalar(select(CashMovement).where(CashMovement.movement_no == placed.order_no))
    assert (movement.kind, movement.status, movement.amount) == ("fund_redeem", "done", done.proceeds)
    settled = session.scalars(select(LedgerEntry.body).where(LedgerEntry.kind == "fund_order.settled")).all()
    assert len(settled) == 1 and '"settle_day":"2026-02-26"' in settled[0]
    assert funds.view(order(session, placed.order_no)).state_label == "已确认，赎回款已到账"


@pytest.mark.usefixtures("shelf")
def test_a_bond_fund_redeemed_before_national_day_arrives_after_it(session):
    """易方达中债3-5年期国债指数 redeemed Monday 9-29 (NAV day 9-29): T+3 is 10-10, not 10-2."""
    cid, acc = investor(session, 2, "C3")
    subscribe(session, cid, "50000", "buy-bond", bj(2025, 9, 1, 10, 0), symbol=BOND)
    confirm(session, date(2025, 9, 2))
    placed = redeem(session, cid, "10000", "sell-bond", bj(2025, 9, 29, 11, 0), symbol=BOND)
    confirm(session, date(2025, 9, 30))
    assert order(session, placed.order_no).settle_day == date(2025, 10, 10)
    assert fund_settlement.settle_due(session, date(2025, 10, 9))["settled"] == 0
    assert fund_settlement.settle_due(session, date(2025, 10, 10))["settled"] == 1
    session.commit()
    assert money(session, acc)[0] == Decimal("150000.00") + order(session, placed.order_no).proceeds


@pytest.mark.usefixtures("shelf")
def test_two_settlement_runs_at_once_credit_once(session):
    """Two schedulers pick the same redemption: the second finds it already credited."""
    cid, acc = holding(session, 3)
    placed = redeem(session, cid, "3000", "app-half", bj(2026, 2, 12, 10, 0))
    confirm(session, date(2026, 2, 13))
    with session_scope() as first, session_scope() as second:
        mine = first.scalar(select(FundOrder).where(FundOrder.order_no == placed.order_no))
        theirs = second.scalar(select(FundOrder).where(FundOrder.order_no == placed.order_no))
        assert fund_settlement.settle(first, mine, now=bj(2026, 2, 26, 9, 10)) is True
        first.commit()
        assert fund_settlement.settle(second, theirs, now=bj(2026, 2, 26, 9, 10)) is False
    proceeds = order(session, placed.order_no).proceeds
    assert money(session, acc)[0] == Decimal("190000.00") + proceeds
    assert session.scalar(select(func.count()).select_from(LedgerEntry)
                          .where(LedgerEntry.kind == "fund_order.settled")) == 1


@pytest.mark.usefixtures("shelf")
def test_the_scheduled_job_credits_what_is_due(session):
    cid, acc = holding(session, 4)
    placed = redeem(session, cid, "2000", "app-job", bj(2026, 2, 12, 10, 0))
    confirm(session, date(2026, 2, 13))
    early = run_now("accounts.settle_fund_redemptions", date(2026, 2, 25))
    assert early.status == "succeeded" and early.counts["settled"] == 0
    due = run_now("accounts.settle_fund_redemptions", date(2026, 2, 26))
    assert due.status == "succeeded" and due.counts["settled"] == 1, due
    again = run_now("accounts.settle_fund_redemptions", date(2026, 2, 26), force=True)
    assert again.counts.get("settled", 0) == 0
    assert money(session, acc)[0] == Decimal("190000.00") + order(session, placed.order_no).proceeds


@pytest.mark.usefixtures("shelf")
def test_money_in_transit_cannot_leave_for_the_bank_until_it_arrives(session):
    """赵丽 redeems all of her index fund and asks for it at the bank the next morning: only her
    cash may leave, and she is told when the rest arrives."""
    cid, acc = holding(session, 5)
    account = session.get(Account, acc)
    account.bank_name = "工商银行"
    account.bank_card_enc = get_cipher(session).encrypt("6222021001123456789")
    session.commit()
    units = order(session, session.scalar(select(FundOrder.order_no))).units
    placed = redeem(session, cid, units, "app-all", bj(2026, 2, 12, 10, 0))
    confirm(session, date(2026, 2, 13))
    with pytest.raises(ValidationFailed) as refused:
        transfers.request_transfer(session, customer_id=cid, direction="out", amount="195000",
                                   idempotency_key="out-1", now=bj(2026, 2, 24, 10, 0).astimezone(UTC))
    session.rollback()
    assert "可转出资金为 19.00万元" in refused.value.detail
    proceeds = order(session, placed.order_no).proceeds
    assert f"赎回华夏沪深300ETF联接A的 {proceeds:,.2f} 元为在途资金，预计 2 月 26 日到账后才能转出" in refused.value.detail
    fund_settlement.settle_due(session, date(2026, 2, 26))
    session.commit()
    out = transfers.request_transfer(session, customer_id=cid, direction="out", amount="195000",
                                     idempotency_key="out-2", now=bj(2026, 2, 26, 10, 0).astimezone(UTC))
    session.commit()
    assert out.state in ("requested", "held") and order(session, placed.order_no).settled_at is not None


@pytest.mark.usefixtures("shelf")
def test_the_customer_sees_money_in_transit_with_its_day(session):
    cid, acc = holding(session, 6)
    create_user(session, username="zhaoli", password=PASSWORD, role="customer", display_name="赵丽", customer_id=cid)
    session.commit()
    placed = redeem(session, cid, "5000", "app-5000", bj(2026, 2, 12, 10, 0))
    confirm(session, date(2026, 2, 13))
    with TestClient(create_app()) as client:
        token = client.post("/api/v1/auth/token", data={"username": "zhaoli", "password": PASSWORD})
        me = {"Authorization": f"Bearer {token.json()['access_token']}"}
        [account] = client.get(f"/api/v1/customers/{cid}/accounts", headers=me).json()
        orders = client.get(f"/api/v1/customers/{cid}/fund-orders", headers=me).json()
    proceeds = order(session, placed.order_no).proceeds
    assert Decimal(account["in_transit"]) == proceeds and Decimal(account["cash_balance"]) == Decimal("190000.00")
    [item] = account["in_transit_items"]
    assert item["expected_on"] == "2026-02-26" and item["label"].startswith("在途资金：赎回华夏沪深300ETF联接A")
    sold = next(o for o in orders if o["order_no"] == placed.order_no)
    assert sold["settle_day"] == "2026-02-26" and sold["state_label"] == "已确认，赎回款在途（预计 2 月 26 日到账）"


@pytest.mark.usefixtures("shelf")
def test_purchases_reach_the_quality_funnel_including_the_warned_one_who_stopped(session):
    """谨慎型 李秀英 is warned about an R4 fund and stops there; 稳健型 张伟 buys an R3 fund and gets
    his units: the fund-order funnel shows where each one got to."""
    quality_journeys.subscribe(get_bus())
    cautious, _ = investor(session, 7, "C2")
    with pytest.raises(Conflict):
        subscribe(session, cautious, "20000", "app-warned", bj(2026, 1, 13, 10, 0), symbol="000008.OF")
    session.rollback()
    buyer, _ = investor(session, 8, "C3")
    bought = subscribe(session, buyer, "10000", "app-bought", bj(2026, 1, 13, 10, 5))
    confirm(session, date(2026, 1, 14))

    def steps(customer_id):
        return session.scalars(select(JourneyStepRecord.step).where(
            JourneyStepRecord.journey == "fund_order", JourneyStepRecord.customer_id == customer_id)
            .order_by(JourneyStepRecord.step_no)).all()

    assert steps(cautious) == ["started", "suitability_checked"]
    assert steps(buyer) == ["started", "suitability_checked", "confirmed", "paid", "accepted"]
    refs = set(session.scalars(select(JourneyStepRecord.ref).where(JourneyStepRecord.customer_id == buyer)))
    assert refs == {funds.journey_ref(order(session, bought.order_no))}


@pytest.mark.usefixtures("shelf")
def test_the_assistant_counts_money_in_transit_and_says_when_it_arrives(session):
    """Asked about her account while the redemption is on its way, the customer hears the money is
    hers, how much, and from when she can use it."""
    from brokercare.assistant import service as assistant

    cid, _acc = holding(session, 3)
    units = order(session, session.scalar(select(FundOrder.order_no))).units
    redeem(session, cid, units, "app-sell", bj(2026, 2, 12, 14, 30))
    confirm(session, date(2026, 2, 13))
    proceeds = order(session, session.scalar(select(FundOrder.order_no).where(FundOrder.kind == "redeem"))).proceeds
    answer = assistant.reply(session, cid, "我账户总资产现在有多少？", channel="app").text
    assert f"另有基金赎回在途资金{proceeds / 10000:.2f}万元" in answer  # about 1.05万元
    assert "预计2月26日前到账，到账后才能使用或转出" in answer
