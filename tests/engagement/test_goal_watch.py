"""Goals and packages watched from what the customer actually holds: a goal typed in as well
funded but backed by little in the account goes off track, the customer is told once (under the
frequency cap) and the manager gets a task with the suggested adjustment; a package that drifted
beyond its band is flagged the same way."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from tests.engagement.people import customer, manager
from tests.monitoring.brokerage import add_instruments

from brokercare.accounts.models import Account, Position
from brokercare.advisory import service as advisory
from brokercare.advisory.models import RiskAssessment
from brokercare.engagement import contact, watch
from brokercare.engagement.models import ManagerTask, Watch
from brokercare.market.models import Instrument
from brokercare.outbox.models import OutboxMessage

DAY = date(2026, 6, 16)
FUNDS = [  # the education package's products (advisory/data/products.yaml) at their reference prices
    ("000198.OF", "天弘余额宝货币", "money", "R1", "1.0000"),
    ("001512.OF", "易方达中债3-5年期国债指数", "bond", "R2", "1.3806"),
    ("000051.OF", "华夏沪深300ETF联接A", "index", "R3", "1.7536"),
    ("000216.OF", "华安黄金ETF联接A", "gold", "R3", "3.8481"),
]


def _family(session) -> dict:
    """陈静 (C3) saves for her daughter's university in eight years: she typed in 250,000 元 already
    set aside, but her account holds about 12,000 元 of the education package's funds."""
    add_instruments(session)
    for symbol, name, board, risk, price in FUNDS:
        session.add(Instrument(symbol=symbol, code=symbol[:6], exchange="OF", name=name, kind="fund", board=board,
                               lot_size=1, risk_rating=risk, last_price=Decimal(price), price_source="nav"))
    session.flush()
    wang = manager(session, "cm_wang", "王经理")
    chen = customer(session, 1, "陈静", manager_id=wang, cash="8000",
                    holdings=(("001512.OF", 5000), ("000051.OF", 3000)))
    session.add(RiskAssessment(customer_id=chen, level="C3", score=55, assessed_on=date(2026, 3, 1),
                               valid_until=date(2028, 3, 1)))
    session.flush()
    goal, _ = advisory.set_goal(session, chen, kind="education", target_amount=300_000,
                                target_date=DAY + timedelta(days=8 * 365), current_value=250_000, monthly=1_000,
                                name="女儿大学教育金", today=DAY)
    session.commit()
    return {"chen": chen, "wang": wang, "goal": goal.id}


def _messages(session, customer_id: int) -> list[OutboxMessage]:
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.customer_id == customer_id)
                                .order_by(OutboxMessage.id)))


def test_the_goal_is_valued_from_the_package_holdings_not_the_typed_figure(session):
    people = _family(session)
    assert session.get(advisory.CustomerGoal, people["goal"]).on_track  # as typed in: on track
    goal = session.get(advisory.CustomerGoal, people["goal"])
    values = watch.actual_values(session, people["chen"], [goal])
    # 5,000 × 1.3806 + 3,000 × 1.7536 = 12,163.80 元 in the education package; the 8,000 元 of cash
    # belongs to no goal with a package holding, so it is not counted here
    assert values[goal.id] == (12163.8, "education")


def test_an_off_track_goal_tells_the_customer_once_and_gives_the_manager_a_task(session):
    people = _family(session)
    night = watch.watch_goals(session, DAY)
    session.commit()
    assert (night.goals, night.off_track, night.drifted, night.notified, night.tasks) == (1, 1, 1, 2, 2)
    goal = session.get(advisory.CustomerGoal, people["goal"])
    assert not goal.on_track and float(goal.current_value) == 12163.8
    msgs = _messages(session, people["chen"])
    assert [m.kind for m in msgs] == ["engagement_goal_watch", "engagement_package_watch"]
    assert "按目前实际持仓（约12,164元）重新测算" in msgs[0].body and "每月投入从1,000元提高到约" in msgs[0].body
    assert msgs[1].body.startswith("您的“教育金规划包”已偏离目标比例")
    tasks = session.scalars(select(ManagerTask).where(ManagerTask.customer_id == people["chen"])
                            .order_by(ManagerTask.id)).all()
    assert [(t.kind, t.manager_id) for t in tasks] == [("goal_watch", people["wang"]), ("package_watch", people["wang"])]
    assert tasks[0].title.startswith("目标偏离：女儿大学教育金") and "建议调整" in tasks[0].script

    again = watch.watch_goals(session, DAY + timedelta(days=1))
    session.commit()
    assert (again.off_track, again.notified, again.tasks) == (1, 0, 0)  # still off track: nothing new
    assert len(_messages(session, people["chen"])) == 2


