"""Customer profiles: tiers at their exact boundaries, tier history, tags from the config file,
life stages, features a broker can check by hand, and incremental updates matching the batch."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from brokerage import NOW, Brokerage
from sqlalchemy import select

from brokercare.core.bus import Event, InProcessBus, set_bus
from brokercare.core.errors import NotFound, ValidationFailed
from brokercare.core.settings import get_settings
from brokercare.customers import batch, handlers
from brokercare.customers.config import PACKAGED, load_config
from brokercare.customers.features import FEATURES, markdown_table
from brokercare.customers.models import CustomerProfile, TierChange
from brokercare.customers.service import get_profile, refresh_profile, tier_history


def stored(session, customer_id: int) -> CustomerProfile:
    session.expire_all()
    return session.get(CustomerProfile, customer_id)


def test_registry_lists_over_100_features_each_fully_described() -> None:
    assert len(FEATURES) >= 100
    for f in FEATURES:
        assert f.type in {"int", "float", "bool", "str"}
        assert f.cadence in {"realtime", "daily", "monthly"}
        assert f.data_class in {1, 2, 3, 4}
        assert f.source and f.description and f.label


AUM_CASES = [
    ("499999.99", "long_tail"),
    ("500000.00", "mass"),
    ("4999999.99", "mass"),
    ("5000000.00", "potential"),
    ("49999999.99", "potential"),
    ("50000000.00", "vip"),
]


def test_tiers_at_exact_boundaries(session) -> None:
    b = Brokerage(session)
    ids = {}
    for cash, _ in AUM_CASES:
        c, _acct = b.customer(cash=cash)
        ids[cash] = c.id
    # Exactly 50万 reached through cash plus holdings valued at last_price (100 × 1500 元).
    mixed, acct = b.customer(cash="350000.00")
    b.hold(acct, "600519.SH", "100", "1200")
    # 50万 of net assets is 长尾 once a margin debt is taken off.
    levered, acct2 = b.customer(cash="500000.00")
    b.margin(levered, cash="0.01", financing="0.02", credit_limit="100000")
    session.commit()

    result = batch.run(session.get_bind())
    assert result.customers == len(AUM_CASES) + 2
    for cash, tier in AUM_CASES:
        row = stored(session, ids[cash])
        assert (row.tier, row.aum) == (tier, Decimal(cash)), cash
    assert stored(session, mixed.id).tier == "mass"
    assert stored(session, mixed.id).aum == Decimal("500000.00")
    assert stored(session, levered.id).aum == Decimal("499999.99")
    assert stored(session, levered.id).tier == "long_tail"


def test_high_net_worth_flag_from_10_million(session) -> None:
    b = Brokerage(session)
    below, _ = b.customer(cash="9999999.99")
    at, _ = b.customer(cash="10000000.00")
    session.commit()
    batch.run(session.get_bind())
    assert stored(session, below.id).high_net_worth is False
    assert stored(session, at.id).high_net_worth is True
    assert "high_net_worth" in stored(session, at.id).tags


def test_crossing_a_boundary_writes_history_and_publishes_event(session) -> None:
    bus = InProcessBus()
    set_bus(bus)
    seen: list[Event] = []
    bus.subscribe("customer.tier_changed", seen.append, group="test")
    b = Brokerage(session)
    c, acct = b.customer(cash="499999.99")
    other, _ = b.customer(cash="80000.00")
    session.commit()
    batch.run(session.get_bind())
    assert [(t.from_tier, t.to_tier, t.reason) for t in tier_history(session, c.id)] == [
        (None, "long_tail", "initial")]
    assert seen == []

    acct.cash_balance = Decimal("500000.00")  # one fen more: a 大众 customer now
    session.commit()
    batch.run(session.get_bind())
    history = tier_history(session, c.id)
    assert [(t.from_tier, t.to_tier, t.reason, t.aum) for t in history] == [
        (None, "long_tail", "initial", Decimal("499999.99")),
        ("long_tail", "mass", "aum", Decimal("500000.00")),
    ]
    assert len(tier_history(session, other.id)) == 1  # unchanged customers get no new rows
    assert [(e.type, e.customer_id, e.payload["from_tier"], e.payload["to_tier"]) for e in seen] == [
        ("customer.tier_changed", c.id, "long_tail", "mass")]

    batch.run(session.get_bind())  # recomputing without a change adds nothing
    assert len(tier_history(session, c.id)) == 2


def test_features_match_what_a_broker_computes_by_hand(session) -> None:
    b = Brokerage(session)
    c, acct = b.customer(cash="100000.00", city="上海")
    b.hold(acct, "600519.SH", "200", "1400")      # 300,000 market value, cost 280,000
    b.hold(acct, "300750.SZ", "1000", "300")      # 250,000, cost 300,000 (a loss)
    b.hold(acct, "003003.OF", "50000", "1")       # money fund 50,000
    b.trade(acct, "600519.SH", "buy", "100", "1450", NOW - timedelta(days=40))
    b.trade(acct, "600519.SH", "sell", "100", "1500", NOW - timedelta(days=5))
    b.trade(acct, "300750.SZ", "sell", "100", "280", NOW - timedelta(days=5))
    b.order(acct, "600519.SH", "cancelled")
    b.order(acct, "600519.SH", "filled")
    b.transfer(acct, "50000.00")
    b.transfer(acct, "-20000.00")
    b.behaviour(c, "login", device_id="iphone", geo_city="上海", days_ago=60)
    b.behaviour(c, "login", device_id="iphone", geo_city="上海", days_ago=10)
    b.behaviour(c, "login", device_id="huawei", geo_city="乌鲁木齐", days_ago=1)
    b.behaviour(c, "search", query="孩子出国留学要准备多少钱")
    b.behaviour(c, "search", query="子女教育金怎么规划")
    b.behaviour(c, "search", query="教育金定投")
    b.behaviour(c, "content_read", topic="子女教育", page="/news/article", duration_s=40, channel="web")
    margin = b.margin(c, cash="10000.00", financing="200000.00", credit_limit="500000.00")
    b.hold(margin, "688981.SH", "3000", "80")     # 270,000
    session.commit()

    batch.run(session.get_bind())
    f = get_profile(session, c.id).features
    assert f["cash_balance"] == 110000.0
    assert f["market_value"] == 870000.0
    assert f["total_assets"] == 980000.0
    assert f["aum"] == 780000.0                   # less the 200,000 financing debt
    assert f["money_fund_share"] == round(50000 / 980000, 4)
    assert f["usd_asset_share"] == 0.0            # no USD holdings, no USD cash
    assert f["maintenance_ratio"] == 1.4          # 280,000 / 200,000
    assert f["margin_warning_distance"] == 0.0
    assert f["credit_utilisation"] == 0.4
    assert f["unrealised_pnl"] == 870000.0 - (280000 + 300000 + 50000 + 240000)
    assert f["losing_positions"] == 1
    assert f["trade_count_30d"] == 2 and f["trade_count_90d"] == 3
    assert f["turnover_90d"] == 145000.0 + 150000.0 + 28000.0
    assert f["win_rate_365d"] == 0.5              # 茅台 sold above its buy, 宁德 below its cost
    assert f["avg_holding_period_days"] == 35.0
    assert f["cancel_rate_90d"] == 0.5
    assert f["net_inflow_30d"] == 30000.0 and f["largest_withdrawal_90d"] == 20000.0
    assert f["new_city_logins_30d"] == 1 and f["new_device_logins_30d"] == 1
    assert f["search_study_abroad_365d"] == 1
    assert f["search_child_education_365d"] == 3  # two searches and one read
    assert f["page_views_education_90d"] == 1 and f["content_reads_90d"] == 1
    assert f["web_share_90d"] == round(1 / 7, 4)
    assert f["risk_level"] == "C3" and f["risk_assessment_expired"] is False
    assert f["has_margin_account"] is True and f["accounts_count"] == 2
    tags = {t.key for t in get_profile(session, c.id).tags}
    assert {"steady", "margin_high_risk", "child_education_fund", "new_city_login"} <= tags
    assert "high_frequency" not in tags


def test_life_stages_from_age_family_and_events(session) -> None:
    b = Brokerage(session)
    today = date.today()
    retiree, _ = b.customer(gender="M", birth=date(today.year - 63, 1, 1))
    near, _ = b.customer(gender="F", birth=date(today.year - 52, 1, 1))
    school, _ = b.customer(birth=date(today.year - 40, 1, 1))
    b.family(school, "child", today.year - 10)
    baby, _ = b.customer(birth=date(today.year - 31, 1, 1))
    b.family(baby, "child", today.year - 1)
    newly, _ = b.customer(birth=date(today.year - 29, 1, 1))
    b.life_event(newly, "marriage", today - timedelta(days=200))
    single, _ = b.customer(birth=date(today.year - 26, 1, 1), marital_status="single")
    session.commit()
    batch.run(session.get_bind())
    stages = {cid: stored(session, cid).life_stage for cid in
              (retiree.id, near.id, school.id, baby.id, newly.id, single.id)}
    assert stages == {retiree.id: "退休", near.id: "临近退休", school.id: "子女教育",
                      baby.id: "育儿", newly.id: "新婚", single.id: "单身"}


def _local_config(extra_tag: str) -> None:
    path = get_settings().data_dir / "cdp.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(PACKAGED, path)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(extra_tag)


def test_a_rule_added_to_the_config_file_tags_customers_without_code(session) -> None:
    b = Brokerage(session)
    c, acct = b.customer(cash="20000.00")
    b.hold(acct, "600519.SH", "100", "1400")
    session.commit()
    batch.run(session.get_bind())
    assert "moutai_fan" not in stored(session, c.id).tags

    _local_config(
        "  - key: moutai_fan\n"
        "    label: 白酒龙头持有人\n"
        "    when: \"stock_value >= 100000 AND main_board_share >= 0.9\"\n"
        "    description: 重仓主板白酒龙头。\n"
    )
    batch.run(session.get_bind())
    assert "moutai_fan" in stored(session, c.id).tags
    labels = {t.key: t.label for t in get_profile(session, c.id).tags}
    assert labels["moutai_fan"] == "白酒龙头持有人"


def test_a_rule_naming_an_unknown_feature_is_refused_with_its_name() -> None:
    _local_config("  - key: typo\n    label: 拼写错误\n    when: \"aum_total > 1\"\n")
    with pytest.raises(ValidationFailed, match=r"tag typo.*aum_total"):
        load_config()


def test_trade_event_updates_the_profile_exactly_as_the_batch_would(session) -> None:
    bus = InProcessBus()
    set_bus(bus)
    handlers.subscribe(bus)
    b = Brokerage(session)
    c, acct = b.customer(cash="600000.00")
    session.commit()
    batch.run(session.get_bind())
    assert stored(session, c.id).features.get("trade_count_30d") is None  # sparse: zero omitted

    # The customer buys 300 股 茅台: cash out, a position in, a trade on record.
    t = b.trade(acct, "600519.SH", "buy", "300", "1500.00", NOW - timedelta(minutes=5))
    acct.cash_balance = Decimal("600000.00") - t.amount - t.commission - t.transfer_fee
    b.hold(acct, "600519.SH", "300", "1500.00", opened_on=date.today())
    session.commit()
    bus.publish(Event(type="trade.executed", customer_id=None,
                      payload={"account_id": acct.id, "trade_no": t.trade_no}))
    assert bus.failures == []
    incremental = stored(session, c.id)
    assert incremental.features["trade_count_30d"] == 1
    assert incremental.features["stock_value"] == 450000.0

    bus.clear()
    batch.run(session.get_bind())
    bulk = stored(session, c.id)
    assert bulk.features == incremental.features
    assert (bulk.tags, bulk.tier, bulk.aum, bulk.life_stage) == (
        incremental.tags, incremental.tier, incremental.aum, incremental.life_stage)


def test_a_redelivered_event_is_applied_once(session) -> None:
    b = Brokerage(session)
    c, acct = b.customer(cash="499999.99")
    session.commit()
    batch.run(session.get_bind())
    acct.cash_balance = Decimal("500000.00")
    session.commit()
    event = Event(type="transfer.completed", customer_id=c.id, payload={"amount": "0.01"})
    assert handlers.on_event(event) is not None
    assert handlers.on_event(event) is None
    assert len(tier_history(session, c.id)) == 2


def test_refresh_and_profile_of_an_unknown_customer_is_a_clear_404(session) -> None:
    with pytest.raises(NotFound, match="客户不存在"):
        get_profile(session, 987654)
    with pytest.raises(NotFound):
        refresh_profile(session, 987654)


def test_profile_without_a_stored_row_is_computed_on_request(session) -> None:
    b = Brokerage(session)
    c, _ = b.customer(cash="6000000.00")
    session.commit()
    p = get_profile(session, c.id)
    assert (p.tier, p.tier_label, p.stored) == ("potential", "潜力客户", False)
    assert session.scalar(select(CustomerProfile).where(CustomerProfile.customer_id == c.id)) is None
    assert session.scalar(select(TierChange)) is None


def test_process_pool_gives_the_same_profiles_as_one_process(session) -> None:
    b = Brokerage(session)
    for i in range(7):
        c, acct = b.customer(cash=f"{(i + 1) * 123456}.78")
        b.hold(acct, "300750.SZ", str(100 * (i + 1)), "200")
    session.commit()
    engine = session.get_bind()
    batch.run(engine, partition_size=3)
    serial = {r.customer_id: (r.features, r.tags) for r in session.scalars(select(CustomerProfile))}
    session.expire_all()
    result = batch.run(engine, partition_size=3, workers=2)
    pooled = {r.customer_id: (r.features, r.tags) for r in session.scalars(select(CustomerProfile))}
    assert result.partitions == 3 and pooled == serial


def test_stored_features_are_sparse_json_and_decode_to_the_full_registry(session) -> None:
    b = Brokerage(session)
    c, _ = b.customer(cash="1000.00")
    session.commit()
    batch.run(session.get_bind())
    raw = stored(session, c.id).features
    assert "trade_count_365d" not in raw            # zero: omitted in storage
    assert json.loads(json.dumps(raw)) == raw
    full = get_profile(session, c.id).features
    assert list(full) == [f.name for f in FEATURES]
    assert full["trade_count_365d"] == 0 and full["days_since_last_trade"] is None


def test_the_documented_registry_is_the_code_registry() -> None:
    doc = Path(__file__).parents[2] / "docs" / "customer-data-platform.md"
    assert markdown_table() in doc.read_text(encoding="utf-8"), (
        "regenerate the table: brokercare profiles features --markdown")
