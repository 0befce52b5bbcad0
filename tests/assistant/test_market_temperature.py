"""Market questions and worried customers hear the current market temperature in plain words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from brokercare.assistant import service
from brokercare.core.calendar import SHANGHAI
from brokercare.core.database import utcnow
from brokercare.monitoring.service import record_temperatures
from brokercare.monitoring.temperature import Temperature

# A reading of a minute ago is current whenever the test runs (in a session, after the close, on a
# holiday); one of a June afternoon is not.
PAST = datetime(2026, 6, 16, 6, 30, tzinfo=UTC)  # 14:30 in Beijing


def _store(session, at: datetime | None = None, **boards):
    temps = {b: Temperature(b, score, band, breadth, lu, ld, act, 2000) for b, (
        score, band, breadth, lu, ld, act) in boards.items()}
    at = at or utcnow().replace(second=0, microsecond=0) - timedelta(minutes=1)
    record_temperatures(session, temps, at)
    session.commit()
    return at.astimezone(SHANGHAI)


def test_market_question_mentions_the_main_board_temperature(session, brokerage):
    at = _store(session, main=(86.0, "过热", 0.72, 95, 1, 1.6), chinext=(45.0, "正常", -0.1, 3, 4, 0.9))
    r = service.reply(session, brokerage["sun"].id, "今天大盘怎么样")
    assert r.analysis.intent == "market_quote"
    assert "主板市场温度 86（过热）" in r.text and f"截至 {at:%m 月 %d 日 %H:%M}" in r.text
    assert "涨停 95 家" in r.text and "成交比近 20 日同一时段多 60%" in r.text
    assert "追高的风险" in r.text and "创业板市场温度" not in r.text
    assert {"type": "tool", "name": "market_temperature"} in r.sources
    assert r.guard.passed


def test_a_past_days_reading_is_never_given_as_todays_market(session, brokerage):
    _store(session, PAST, main=(86.0, "过热", 0.72, 95, 1, 1.6))
    r = service.reply(session, brokerage["sun"].id, "今天大盘怎么样")
    assert "最近一次记录是 06 月 16 日 14:30（不是当前的市场情况）" in r.text
    assert "截至" not in r.text and "追高的风险" not in r.text  # no advice about a market that is gone
    assert r.guard.passed


def test_a_named_board_gets_its_own_temperature(session, brokerage):
    _store(session, main=(86.0, "过热", 0.72, 95, 1, 1.6), chinext=(45.0, "正常", -0.1, 3, 4, 0.9))
    r = service.reply(session, brokerage["sun"].id, "创业板今天行情怎么样")
    assert r.analysis.intent == "market_quote"
    assert "创业板市场温度 45（正常）" in r.text and "主板市场温度" not in r.text


def test_anxious_customer_hears_how_the_whole_market_is_doing(session, brokerage):
    _store(session, main=(12.0, "过冷", -0.8, 2, 150, 1.4), chinext=(15.0, "过冷", -0.85, 0, 60, 1.3))
    r = service.reply(session, brokerage["wang"].id, "最近股市跌惨了，我该怎么办？")
    assert r.analysis.emotion == "anxious"
    # she holds main-board and ChiNext stocks: both boards, in plain words, before her options
    assert "从整个市场看" in r.text
    assert "主板市场温度 12（过冷）" in r.text and "创业板市场温度 15（过冷）" in r.text
    assert "跌停 150 家" in r.text and "不一定是您持有的公司本身出了问题" in r.text
    assert "贵州茅台" in r.text  # her own exposure is still there
    assert r.guard.passed


def test_without_a_stored_temperature_the_reply_says_nothing_about_it(session, brokerage):
    r = service.reply(session, brokerage["sun"].id, "今天大盘怎么样")
    assert "市场温度" not in r.text
    r = service.reply(session, brokerage["wang"].id, "最近股市跌惨了，我该怎么办？")
    assert "市场温度" not in r.text
