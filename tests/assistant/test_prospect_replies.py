"""A sender the hub cannot identify (a prospect on WeChat, an unknown email) still gets answers,
and never anyone's account data."""

from brokercare.assistant.service import reply


def test_prospect_gets_a_knowledge_base_answer(session):
    r = reply(session, None, "开户需要准备什么材料？", channel="wechat")
    assert r.guard.passed
    assert "身份证" in r.text or "开户" in r.text


def test_prospect_asking_about_an_account_is_asked_to_verify_first(session):
    r = reply(session, None, "我今天的持仓亏了多少？", channel="wechat")
    assert "确认身份" in r.text
    assert "元" not in r.text.split("确认身份")[0][-40:]  # no figure of anyone's account
