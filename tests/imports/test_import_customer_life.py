"""Importing behaviour events, family members and life events: all or nothing with row-numbered
reasons, re-imports change nothing (both backends)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from tests.imports.test_import import HEADER, PEOPLE, _snapshot, _write_csv
from typer.testing import CliRunner

from brokercare.cli import app
from brokercare.core.bulkimport import ImportRejected, run_import
from brokercare.customers.loading import spec as customers_spec
from brokercare.customers.models import BehaviourEvent, Customer, FamilyMember, LifeEvent
from brokercare.customers.service import import_spec

EV_HEADER = ["customer_no", "occurred_at", "kind", "channel", "page", "query", "topic", "ip",
             "device_id", "geo_city", "duration_s"]
EVENTS = [
    ["800000000101", "2026-03-10 08:55:12", "登录", "手机", "", "", "", "117.136.12.8",
     "iPhone15-8F2A", "北京", ""],
    ["800000000101", "2026-03-10 08:56:03", "浏览", "app", "/quote/detail", "", "", "", "", "", "42"],
    ["800000000101", "2026-03-10 08:57:40", "搜索", "app", "", "贵州茅台", "", "", "", "", ""],
    ["800000000102", "2026-03-11 21:03:00", "login", "web", "", "", "", "2409:8a1e:6a10::1",
     "Chrome-Win11-33C1", "上海", ""],
    ["800000000102", "2026-03-11 21:05:10", "阅读", "web", "/news/article", "", "新能源", "", "", "", "185"],
]


@pytest.fixture
def customers(engine, tmp_path):
    run_import(engine, customers_spec(), _write_csv(tmp_path / "c.csv", HEADER, PEOPLE))
    return engine


def test_behaviour_events_need_what_their_kind_means_and_reimport_changes_nothing(customers, session, tmp_path):
    bad = [list(r) for r in EVENTS]
    bad[0][7] = "117.136.12.300"  # not an IP address
    bad[2][5] = ""  # a search without what was searched
    with pytest.raises(ImportRejected) as err:
        run_import(customers, import_spec("behaviour_events"), _write_csv(tmp_path / "bad.csv", EV_HEADER, bad))
    assert [e.row for e in err.value.report.errors] == [2, 4]
    assert "ip" in err.value.report.errors[0].reason and "query" in err.value.report.errors[1].reason
    assert _snapshot(customers, "behaviour_events") == []

    path = _write_csv(tmp_path / "ev.csv", EV_HEADER, EVENTS)
    result = CliRunner().invoke(app, ["import", "behaviour_events", str(path)])
    assert result.exit_code == 0, result.output
    logins = session.scalars(select(BehaviourEvent).where(BehaviourEvent.kind == "login")
                             .order_by(BehaviourEvent.occurred_at)).all()
    assert [(e.ip, e.device_id, e.geo_city) for e in logins] == [
        ("117.136.12.8", "iPhone15-8F2A", "北京"), ("2409:8a1e:6a10::1", "Chrome-Win11-33C1", "上海")]
    assert logins[0].occurred_at.hour == 0  # 08:55 Beijing time is 00:55 UTC
    search = session.scalar(select(BehaviourEvent).where(BehaviourEvent.kind == "search"))
    assert search.query == "贵州茅台"

    before = _snapshot(customers, "behaviour_events")
    again = run_import(customers, import_spec("behaviour_events"), path)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 5)
    assert _snapshot(customers, "behaviour_events") == before


FAMILY = [["800000000101", "配偶", "1970"], ["800000000101", "女儿", "1998"],
          ["800000000103", "父亲", "1948"], ["800000000103", "child", "2012"]]
LIFE = [["800000000101", "退休", "2026-12-31", "年底退休"],
        ["800000000103", "子女入学", "2024-09-01", "小学入学"],
        ["800000000102", "购房", "2025-10-08", "上海浦东首套房"]]


def test_family_and_life_events_import_all_or_nothing_and_idempotently(customers, session, tmp_path):
    bad = [list(r) for r in FAMILY] + [["800000000102", "表哥", "1990"]]
    with pytest.raises(ImportRejected) as err:
        run_import(customers, import_spec("family_members"), _write_csv(tmp_path / "fb.csv",
                   ["customer_no", "relation", "birth_year"], bad))
    assert [e.row for e in err.value.report.errors] == [6] and "relation" in err.value.report.errors[0].reason
    assert _snapshot(customers, "family_members") == []

    # with --quarantine the good rows go in and the cousin waits in the quarantine file
    result = CliRunner().invoke(app, ["import", "family_members", str(tmp_path / "fb.csv"),
                                      "--quarantine", str(tmp_path / "fq.csv")])
    assert result.exit_code == 0, result.output
    quarantined = (tmp_path / "fq.csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(quarantined) == 2 and quarantined[1].startswith("6,800000000102,表哥,1990,")
    fpath = _write_csv(tmp_path / "f.csv", ["customer_no", "relation", "birth_year"], FAMILY)
    wang = session.scalar(select(Customer).where(Customer.customer_no == "800000000101"))
    assert sorted((m.relation, m.birth_year) for m in session.scalars(
        select(FamilyMember).where(FamilyMember.customer_id == wang.id))) == [("child", 1998), ("spouse", 1970)]
    again = run_import(customers, import_spec("family_members"), fpath)
    assert (again.inserted, again.unchanged) == (0, 4)

    l_header = ["customer_no", "kind", "occurred_on", "note"]
    bad = [list(r) for r in LIFE]
    bad[1][2] = "2024-02-30"
    with pytest.raises(ImportRejected) as err:
        run_import(customers, import_spec("life_events"), _write_csv(tmp_path / "lb.csv", l_header, bad))
    assert [e.row for e in err.value.report.errors] == [3] and "occurred_on" in err.value.report.errors[0].reason
    assert _snapshot(customers, "life_events") == []

    lpath = _write_csv(tmp_path / "l.csv", l_header, LIFE)
    assert run_import(customers, import_spec("life_events"), lpath).inserted == 3
    kinds = {e.kind: e.note for e in session.scalars(select(LifeEvent))}
    assert kinds == {"retirement": "年底退休", "child_school": "小学入学", "house_purchase": "上海浦东首套房"}
    before = _snapshot(customers, "life_events")
    again = run_import(customers, import_spec("life_events"), lpath)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)
    assert _snapshot(customers, "life_events") == before
