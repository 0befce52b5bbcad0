"""Journey funnels: steps published on the bus by the domains a customer goes through, the step
where they drop out by channel and tier, and the change against the month before."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from tests.quality import dataset
from tests.quality.dataset import bj

from brokercare.core.bus import Event, get_bus
from brokercare.core.journeys import journey_step
from brokercare.quality import journeys
from brokercare.quality import service as quality
from brokercare.quality.models import JourneyStepRecord


def transfer(bus, no: str, customer_id: int, channel: str, month: int, day: int, steps: list[str]) -> None:
    for minute, step in enumerate(steps):
        bus.publish(journey_step("bank_transfer", step, ref=f"transfer:{no}", customer_id=customer_id,
                                 channel=channel, at=bj(month, day, 9, minute)))


@pytest.fixture
def month(session):
    desk = dataset.build(session)
    who = {k: c.customer_id for k, c in desk.contacts.items()}
    bus = get_bus()
    journeys.subscribe(bus)
    # November: 张伟's transfer arrives (the bank's answer is accounts' transfer.completed); 林国华's
    # and 刘洋's stop at the bank; 王芳 gives up before the transfer is accepted.
    transfer(bus, "BT202611030001", who["zhang"], "app", 11, 3, ["started", "requested", "sent"])
    bus.publish(Event("transfer.completed", {"transfer_no": "BT202611030001", "account_id": 1, "direction": "in",
                                             "amount": "50000.00"}, customer_id=who["zhang"], occurred_at=bj(11, 3, 9, 30)))
    transfer(bus, "BT202611050002", who["lin"], "app", 11, 5, ["started", "requested"])
    transfer(bus, "BT202611090003", who["wang"], "web", 11, 9, ["started"])
    transfer(bus, "BT202611200004", who["liu"], "app", 11, 20, ["started", "requested"])
    transfer(bus, "BT202611200004", who["liu"], "app", 11, 20, ["started"])  # a redelivered event
    # October: both transfers arrived.
    for n, key in enumerate(("zhang", "lin")):
        transfer(bus, f"BT2026101{n}", who[key], "app", 10, 12 + n, ["started", "requested", "sent", "confirmed"])
    # The risk questionnaire: 苏晓梅 submits (advisory's risk.assessed), 张伟 stops after starting.
    su_ref = f"risk:{who['su']}:2026-11-12"
    bus.publish(journey_step("risk_questionnaire", "started", ref=su_ref, customer_id=who["su"], channel="app",
                             at=bj(11, 12, 20)))
    bus.publish(Event("risk.assessed", {"customer_id": who["su"], "assessment_id": 7, "level": "C3", "score": 52,
                                        "assessed_on": "2026-11-12", "valid_until": "2027-11-12", "channel": "app"},
                      customer_id=who["su"], occurred_at=bj(11, 12, 20, 9)))
    bus.publish(journey_step("risk_questionnaire", "started", ref=f"risk:{who['zhang']}:2026-11-15",
                             customer_id=who["zhang"], channel="app", at=bj(11, 15, 21)))
    start, end = quality.month_window(dataset.MONTH)
    return {f.journey: f for f in quality.funnels(session, start, end)}


def test_the_transfer_funnel_breaks_at_the_bank(month, session):
    f = month["bank_transfer"]
    assert (f.started, f.completed, f.previous_started, f.previous_completed) == (4, 1, 2, 2)
    steps = f.steps.select("label", "reached", "conversion", "previous_conversion").rows()
    assert steps == [("发起转账", 4, None, None), ("转账受理", 3, 0.75, 1.0),
                     ("银行处理", 1, pytest.approx(1 / 3), 1.0), ("转账到账", 1, 1.0, 1.0)]
    by_channel = {r["key"]: r for r in f.drop_outs["channel"].to_dicts()}
    assert (by_channel["app"]["instances"], by_channel["app"]["completed"], by_channel["app"]["drop_step"]) == (3, 1, 3)
    assert (by_channel["web"]["instances"], by_channel["web"]["drop_step"]) == (1, 2)
    by_tier = {r["key"]: r for r in f.drop_outs["tier"].to_dicts()}
    assert (by_tier["mass"]["instances"], by_tier["mass"]["completed"]) == (2, 1)
    assert session.scalar(select(func.count()).select_from(JourneyStepRecord)
                          .where(JourneyStepRecord.ref == "transfer:BT202611200004")) == 2


def test_the_questionnaire_and_the_chats(month):
    q = month["risk_questionnaire"]
    assert (q.started, q.completed) == (2, 1)
    assert q.steps["reached"].to_list() == [2, 1, 1]  # submitting implies having answered
    chat = month["chat_to_resolution"]
    # Nine chats began in November, eight closed, and 张伟 came back within 24 h of one of them.
    assert chat.steps["reached"].to_list() == [9, 8, 7]
    assert month["fund_order"].started == 0  # nobody has published fund-order steps yet


def test_a_step_outside_the_vocabulary_is_refused():
    with pytest.raises(ValueError, match="bank_transfer.teleported"):
        journey_step("bank_transfer", "teleported", ref="transfer:x", at=bj(11, 1, 9))


def test_the_monthly_report_names_each_journeys_break_point(month, session):
    from brokercare.quality import report

    kpis = quality.month_kpis(session, dataset.MONTH, as_of=dataset.AS_OF)
    rows = report.break_points(list(month.values()))
    assert ["银证转账", "4", "25.0%", "银行处理", "33.3%", "100.0%", "-66.7 个百分点"] in rows
    # 8 of 9 chats closed (88.9%), 7 of those 8 without a return within 24 h (87.5%): the weaker step
    assert ["咨询到解决", "9", "77.8%", "24 小时内未再来访", "87.5%", "100.0%", "-12.5 个百分点"] in rows
    assert all(r[0] != "基金下单" for r in rows)  # no fund-order steps this month: no row
    page = report.html(kpis, report.Extras(funnels=list(month.values())))
    assert "<td>银行处理</td>" in page and "客户旅程断点" in page
