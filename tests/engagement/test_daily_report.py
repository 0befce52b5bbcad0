"""The daily post-close report: figures a wealth team can check by hand, the Chinese sentences,
the customer's page (their own report only), the PDF's embedded font, the nightly job's pushes."""

from __future__ import annotations

import importlib
import io
from datetime import date, datetime
from decimal import Decimal

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.engagement.world import CLOSES, DAY, NEXT, PREV, build_world
from typer.testing import CliRunner

from brokercare.accounts.models import Account, Position, Trade
from brokercare.api import create_app
from brokercare.cli import app as cli_app
from brokercare.core.calendar import SHANGHAI
from brokercare.core.scheduler import run_now
from brokercare.core.settings import reset_settings
from brokercare.engagement import render, service
from brokercare.engagement.models import DailyReport
from brokercare.market.service import Tick, daily_history, day_facts, ingest_quotes
from brokercare.outbox.models import OutboxMessage
from brokercare.security import auth
from brokercare.security.service import create_user

PASSWORD = "Passw0rd2026"


@pytest.fixture
def world(session):
    return build_world(session)


def independent_pnl(session: Session, customer_id: int) -> Decimal:
    """The day's P&L from the trade rows and the two closes, in exact decimals: what the
    holdings were worth at the close, less what the morning's holdings were worth at the previous
    close, less the cash the day's trades took (fees included)."""
    accounts = [a.id for a in session.scalars(select(Account).where(Account.customer_id == customer_id))]
    now = {p.symbol: p.quantity for p in session.scalars(select(Position).where(Position.account_id.in_(accounts)))}
    morning, cash_out = dict(now), Decimal(0)
    for t in session.scalars(select(Trade).where(Trade.account_id.in_(accounts))):
        sign = 1 if t.side == "buy" else -1
        morning[t.symbol] = morning.get(t.symbol, Decimal(0)) - sign * t.quantity
        cash_out += sign * t.amount + t.commission + t.stamp_duty + t.transfer_fee
    close = {s: Decimal(c[3]) for s, c in CLOSES.items()}
    prev = {s: Decimal(c[2]) for s, c in CLOSES.items()}
    return (sum(q * close[s] for s, q in now.items()) - sum(q * prev[s] for s, q in morning.items())
            - cash_out)


def test_report_figures_match_trades_and_prices_and_read_as_chinese(session, world):
    frames = service.build(session.connection(), DAY, lo=1, hi=10)
    docs = dict(service.documents(frames, DAY))
    lixia = docs[world["lixia"]]
    assert lixia["summary"]["day_pnl"] == pytest.approx(float(independent_pnl(session, world["lixia"])), abs=0.005)
    assert lixia["summary"]["day_pnl"] == pytest.approx(734.65, abs=0.005)
    assert lixia["headline"].startswith("今日您的持仓合计盈利 734.65元，收益率 +0.33%。")
    assert lixia["drivers"][0] == "贵州茅台（当日涨跌 +2.00%）盈利 3,000.00元。"
    assert lixia["drivers"][1] == "宁德时代（当日涨跌 -1.00%）亏损 1,410.25元，今日有买卖。"
    byname = {h["name"]: h for h in lixia["holdings"]}
    assert byname["平安银行"]["day_pnl"] == pytest.approx(144.90)  # sold half at 10.20 before closing at 10.10
    assert "高于您的风险承受能力（稳健型）" in "".join(byname["宁德时代"]["health"])
    assert "较成本已下跌 24.0%" in byname["ST浪莎"]["health"][0]
    assert "持仓较集中" in "".join(byname["贵州茅台"]["health"])  # 153,000 of 216,650
    assert any("ST浪莎已连续 3 个交易日跌停" in t for t in lixia["high_risk"])
    assert lixia["notes"][0] == "6月17日可申购新股华宏科技（申购代码 732999），发行价 18.88 元，按您的额度最多可申购 5,000 股。"
    assert "星辰电子将于6月17日公布中签结果" in lixia["notes"][1]
    wang = docs[world["wang"]]
    assert [(h["name"], h["quantity"]) for h in wang["holdings"]] == [("中国平安", 1200.0)]
    # only the margin account's cash and shares are its collateral: (10,000 + 1,000 × 50) / 45,000
    assert wang["margin"]["sentence"].startswith("信用账户维持担保比例 133.33%，已低于警戒线")
    assert lixia["margin"] is None


