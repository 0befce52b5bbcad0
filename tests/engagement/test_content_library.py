"""The investor-education library as a wealth team uses it: every item written for the customer
it is shown to (tier, risk level), the anti-fraud essentials first, interests from the profile
(a fund investor gets 定投, a margin customer the 维持担保比例 article); quizzes marked with their
explanations and a pass kept; completion counted; the long tail's monthly message links the
customer's own unfinished picks."""

from __future__ import annotations

from datetime import date

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.engagement.people import PASSWORD, bearer, customer, manager
from tests.monitoring.brokerage import add_instruments

from brokercare.api import create_app
from brokercare.core.errors import NotFound, ValidationFailed
from brokercare.customers.models import Customer
from brokercare.customers.service import refresh_profile
from brokercare.engagement import commentary, education, library
from brokercare.engagement.models import ContentProgress
from brokercare.outbox.models import OutboxMessage
from brokercare.security import auth
from brokercare.security.service import create_user


def _level(session, cid: int, level: str) -> None:
    session.get(Customer, cid).risk_level = level
    session.flush()
    refresh_profile(session, cid)


def _people(session) -> dict:
    """A new C2 customer with 2万 in cash; a C5 customer with 20万 in 宁德时代 (创业板); both long
    tail, both served by 王经理."""
    add_instruments(session)
    wang = manager(session, "cm_wang", "王经理")
    new = customer(session, 1, "林小雨", manager_id=wang, cash="20000")
    session.get(Customer, new).opened_on = date.today()
    _level(session, new, "C2")
    bold = customer(session, 2, "郑浩然", manager_id=wang, cash="5000", holdings=(("300750.SZ", 1000),))
    _level(session, bold, "C5")
    session.commit()
    return {"wang": wang, "new": new, "bold": bold}


def test_the_library_is_valid_chinese_content_with_its_rules():
    lib = library.library()
    kinds = {i.kind for i in lib.items.values()}
    assert kinds == {"article", "video", "quiz"}
    fraud = lib.get("fraud-apps")
    assert "96110" in fraud.body and "12386" in fraud.body and "第三方存管" in fraud.body
    assert "五十万元以上五百万元以下" in lib.get("insider-trading").body
    pension = lib.get("personal-pension").body
    assert "12,000元" in pension and "3%" in pension
    for quiz in (i for i in lib.items.values() if i.kind == "quiz"):
        assert all(q.explanation for q in quiz.questions) and quiz.after in lib.items
    html = library.body_html(fraud)
    assert "<h2>五个破绽，一眼识别</h2>" in html and "<script" not in html


def test_recommendations_follow_tier_risk_level_and_profile(session):
    people = _people(session)
    new = education.learn_page(session, people["new"])
    keys = [p.item.key for p in new.picks]
    assert "margin-risk" not in keys and "star-chinext-rules" not in keys  # written for C4/C5 and C3+
    assert new.picks[0].item.essential and new.picks[0].item.key == "fraud-apps"
    assert new.picks[0].reason == "推荐理由：您刚开户不久"  # never 沉睡客户: staff words
    bold = education.learn_page(session, people["bold"])
    bold_keys = [p.item.key for p in bold.picks]
    assert "margin-risk" in bold_keys
    assert bold_keys.index("star-chinext-rules") < bold_keys.index("personal-pension")
    boards = next(p for p in bold.picks if p.item.key == "star-chinext-rules")
    assert "您持有较多创业板/科创板股票" in boards.reason
    with pytest.raises(NotFound):
        education.open_item(session, people["new"], "margin-risk")


