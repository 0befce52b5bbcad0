"""The admin page's own buttons (issue 14 item 7): rotating the data keys and running a job now, each
confirmed on the page, put on the ledger with the admin who asked, refused in Chinese beside its
form, and closed to everyone but administrators."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select

from brokercare.core.calendar import SHANGHAI
from brokercare.core.schedule import day_allowed, load_schedule
from brokercare.core.settings import get_settings
from brokercare.ledger.models import LedgerEntry
from brokercare.security.service import key_status

from .test_landings import page_login


def _token(client) -> str:
    return client.get("/workbench/admin").text.split('name="csrftoken" value="')[1].split('"')[0]


def _ledger(session, kind: str) -> list:
    return list(session.scalars(select(LedgerEntry).where(LedgerEntry.kind == kind)))


def test_an_admin_rotates_the_data_keys_from_the_page(client, session, brokerage):
    before = {k["key_id"] for k in key_status(session)}
    page_login(client, "admin01")
    token = _token(client)
    unconfirmed = client.post("/workbench/admin/keys/rotate", data={"csrftoken": token})
    assert unconfirmed.status_code == 422 and "请先勾选“我确认轮换数据密钥”" in unconfirmed.text
    assert {k["key_id"] for k in key_status(session)} == before and not _ledger(session, "admin.keys_rotation")

    done = client.post("/workbench/admin/keys/rotate", data={"csrftoken": token, "confirm": "yes"})
    assert done.status_code == 200 and "已轮换到新密钥" in done.text
    session.expire_all()
    keys = key_status(session)
    active = [k for k in keys if k["status"] == "active"]
    assert len(active) == 1 and active[0]["key_id"] not in before and active[0]["key_id"] in done.text
    assert all(k["values"] == 0 for k in keys if k["status"] != "active")  # every value re-sealed
    asked = _ledger(session, "admin.keys_rotation")
    assert len(asked) == 1 and json.loads(asked[0].body)["data"]["by_user_id"] == brokerage["users"]["admin"].id
    assert _ledger(session, "keys.rotated")


def test_an_admin_runs_a_job_now_and_a_team_lead_may_not(client, session, brokerage):
    job = "core.calendar_coverage"
    today = datetime.now(SHANGHAI).date()
    page_login(client, "admin01")
    token = _token(client)
    unconfirmed = client.post("/workbench/admin/jobs/run", data={"csrftoken": token, "job": job})
    assert unconfirmed.status_code == 422 and "请先勾选“我确认立即执行”" in unconfirmed.text
    unknown = client.post("/workbench/admin/jobs/run", data={"csrftoken": token, "job": "core.nope", "confirm": "yes"})
    assert unknown.status_code == 422 and "没有这个定时任务" in unknown.text
    plain = client.post("/workbench/admin/jobs/run", data={"csrftoken": token, "job": job, "confirm": "yes"})
    if day_allowed(load_schedule(get_settings().schedule_file).entry(job).trigger.days, today):
        assert plain.status_code == 200 and "“交易日历到期提醒”已执行成功" in plain.text
    else:  # a weekend or a holiday: said in Chinese, run only when asked to anyway
        assert plain.status_code == 422 and "不是“交易日历到期提醒”的执行日" in plain.text
        forced = client.post("/workbench/admin/jobs/run",
                             data={"csrftoken": token, "job": job, "confirm": "yes", "force": "yes"})
        assert forced.status_code == 200 and "“交易日历到期提醒”已执行成功" in forced.text
    session.expire_all()
    asked = _ledger(session, "admin.job_run")
    assert len(asked) == 1 and asked[0].subject == f"job:{job}"
    assert json.loads(asked[0].body)["data"]["by_user_id"] == brokerage["users"]["admin"].id

    client.cookies.clear()
    page_login(client, "team_lead01")
    refused = client.post("/workbench/admin/jobs/run", data={"csrftoken": token, "job": job, "confirm": "yes"},
                          follow_redirects=False)
    assert refused.status_code in (403, 400) and len(_ledger(session, "admin.job_run")) == 1

