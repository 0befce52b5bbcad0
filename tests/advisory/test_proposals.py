"""Rebalancing proposals: lots, T+1, cash, fees, suitability, the batch on Dask, the explanation."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import numpy as np
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from brokercare.accounts.models import Account, Position
from brokercare.advisory import batch, demo, explanations, service
from brokercare.advisory import proposals as P
from brokercare.advisory.models import SuitabilityConfirmation
from brokercare.advisory.portfolios import build, weight_matrix
from brokercare.core.settings import get_settings
from brokercare.market.models import Instrument

STOCKS = [
    {"symbol": "600519.SH", "kind": "stock", "board": "main", "exchange": "SH", "name": "贵州茅台",
     "lot_size": 100, "last_price": 1500.0, "risk_rating": "R4"},
    {"symbol": "688981.SH", "kind": "stock", "board": "star", "exchange": "SH", "name": "中芯国际",
     "lot_size": 200, "last_price": 90.0, "risk_rating": "R4"},
    {"symbol": "000198.OF", "kind": "fund", "board": "money", "exchange": "OF", "name": "天弘余额宝货币",
     "lot_size": 1, "last_price": 1.0, "risk_rating": "R1"},
    {"symbol": "300750.SZ", "kind": "stock", "board": "chinext", "exchange": "SZ", "name": "宁德时代",
     "lot_size": 100, "last_price": 250.0, "risk_rating": "R4"},
]


@pytest.fixture(scope="module")
def weights():
    return weight_matrix(build(high_volatility=False))


@pytest.fixture(scope="module")
def ctx(weights):
    return P.build_context(STOCKS, weights)


def idx(ctx, symbol):
    return ctx.symbols.tolist().index(symbol)


def part_of(ctx, customers):
    """customers: list of (level, cash, [(symbol, qty, available)])."""
    offsets, inst, qty, avail = [0], [], [], []
    for _, _, holdings in customers:
        for sym, q, a in holdings:
            inst.append(idx(ctx, sym))
            qty.append(q)
            avail.append(a)
        offsets.append(len(inst))
    return P.Partition(
        customer_id=np.arange(1, len(customers) + 1, dtype=np.int64),
        level=np.array([c[0] for c in customers], np.int8),
        cash=np.array([c[1] for c in customers], float),
        commission_rate=np.full(len(customers), 0.00025),
        offsets=np.array(offsets, np.int64), inst=np.array(inst, np.int32),
        qty=np.array(qty, float), available=np.array(avail, float),
    )


def trades(result, ctx, cid):
    return {(str(ctx.symbols[result.t_inst[i]]), int(result.t_side[i])): (result.t_qty[i], result.t_amount[i], result.t_fee[i])
            for i in result.trades_of(cid)}


def test_concentrated_c3_customer_sells_in_lots_and_buys_the_model(ctx):
    result = P.propose(part_of(ctx, [(2, 20_000.0, [("600519.SH", 300, 300)])]), ctx)
    assert P.STATUS_NAMES[int(result.status[0])] == "rebalance"
    t = trades(result, ctx, 1)
    qty, amount, fee = t[("600519.SH", -1)]
    assert qty % 100 == 0 and qty < 300
    # commission 万2.5, stamp duty 0.05 % on the sale, transfer fee 0.001 %
    assert fee == pytest.approx(round(amount * 0.00025 + amount * 0.0005 + amount * 0.00001, 2))
    bought = [k for k in t if k[1] == 1]
    assert ("511010.SH", 1) in bought and all(t[k][0] % 100 == 0 for k in bought)
    spent = sum(t[k][1] + t[k][2] for k in bought)
    assert spent <= 20_000 + amount - fee - 1000 + 1e-6  # cash + proceeds, keeping the reserve
    assert ("512100.SH", 1) not in t  # R4 small caps are not bought for a C3 customer


def test_t_plus_one_shares_are_not_sold(ctx):
    result = P.propose(part_of(ctx, [(0, 0.0, [("600519.SH", 200, 0), ("688981.SH", 1000, 250)])]), ctx)
    t = trades(result, ctx, 1)
    assert ("600519.SH", -1) not in t  # bought today: nothing sellable
    assert t[("688981.SH", -1)][0] == 250  # all that is sellable, though not 200-multiples


def test_star_sells_at_least_200_and_odd_lots_only_when_selling_all(ctx):
    # wants to sell about 150 shares of STAR: below the 200 minimum, so none
    result = P.propose(part_of(ctx, [(4, 0.0, [("688981.SH", 1000, 1000), ("000198.OF", 0, 0)])]), ctx)
    star = trades(result, ctx, 1).get(("688981.SH", -1))
    assert star is None or star[0] >= 200
    # C1 must leave everything equity: the odd lot of 150 goes with the rest
    result = P.propose(part_of(ctx, [(0, 0.0, [("300750.SZ", 350, 350)])]), ctx)
    assert trades(result, ctx, 1)[("300750.SZ", -1)][0] == 350


def test_minimum_commission_and_small_accounts(ctx):
    result = P.propose(part_of(ctx, [(2, 3_000.0, [("000198.OF", 500, 500)])]), ctx)
    assert P.STATUS_NAMES[int(result.status[0])] == "below_minimum" and len(result.t_qty) == 0
    fee = P.fees(np.array([1000.0]), np.array([False]), np.array([0.00025]), np.array([True]),
                 np.array([True]), np.array([True]), P.trading_rules())
    assert fee[0] == pytest.approx(5.01)  # 5 元 minimum + 0.001 % transfer fee


def test_no_valid_assessment_means_no_trades(ctx):
    result = P.propose(part_of(ctx, [(-1, 100_000.0, [("600519.SH", 300, 300)])]), ctx)
    assert P.STATUS_NAMES[int(result.status[0])] == "reassess" and len(result.t_qty) == 0


def test_customer_on_target_gets_no_trades(ctx, weights):
    # build a C2 customer already at the model: 90 % bond ETF, 10 % cash
    total = 500_000.0
    bond_qty = np.floor(total * weights[1, 2] / ctx.price[idx(ctx, "511010.SH")] / 100) * 100
    cash = total - bond_qty * ctx.price[idx(ctx, "511010.SH")]
    result = P.propose(part_of(ctx, [(1, cash, [("511010.SH", bond_qty, bond_qty)])]), ctx)
    assert P.STATUS_NAMES[int(result.status[0])] == "on_target" and len(result.t_qty) == 0


def test_partitioning_does_not_change_the_answer(ctx):
    book = batch.synthetic_book(3000, ctx, np.random.default_rng(7))
    whole = P.propose(book, ctx)
    split = P.run_batch([book.slice(0, 1000), book.slice(1000, 2200), book.slice(2200, 3000)], ctx)
    for f in P.Proposals.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(whole, f), getattr(split, f))


def test_dask_cluster_with_two_workers_gives_the_same_proposals(ctx):
    from dask.distributed import Client, LocalCluster  # a few seconds to import: this test only

    book = batch.synthetic_book(4000, ctx, np.random.default_rng(11))
    parts = [book.slice(i, min(i + 1000, 4000)) for i in range(0, 4000, 1000)]
    local = P.run_batch(parts, ctx)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        remote = P.run_batch(parts, ctx, client=client)
    for f in P.Proposals.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(local, f), getattr(remote, f))
    assert (local.status == P.REBALANCE).sum() > 100


# --- the database path (both backends) ------------------------------------------------------


def _seed_book(session, customer_factory):
    for s in STOCKS:
        session.add(Instrument(symbol=s["symbol"], code=s["symbol"][:6], exchange=s["exchange"], name=s["name"],
                               kind=s["kind"], board=s["board"], lot_size=s["lot_size"],
                               last_price=Decimal(str(s["last_price"])), risk_rating=s["risk_rating"]))
    session.flush()
    c3 = customer_factory(level="C3")
    stale = customer_factory()
    for n, customer in enumerate((c3, stale)):
        acc = Account(account_no=f"A{n}", customer_id=customer.id, kind="cash", opened_on=date(2020, 1, 2),
                      branch_code="SH001", commission_rate=Decimal("0.00025"), cash_balance=Decimal("20000.00"),
                      frozen_cash=Decimal("0"))
        session.add(acc)
        session.flush()
        session.add(Position(account_id=acc.id, symbol="600519.SH", quantity=Decimal("300"),
                             available_quantity=Decimal("300"), cost_price=Decimal("1600")))
        session.add(Position(account_id=acc.id, symbol="688981.SH", quantity=Decimal("400"),
                             available_quantity=Decimal("200"), cost_price=Decimal("80")))
    session.commit()
    return c3, stale


def test_advice_for_one_customer_from_the_database(session, customer_factory):
    c3, stale = _seed_book(session, customer_factory)
    advice = service.rebalance_advice(session, c3.id)
    assert advice.status == "rebalance" and advice.level == "C3"
    assert advice.current["large_cap"] > 0.7
    sides = {(t["symbol"], t["side"]) for t in advice.trades}
    assert ("600519.SH", "sell") in sides and ("511010.SH", "buy") in sides
    assert "稳健型" in advice.text and "贵州茅台" in advice.text and "国泰上证5年期国债ETF" in advice.text
    assert "T+1" in advice.text and "中芯国际" in advice.text
    assert "不构成收益承诺" in advice.text
    star_sell = [t for t in advice.trades if t["symbol"] == "688981.SH"]
    assert all(t["quantity"] <= 200 for t in star_sell)
    other = service.rebalance_advice(session, stale.id)
    assert other.status == "reassess" and other.trades == [] and "风险测评" in other.text


def test_nightly_batch_writes_parquet(session, customer_factory, tmp_path):
    _seed_book(session, customer_factory)
    summary = service.nightly(session, tmp_path, run_date=date(2026, 7, 31), partition_size=1)
    assert summary.customers == 2 and summary.rebalance == 1 and summary.reassess == 1
    customers = pq.read_table(summary.path / "customers.parquet").to_pandas()
    trades_ = pq.read_table(summary.path / "trades.parquet").to_pandas()
    assert set(customers["status"]) == {"rebalance", "reassess"}
    assert len(trades_) == summary.trades > 0 and set(trades_["side"]) == {"buy", "sell"}


def test_demo_history(engine, session, customer_factory):
    _seed_book(session, customer_factory)

    class Always:
        def random(self):
            return 0.0

    summary: dict = {}
    demo.generate(engine, Always(), summary)
    rows = session.scalars(select(SuitabilityConfirmation)).all()
    assert len(rows) == 1 and rows[0].product_risk == "R4" and rows[0].investor_level == "C3"
    reports = get_settings().data_dir / "reports" / "advisory"
    assert (reports / "backtest.md").exists() and "1 to rebalance" in summary["advisory"]


def test_nightly_batch_on_an_empty_brokerage(session, tmp_path):
    summary = service.nightly(session, tmp_path, run_date=date(2026, 7, 31))
    assert summary.customers == 0 and summary.trades == 0 and (summary.path / "trades.parquet").exists()


def test_a_vehicle_rated_above_the_level_is_not_bought_and_the_text_says_why(weights):
    # the platform's master rates the 沪深300 ETF R4: a C3 customer must not be sold it
    rows = STOCKS + [{"symbol": "510300.SH", "kind": "etf", "board": "index", "exchange": "SH",
                      "name": "华泰柏瑞沪深300ETF", "lot_size": 100, "last_price": 4.68, "risk_rating": "R4"}]
    ctx = P.build_context(rows, weights)
    part = part_of(ctx, [(2, 500_000.0, [])])
    result = P.propose(part, ctx)
    bought = {str(ctx.symbols[result.t_inst[i]]) for i in result.trades_of(1)}
    assert "510300.SH" not in bought and "511010.SH" in bought
    assert result.blocked[0, ctx.classes.index("large_cap")]
    text = explanations.explain(result, 0, part, ctx, explanations.names_of(ctx, rows))
    assert "A股大盘股的比例低于模型" in text and "适当性" in text


def test_the_nightly_batch_sets_a_margin_customers_cash_aside_for_the_debt(session, customer_factory):
    """The C3 customer also has a credit account owing 12,000 元 of financing: of the 20,000 元 in
    the cash account only 8,000 are invested by the nightly proposals, as the one-customer advice
    does; the other customer owes nothing and keeps all of it."""
    from tests.monitoring.brokerage import margin

    c3, stale = _seed_book(session, customer_factory)
    credit = Account(account_no="M0", customer_id=c3.id, kind="margin", opened_on=date(2021, 3, 1),
                     branch_code="SH001", commission_rate=Decimal("0.00025"), cash_balance=Decimal("0"),
                     frozen_cash=Decimal("0"))
    session.add(credit)
    session.flush()
    margin(session, credit, "12000")
    session.commit()
    from brokercare.advisory.portfolios import current_models
    from brokercare.market.service import instrument_rows

    ctx = P.build_context(instrument_rows(session), weight_matrix(current_models()))
    [nightly] = batch.partitions_from_db(session, ctx, size=10, today=date(2026, 7, 31))
    plain = batch.partition_from_db(session, ctx, [c3.id, stale.id], today=date(2026, 7, 31))
    assert dict(zip(nightly.customer_id.tolist(), nightly.cash.tolist(), strict=True)) == {c3.id: 8000.0,
                                                                                             stale.id: 20000.0}
    assert plain.cash.tolist() == [20000.0, 20000.0]