def test_a_quiz_is_marked_with_explanations_and_a_pass_is_kept(session):
    people = _people(session)
    cid = people["new"]
    quiz = library.library().get("quiz-fraud")
    wrong = library.grade(session, cid, "quiz-fraud", {0: 0, 1: 0, 2: 1, 3: 1})
    assert (wrong.score, wrong.passed) == (2, False)
    assert not wrong.questions[0].right and wrong.questions[0].correct == quiz.questions[0].options[1]
    assert "验证码" in wrong.questions[0].explanation
    right = library.grade(session, cid, "quiz-fraud", {n: q.answer for n, q in enumerate(quiz.questions)})
    assert (right.score, right.passed, right.attempts) == (4, True, 2)
    library.grade(session, cid, "quiz-fraud", {0: 0, 1: 0, 2: 0, 3: 1})  # a worse try does not undo it
    row = session.scalar(select(ContentProgress).where(ContentProgress.customer_id == cid))
    assert (row.state, row.best_score, row.attempts) == ("passed", 4, 3)
    with pytest.raises(ValidationFailed, match="第2、4题"):
        library.grade(session, cid, "quiz-fraud", {0: 1, 2: 2})
    with pytest.raises(ValidationFailed, match="不存在"):
        library.grade(session, cid, "quiz-fraud", {0: 9, 1: 0, 2: 0, 3: 0})


def test_completion_counts_what_was_read_and_passed(session):
    people = _people(session)
    cid = people["new"]
    before = education.learn_page(session, cid).completion
    library.mark_done(session, cid, "fraud-apps")
    library.mark_done(session, cid, "fraud-apps")  # twice is once
    quiz = library.library().get("quiz-fraud")
    library.grade(session, cid, "quiz-fraud", {n: q.answer for n, q in enumerate(quiz.questions)})
    after = education.learn_page(session, cid)
    assert after.completion.finished == before.finished + 2 == 2
    assert after.completion.quizzes_passed == 1 and after.completion.essentials_finished == 2
    assert [p.item.key for p in after.picks][-2:] in (["fraud-apps", "quiz-fraud"], ["quiz-fraud", "fraud-apps"])
    with pytest.raises(ValidationFailed):
        library.mark_done(session, cid, "quiz-ipo")


def test_the_long_tail_message_links_the_customers_own_unfinished_picks(session):
    people = _people(session)
    library.mark_done(session, people["new"], "fraud-apps")
    session.commit()
    sent = commentary.send_education(session, date(2026, 11, 2))
    assert sent.queued == 2  # both are long tail
    [msg] = session.scalars(select(OutboxMessage).where(OutboxMessage.customer_id == people["new"])).all()
    assert "/me/learn/stock-tip-groups" in msg.body and "/me/learn/fraud-apps" not in msg.body
    assert "https://www.investor.org.cn/" in msg.body


@pytest.fixture
def client(engine, session, monkeypatch):
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    people = _people(session)
    create_user(session, username="linxy", password=PASSWORD, role="customer", display_name="林小雨",
                customer_id=people["new"])
    manager(session, "cm_zhao", "赵经理")
    session.commit()
    with TestClient(create_app()) as c:
        c.people = people
        yield c


def test_the_library_through_the_api(client):
    me = bearer(client, "linxy")
    items = client.get("/api/v1/engagement/content", headers=me).json()
    assert items[0]["key"] == "fraud-apps" and items[0]["reason"]
    quiz = client.get("/api/v1/engagement/content/quiz-ipo", headers=me).json()
    assert len(quiz["questions"]) == 3 and "answer" not in quiz["questions"][0]
    graded = client.post("/api/v1/engagement/content/quiz-ipo/answers", json={"answers": [0, 1, 2]}, headers=me).json()
    assert graded["passed"] is True and graded["questions"][1]["explanation"].startswith("T+2日")
    assert client.post("/api/v1/engagement/content/quiz-ipo/answers", json={"answers": [0]},
                       headers=me).status_code == 422
    assert client.get("/api/v1/engagement/content/margin-risk", headers=me).status_code == 404
    assert client.post("/api/v1/engagement/content/fraud-apps/done", headers=me).json()["state"] == "done"
    mine = client.get(f"/api/v1/engagement/customers/{client.people['new']}/education", headers=bearer(client, "cm_wang"))
    assert mine.json()["finished"] == 2
    other = client.get(f"/api/v1/engagement/customers/{client.people['new']}/education", headers=bearer(client, "cm_zhao"))
    assert other.status_code == 403