def test_one_projection_per_goal_a_night_the_watch_and_advisorys_review_share_it(session):
    """The watch re-projects 陈静's goal from her holdings; advisory's nightly review, run after it
    the same evening, reuses that projection instead of simulating again, and so does a second
    watch run once she has been told."""
    people = _family(session)
    tonight = advisory.local_today()
    first = watch.watch_goals(session, tonight)
    session.commit()
    assert (first.off_track, first.notified, first.reused) == (1, 2, 0)  # 12,163.80 元, not the typed 250,000
    goal = session.get(advisory.CustomerGoal, people["goal"])
    stored = (goal.probability, goal.reviewed_at)
    counts = advisory.review_goals(session, today=tonight)
    assert counts == {"on_track": 0, "off_track": 1, "achieved": 0, "skipped": 0, "reused": 1}
    assert (goal.probability, goal.reviewed_at) == stored
    again = watch.watch_goals(session, tonight)
    assert (again.reused, again.off_track, again.notified) == (1, 1, 0)
    assert len(_messages(session, people["chen"])) == 2


def test_a_capped_warning_is_sent_the_next_night_and_a_relapse_is_told_again(session):
    people = _family(session)
    chen = people["chen"]
    contact.allow(session, [(chen, "birthday:2026-06-16"), (chen, "daily:2026-06-16")], kind="greeting", day=DAY)
    night = watch.watch_goals(session, DAY)
    assert (night.notified, night.capped, night.tasks) == (0, 2, 2)  # the manager's task is never capped
    assert _messages(session, chen) == []
    nxt = watch.watch_goals(session, DAY + timedelta(days=1))
    assert (nxt.notified, nxt.capped, nxt.tasks) == (2, 0, 0)

    # she moves 250,000 元 into the package's funds in its proportions: back on track, no drift
    plan, _ = advisory.package_drift(session, chen, "education", years_left=7.9)
    account = session.scalar(select(Account).where(Account.customer_id == chen))
    session.query(Position).filter(Position.account_id == account.id).delete()
    prices = {s: Decimal(p) for s, *_, p in FUNDS}
    for symbol, weight in plan.allocation.items():
        qty = (Decimal(250_000) * Decimal(str(weight)) / prices[symbol]).quantize(Decimal("1"))
        session.add(Position(account_id=account.id, symbol=symbol, quantity=qty, available_quantity=qty,
                             cost_price=prices[symbol]))
    session.flush()
    fine = watch.watch_goals(session, DAY + timedelta(days=2))
    assert (fine.off_track, fine.drifted, fine.notified) == (0, 0, 0)
    assert not any(w.bad for w in session.scalars(select(Watch).where(Watch.customer_id == chen)))

    # and sells it all again: a new episode, told again
    session.query(Position).filter(Position.account_id == account.id).delete()
    session.add(Position(account_id=account.id, symbol="000198.OF", quantity=Decimal(1000),
                         available_quantity=Decimal(1000), cost_price=Decimal(1)))
    session.flush()
    relapse = watch.watch_goals(session, DAY + timedelta(days=10))
    assert relapse.notified >= 1 and relapse.tasks >= 1


def test_the_scheduled_jobs_run_the_same_code(session):
    """The night's scheduled runs, as the scheduler records them: the watch tells 陈静 once; the
    tier services, the valuation warnings (stale data: nobody) and, on the first trading day of
    July, the monthly commentary run clean."""
    from brokercare.core.scheduler import run_now

    people = _family(session)
    first = run_now("engagement.watch_goals", DAY)
    assert first.status == "succeeded", first.error
    assert (first.counts["off_track"], first.counts["notified"], first.counts["tasks"]) == (1, 2, 2)
    assert run_now("engagement.watch_goals", DAY).counts["notified"] == 0
    assert len(_messages(session, people["chen"])) == 2
    for job, day in (("engagement.tier_services", DAY), ("engagement.valuation_warnings", DAY),
                     ("engagement.monthly_commentary", date(2026, 7, 1))):
        outcome = run_now(job, day)
        assert outcome.status == "succeeded", (job, outcome.error)


def test_a_goal_the_holdings_reach_is_celebrated_once_and_the_manager_talks_it_through(session):
    """陈静's education fund grows: 200,000 units of the index fund (about 350,720 元) pass the
    300,000 元 target."""
    people = _family(session)
    session.execute(Position.__table__.update()
                    .where(Position.symbol == "000051.OF", Position.account_id.in_(
                        select(Account.id).where(Account.customer_id == people["chen"])))
                    .values(quantity=200_000))
    session.commit()
    night = watch.watch_goals(session, DAY)
    session.commit()
    assert (night.reached, night.off_track) == (1, 0)
    assert session.get(advisory.CustomerGoal, people["goal"]).status == "achieved"
    [msg] = [m for m in _messages(session, people["chen"]) if m.kind == "engagement_goal_reached_watch"]
    assert msg.subject == "目标达成" and "您的“女儿大学教育金”目标（300,000元）已经达成" in msg.body
    assert "约357,623元" in msg.body  # 5,000 × 1.3806 + 200,000 × 1.7536
    [task] = session.scalars(select(ManagerTask).where(ManagerTask.kind == "goal_reached_watch")).all()
    assert task.manager_id == people["wang"] and task.title == "目标达成：女儿大学教育金，请与客户沟通后续安排"
    assert task.script.startswith("可以这样开场：恭喜！")

    later = watch.watch_goals(session, DAY + timedelta(days=1))  # reached goals are no longer watched
    session.commit()
    assert (later.goals, later.reached) == (0, 0)
    assert len([m for m in _messages(session, people["chen"]) if m.kind == "engagement_goal_reached_watch"]) == 1