def test_nightly_job_pushes_once_per_opted_in_customer_even_when_run_twice(engine, session, world):
    first = run_now("engagement.daily_reports", DAY)
    second = run_now("engagement.daily_reports", DAY)
    assert first.status == second.status == "succeeded", (first.error, second.error)
    assert (first.counts["reports"], first.counts["pushes"]) == (1, 1)
    assert (second.counts["reports"], second.counts["pushes"]) == (1, 0)
    pushes = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "daily_report")).all()
    assert [(p.customer_id, p.channel) for p in pushes] == [(world["lixia"], "app")]
    assert "/me/reports/daily/2026-06-16" in pushes[0].body and "盈利 734.65元" in pushes[0].body
    assert session.scalar(select(func.count()).select_from(DailyReport)) == 1


@pytest.mark.parametrize("renderer", ["reportlab", "weasyprint"])
def test_pdf_embeds_the_chinese_font(session, world, renderer):
    if renderer == "weasyprint":
        try:
            importlib.import_module("weasyprint")
        except (ImportError, OSError) as exc:  # the optional renderer, or Pango missing
            pytest.skip(f"WeasyPrint unavailable: {exc}")
    doc = service.live_report(session, world["lixia"], DAY)
    doc["holdings"][0]["health"].append("（提示：A&B<股份>）")  # text, not markup
    reader = PdfReader(io.BytesIO(render.pdf(doc, renderer)))
    fonts = []
    for page in reader.pages:
        for f in page["/Resources"]["/Font"].values():
            font = f.get_object()
            descendants = font.get("/DescendantFonts")
            desc = (descendants[0].get_object() if descendants else font).get("/FontDescriptor")
            embedded = desc is not None and any(k in desc.get_object() for k in ("/FontFile2", "/FontFile3"))
            fonts.append((str(font["/BaseFont"]), embedded))
    cjk = [(name, embedded) for name, embedded in fonts if "WenQuanYi" in name or "ReportCJK" in name]
    assert cjk and all(embedded for _, embedded in cjk), fonts
    text = "".join(p.extract_text() for p in reader.pages)
    assert "李霞的收盘报告" in text and "华宏科技" in text and "A&B<股份>" in text


@pytest.fixture
def client(engine, monkeypatch):
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    with TestClient(create_app()) as c:
        yield c


