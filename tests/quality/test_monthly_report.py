"""The monthly service-quality report: on demand from the command line, and by the scheduled job
on the first trading day of the month, mailed once to the staff list through the outbox."""

from __future__ import annotations

import io
from datetime import date

from pypdf import PdfReader
from sqlalchemy import select
from tests.quality import dataset
from typer.testing import CliRunner

from brokercare.cli import app as cli
from brokercare.core.scheduler import run_now
from brokercare.core.settings import get_settings, reset_settings
from brokercare.outbox.models import OutboxMessage
from brokercare.quality import report
from brokercare.quality import service as quality

STAFF = "zhou.zuzhang@broker.example.cn, kefu.jingli@broker.example.cn"


def test_the_report_shows_the_months_figures_in_html_and_pdf(session):
    dataset.build(session)
    kpis = quality.month_kpis(session, dataset.MONTH, as_of=dataset.AS_OF)
    extras = report.gather(session, kpis)
    page = report.html(kpis, extras)
    assert "2026年11月服务质量月报" in page and "2026-11-01 至 2026-11-30" in page
    assert "AI 独立解决率 25.0%" in page and "每万名客户投诉 4,000.0 件" in page
    assert "<th>VIP 客户</th>" in page and "<th>周组长组</th>" in page
    assert page.count("<svg") == 3  # daily volume, SLA breaches by business, complaint themes
    assert "追保与平仓" in page and "long_tail" not in page  # the breach's business, in words
    # Why SLAs were missed: the forced liquidation's emergency resolution, the phone complaint's answer.
    assert extras.breach_causes == [["紧急（VIP/潜力客户）", "解决", "1"], ["意见反馈", "答复", "1"]]
    assert [t.complaints for t in extras.themes] == [2]  # two complaints: one theme, not two of one
    assert extras.suggestions == [["希望APP增加夜间模式", "已上线", "APP 8.3.0"]]
    assert [r[0] for r in extras.scorecards] == ["陈洁", "王敏", "李经理"]  # by conversations, then tickets
    assert extras.scorecards[0] == ["陈洁", "2", "35.0 分钟", "15.0 小时", "50.0%", "2.50 / 5", "—"]
    assert "坐席计分卡" in page
    assert "<td>希望APP增加夜间模式</td>" in page and "投诉主题（按文本聚类）" in page
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(report.pdf(kpis, extras))).pages)
    assert "2026年11月服务质量月报" in text and "SLA 超时原因" in text and "根据客户意见的改进" in text


def test_brokercare_report_quality_writes_both_files(engine, tmp_path):
    from sqlalchemy.orm import Session

    with Session(engine) as s:
        dataset.build(s)
    result = CliRunner().invoke(cli, ["report", "quality", "--month", "2026-11", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "9 conversations" in result.output and "2 SLA breaches" in result.output
    assert (tmp_path / "quality-2026-11.pdf").read_bytes()[:5] == b"%PDF-"
    assert "服务质量月报" in (tmp_path / "quality-2026-11.html").read_text("utf-8")
    refused = CliRunner().invoke(cli, ["report", "quality", "--month", "2026-13", "--out", str(tmp_path)])
    assert refused.exit_code == 1 and "month must look like 2026-11" in refused.output


def test_the_first_trading_day_of_december_mails_novembers_report_once(engine, session, monkeypatch):
    dataset.build(session)
    monkeypatch.setenv("BROKERCARE_QUALITY_REPORT_TO", STAFF)
    reset_settings()
    first = run_now("quality.monthly_report", date(2026, 12, 1))
    again = run_now("quality.monthly_report", date(2026, 12, 1))
    assert first.status == again.status == "succeeded", (first.error, again.error)
    assert (first.counts["month"], first.counts["conversations"], first.counts["mailed"]) == ("2026-11", 9, 2)
    assert again.counts["mailed"] == 0
    mails = session.scalars(select(OutboxMessage).where(OutboxMessage.origin == "quality")).all()
    assert sorted(m.address_hint is not None for m in mails) == [True, True]
    assert {m.subject for m in mails} == {"2026年11月服务质量月报"} and all(m.channel == "email" for m in mails)
    assert "SLA 超时 2 次" in mails[0].body and "quality-2026-11.pdf" in mails[0].body
    assert (get_settings().data_dir / "reports" / "quality" / "quality-2026-11.pdf").is_file()


def test_complaints_are_grouped_into_themes_by_what_customers_wrote():
    from brokercare.quality.themes import themes

    texts = ["APP 又闪退了，行情根本刷新不出来", "行情界面卡住不刷新，APP 闪退好几次", "今天开盘 APP 闪退，错过了卖出时机",
             "客服电话一直打不通，排队四十分钟", "打客服热线排队太久，电话没人接", "人工客服电话打不通，等了很久",
             "佣金费率太高了，别家万一免五", "你们的佣金比其他券商贵，要求降佣", "交易佣金收费太贵，希望调低费率"]
    found = themes(texts)
    assert [t.complaints for t in found] == [3, 3, 3]
    by_word = {word: t for t in found for word in t.label.split(" / ")}
    assert "闪退" in by_word and "佣金" in by_word and "电话" in by_word
    assert by_word["佣金"].example in texts[6:] and by_word["闪退"].example in texts[:3]
    assert themes([]) == []
