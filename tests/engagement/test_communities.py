"""Themed communities as a branch runs them: members join by interest, the host answers, and
the compliance guard that checks the monthly commentary holds a post promising returns, a stock
tip or an invitation to a private group — with the reason in Chinese, seen by its author and the
host only — until the host publishes or rejects it."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from tests.engagement.people import PASSWORD, bearer, customer, manager
from tests.monitoring.brokerage import add_instruments

from brokercare.api import create_app
from brokercare.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from brokercare.engagement import communities, education
from brokercare.security import auth
from brokercare.security.service import create_user, get_user_by_username


def _branch(session) -> dict:
    """刘洋 (customer manager, login manager01) hosts 新手训练营 and 养老规划; 王芳 (advisor01)
    hosts 基金定投; 孙立 is another manager. Two customers: 何静 and 冯磊."""
    add_instruments(session)
    liu = create_user(session, username="manager01", password=PASSWORD, role="customer_manager",
                      display_name="刘洋").id
    create_user(session, username="advisor01", password=PASSWORD, role="advisor", display_name="王芳")
    sun = manager(session, "cm_sun", "孙立")
    ids = {"he": customer(session, 1, "何静", manager_id=liu, cash="80000"),
           "feng": customer(session, 2, "冯磊", manager_id=sun, cash="30000", holdings=(("000001.SZ", 2000),))}
    session.commit()
    return ids


def test_a_tip_or_a_promise_is_held_with_the_reason_and_only_its_author_sees_it(session):
    people = _branch(session)
    communities.join(session, people["he"], "starter")
    communities.join(session, people["feng"], "starter")
    ok = education.post(session, people["he"], "starter", "刚开户，想问问新股中签以后哪天要把钱准备好？")
    tip = education.post(session, people["feng"], "starter", "明天这只票必涨，建议大家马上买入，稳赚不赔！")
    lure = education.post(session, people["feng"], "starter", "想要每天的牛股，加我微信，拉你进群")
    assert ok.state == "published" and ok.author == "何*"
    assert tip.state == "held" and "承诺收益" in tip.held_reason and "荐股" in tip.held_reason
    assert lure.state == "held" and "荐股群" in lure.held_reason
    he_sees = [t.post.id for t in communities.threads(session, "starter", viewer_customer_id=people["he"])]
    feng_sees = [t.post.id for t in communities.threads(session, "starter", viewer_customer_id=people["feng"])]
    assert he_sees == [ok.id]
    assert sorted(feng_sees) == sorted([ok.id, tip.id, lure.id])


def test_the_host_answers_and_reviews_held_posts(session):
    people = _branch(session)
    liu, wang = get_user_by_username(session, "manager01"), get_user_by_username(session, "advisor01")
    communities.join(session, people["he"], "retirement")
    question = education.post(session, people["he"], "retirement", "个人养老金每年最多能缴多少？退休前能取出来吗？")
    answer = communities.post_as_host(session, user=liu, key="retirement", parent_id=question.id,
                                      body="每年上限12,000元，一般要到领取基本养老金的年龄才能领取。")
    assert answer.author == "刘洋（主持人）" and answer.state == "published"
    [thread] = communities.threads(session, "retirement")
    assert [r.id for r in thread.replies] == [answer.id]
    with pytest.raises(PermissionDenied):
        communities.post_as_host(session, user=wang, key="retirement", body="大家好")

    held = education.post(session, people["he"], "retirement", "我的手机号13912345678，想找人交流养老规划")
    assert held.state == "held" and "手机号" in held.held_reason
    assert [p.id for p in communities.held_posts(session, liu)] == [held.id]
    assert communities.held_posts(session, wang) == []  # 王芳 hosts 基金定投 only
    with pytest.raises(PermissionDenied):
        communities.review(session, user=wang, post_id=held.id, action="publish")
    with pytest.raises(ValidationFailed, match="写明原因"):
        communities.review(session, user=liu, post_id=held.id, action="reject")
    communities.review(session, user=liu, post_id=held.id, action="reject", note="为保护您的隐私，请不要公开手机号。")
    assert held.state == "rejected" and held.moderated_by == liu.id
    with pytest.raises(Conflict):
        communities.review(session, user=liu, post_id=held.id, action="publish")


def test_members_only_post_and_communities_are_suggested_by_interest(session):
    people = _branch(session)
    with pytest.raises(PermissionDenied, match="先加入"):
        education.post(session, people["he"], "fund_dca", "定投三年了，大家怎么坚持的？")
    assert communities.join(session, people["he"], "fund_dca") is True
    assert communities.join(session, people["he"], "fund_dca") is False
    with pytest.raises(ValidationFailed, match="请输入"):
        education.post(session, people["he"], "fund_dca", "   ")
    with pytest.raises(ValidationFailed, match="1000字"):
        education.post(session, people["he"], "fund_dca", "定投" * 600)
    with pytest.raises(NotFound):
        communities.join(session, people["he"], "炒股群")
    cards = education.community_cards(session, people["he"])
    assert {c.community.name for c in cards} == {"新手训练营", "基金定投", "养老规划"}
    assert next(c for c in cards if c.community.key == "fund_dca").joined
    assert next(c for c in cards if c.community.key == "fund_dca").members == 1
    assert communities.leave(session, people["he"], "fund_dca") is True


@pytest.fixture
def client(engine, session, monkeypatch):
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    people = _branch(session)
    create_user(session, username="fenglei", password=PASSWORD, role="customer", display_name="冯磊",
                customer_id=people["feng"])
    session.commit()
    with TestClient(create_app()) as c:
        c.people = people
        yield c


def test_communities_through_the_api(client):
    me, host = bearer(client, "fenglei"), bearer(client, "manager01")
    assert client.post("/api/v1/engagement/communities/starter/posts", json={"body": "大家好"},
                       headers=me).status_code == 403
    assert client.put("/api/v1/engagement/communities/starter/membership", headers=me).status_code == 204
    held = client.post("/api/v1/engagement/communities/starter/posts",
                       json={"body": "保证收益翻倍的好股票，跟我买就行"}, headers=me)
    assert held.status_code == 201 and held.json()["state"] == "held"
    queue = client.get("/api/v1/engagement/community-posts/held", headers=host).json()
    assert [p["id"] for p in queue] == [held.json()["id"]]
    assert client.get("/api/v1/engagement/community-posts/held", headers=bearer(client, "advisor01")).json() == []
    done = client.post(f"/api/v1/engagement/community-posts/{held.json()['id']}/review",
                       json={"action": "reject", "note": "不得承诺收益或荐股。"}, headers=host)
    assert done.json()["state"] == "rejected"
    threads = client.get("/api/v1/engagement/communities/starter/posts", headers=me).json()
    assert threads[0]["post"]["moderation_note"] == "不得承诺收益或荐股。"
    assert client.get("/api/v1/engagement/communities/starter/posts", headers=host).json() == []


def test_the_demo_opens_each_community_with_its_hosts_welcome(session):
    from brokercare.engagement.demo import _community_welcomes

    _branch(session)
    assert _community_welcomes(session) == 3
    assert _community_welcomes(session) == 0  # once
    [welcome] = communities.threads(session, "fund_dca")
    assert welcome.post.author == "王芳（主持人）" and welcome.post.body.startswith("欢迎来到基金定投社区")