def _page_login(client, username):
    client.cookies.clear()
    r = client.post("/login", data={"username": username, "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 303, r.text


def test_customer_sees_only_their_own_report(engine, session, world, client):
    service.publish_daily_reports(engine, DAY)
    create_user(session, username="lixia", password=PASSWORD, role="customer", display_name="李霞",
                customer_id=world["lixia"])
    create_user(session, username="wangjg", password=PASSWORD, role="customer", display_name="王建国",
                customer_id=world["wang"])
    session.commit()
    assert client.get("/me/reports/daily/2026-06-16", follow_redirects=False).status_code == 303  # to /login
    _page_login(client, "lixia")
    page = client.get("/me/reports/daily/2026-06-16")
    assert page.status_code == 200 and "李霞的收盘报告" in page.text and "<svg" in page.text
    assert "<script" not in page.text.split("<main>")[1]
    pdf = client.get("/me/reports/daily/2026-06-16.pdf")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert "不是交易日" in client.get("/me/reports/daily/2026-06-20").text  # a Saturday
    _page_login(client, "wangjg")  # not opted in: no stored report, and never 李霞's
    other = client.get("/me/reports/daily/2026-06-16")
    assert other.status_code == 404 and "李霞" not in other.text and "734.65" not in other.text


def test_cli_writes_one_customers_report(engine, session, world, tmp_path):
    result = CliRunner().invoke(cli_app, ["report", "daily", "--date", "2026-06-16", "--customer", "C00000001",
                                          "--format", "html", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    html = (tmp_path / "2026-06-16" / "C00000001.html").read_text(encoding="utf-8")
    assert "今日您的持仓合计盈利 734.65元" in html and 'name="viewport"' in html
    bad = CliRunner().invoke(cli_app, ["report", "daily", "--date", "2026-06-16", "--customer", "C404",
                                       "--out", str(tmp_path)])
    assert bad.exit_code == 1 and "客户号不存在" in bad.output


def test_cli_writes_every_opted_in_customers_pdf_and_names_a_missing_font(engine, world, tmp_path, monkeypatch):
    run = ["report", "daily", "--date", "2026-06-16", "--format", "pdf", "--out", str(tmp_path)]
    result = CliRunner().invoke(cli_app, run)
    assert result.exit_code == 0, result.output
    assert [p.name for p in (tmp_path / "2026-06-16").iterdir()] == ["C00000001.pdf"]  # only 李霞 opted in
    assert "李霞的收盘报告" in PdfReader(tmp_path / "2026-06-16" / "C00000001.pdf").pages[0].extract_text()
    monkeypatch.setenv("BROKERCARE_REPORT_FONT", str(tmp_path / "simsun.ttc"))
    reset_settings()
    missing = CliRunner().invoke(cli_app, [*run, "--all"])
    assert missing.exit_code == 1 and "simsun.ttc is not a font file" in missing.output
    saturday = CliRunner().invoke(cli_app, ["report", "daily", "--date", "2026-06-20", "--out", str(tmp_path)])
    assert saturday.exit_code == 1 and "不是交易日" in saturday.output


def test_a_dask_cluster_writes_the_same_reports_as_one_process(engine, session, world):
    from dask.distributed import Client, LocalCluster  # a few seconds to import: this test only

    from brokercare.engagement import nightly

    local = [d for docs in nightly.night(engine, DAY, subscribers_only=False, partition=1) for d in docs]
    seen: list[tuple[int, int]] = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        remote = [d for docs in nightly.night(engine, DAY, subscribers_only=False, partition=1, client=client,
                                              progress=lambda done, total: seen.append((done, total)))
                  for d in docs]
        night = service.publish_daily_reports(engine, DAY, partition=1, client=client)
    assert sorted(remote, key=lambda d: d[0]) == local and len(local) == 2
    assert seen == [(1, 2), (2, 2)]
    assert (night.reports, night.pushes) == (1, 1)
    stored = session.scalar(select(DailyReport.data))
    assert stored == dict(local)[world["lixia"]]
    assert service.publish_daily_reports(engine, DAY).pushes == 0  # one process after the cluster: no second push


def test_the_days_live_quotes_and_then_its_rolled_up_bar_are_the_close(engine, session, world):
    """06-17 trades live: before the close is rolled up the day's quote is the close; after
    ``market.close_day`` the daily bar is; a share with no quote and no bar did not move."""
    at = [datetime(2026, 6, 17, 10, 0, tzinfo=SHANGHAI), datetime(2026, 6, 17, 14, 59, tzinfo=SHANGHAI)]
    ingest_quotes(session, [Tick("600519.SH", at[0], 1520.0, 1000), Tick("600519.SH", at[1], 1545.0, 3000),
                            Tick("600137.SH", at[1], 20.0, 5000)])
    session.commit()
    facts = {r["symbol"]: r for r in day_facts(session.connection(), NEXT).iter_rows(named=True)}
    assert facts["600519.SH"]["prev_close"] == 1530.0 and facts["600519.SH"]["close"] == 1545.0
    assert facts["000001.SZ"]["prev_close"] == facts["000001.SZ"]["close"] == 10.10
    session.rollback()
    outcome = run_now("market.close_day", NEXT)
    assert outcome.status == "succeeded" and outcome.counts["daily_bars"] == 2
    bars = daily_history(session, ["600519.SH"], before=date(2026, 6, 18), days=1)
    assert bars["close"].tolist() == [1545.0]
    facts = {r["symbol"]: r for r in day_facts(session.connection(), NEXT).iter_rows(named=True)}
    assert facts["600519.SH"]["close"] == 1545.0
    assert facts["600137.SH"]["limit_down_days"] == 0  # 19.00 -> 20.00 broke the streak


def test_customer_opts_in_through_the_api_and_gets_the_push(engine, session, world, client):
    create_user(session, username="wangjg", password=PASSWORD, role="customer", display_name="王建国",
                customer_id=world["wang"])
    session.commit()
    token = client.post("/api/v1/auth/token", data={"username": "wangjg", "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    url = f"/api/v1/monitoring/customers/{world['wang']}/preferences"
    assert client.get(url, headers=headers).json()["daily_report"] is False
    assert client.put(url, json={"daily_report": True}, headers=headers).json()["daily_report"] is True
    assert client.put(url, json={"daily_report": "也许"}, headers=headers).status_code == 422
    night = service.publish_daily_reports(engine, DAY)
    assert (night.reports, night.pushes) == (2, 2)
    push = session.scalar(select(OutboxMessage).where(OutboxMessage.customer_id == world["wang"]))
    assert push.subject == "6月16日收盘报告" and "维持担保比例" not in push.body and "持平" in push.body


def test_the_latest_report_is_todays_only_after_the_close():
    from datetime import datetime

    from brokercare.core.calendar import SHANGHAI

    assert service.latest_day(datetime(2026, 6, 16, 14, 59, tzinfo=SHANGHAI)) == PREV
    assert service.latest_day(datetime(2026, 6, 16, 15, 0, tzinfo=SHANGHAI)) == DAY
    # Saturday after the Dragon Boat Festival (Friday 19 June 2026, exchanges closed): Thursday's
    assert service.latest_day(datetime(2026, 6, 20, 10, 0, tzinfo=SHANGHAI)).isoformat() == "2026-06-18"
