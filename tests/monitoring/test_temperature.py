from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from tests.monitoring.brokerage import small_brokerage

from brokercare.api import create_app
from brokercare.monitoring import service
from brokercare.monitoring.engine import Evaluator, Snapshot
from brokercare.monitoring.models import MarketTemperature
from brokercare.monitoring.temperature import (
    TEMPERATURE_HISTORY_DAYS,
    Temperature,
    band_of,
    latest_temperatures,
    record_temperatures,
    temperature_history,
    temperatures,
)
from brokercare.security import auth
from brokercare.security.service import create_user


def _market(n, change, up_share=0.0, down_share=0.0, activity=1.0):
    prev = np.full(n, 10.0)
    prices = prev * (1 + change)
    k_up, k_down = int(n * up_share), int(n * down_share)
    prices[:k_up] = 12.0
    prices[k_up : k_up + k_down] = 8.0
    return (
        prev,
        prices,
        np.full(n, 1e6 * 0.5 * activity),
        np.full(n, 1e6),
        np.full(n, 12.0),
        np.full(n, 8.0),
    )


def test_bands():
    assert [band_of(x) for x in (5, 30, 50, 70, 95)] == ["过冷", "偏冷", "正常", "偏热", "过热"]


def test_hot_chinext_and_cold_main_board():
    n = 400
    boards = np.array(["chinext"] * n + ["main"] * n, dtype=object)
    p1, x1, v1, a1, u1, d1 = _market(n, np.linspace(0.0, 0.08, n), up_share=0.08, activity=1.8)
    p2, x2, v2, a2, u2, d2 = _market(n, np.linspace(-0.06, 0.0, n), down_share=0.05, activity=1.6)
    t = temperatures(
        boards,
        np.r_[x1, x2],
        np.r_[p1, p2],
        np.r_[v1, v2],
        np.r_[a1, a2],
        np.r_[u1, u2],
        np.r_[d1, d2],
        0.5,
    )
    assert t["chinext"].band == "过热" and t["chinext"].limit_up == 32
    assert t["chinext"].text.startswith("当前创业板情绪过热")
    assert t["main"].band == "过冷" and t["main"].limit_down == 20
    quiet = temperatures(
        np.array(["main"] * 4, dtype=object),
        np.array([10.0, 10.1, 9.9, 10.0]),
        np.full(4, 10.0),
        np.full(4, 5e5),
        np.full(4, 1e6),
        np.full(4, 11.0),
        np.full(4, 9.0),
        0.5,
    )
    assert quiet["main"].band == "正常"


# stored temperature, API and alert text ------------------------------------------------------
def _stored_world(session):
    """Evaluate two snapshots of a falling market and store the temperatures, as the worker does."""

    small_brokerage(session, 10)
    universe = service.load_universe(session)
    book = service.load_book(session, universe=universe)
    boards = np.array([u.board for u in universe], dtype=object)
    ev = Evaluator(book, service.market_info(universe, date(2026, 6, 16)))
    base = np.array([float(u.last_price) for u in universe])
    vol = np.full(len(universe), 5e5)
    out = {}
    for t, prices in (
        (datetime(2026, 6, 16, 2, 0, 5, tzinfo=UTC), base),
        (datetime(2026, 6, 16, 2, 0, 50, tzinfo=UTC), base * 0.99),  # same minute: overwrites
        (datetime(2026, 6, 16, 2, 6, tzinfo=UTC), np.round(base * 0.9, 2)),  # limit-down
    ):
        f = ev.evaluate(Snapshot(t, prices, vol))
        temps = service.snapshot_temperatures(ev, boards, vol, t)
        out = service.record_snapshot(session, book, f, ev.last_price, temps, boards)
    session.commit()
    return out


def test_temperatures_are_stored_per_board_and_minute_with_a_short_history(session):
    recorded = _stored_world(session)
    latest = latest_temperatures(session)
    assert set(latest) == {"main", "chinext", "star"}
    main = latest["main"]
    assert main["band"] == "过冷" and main["score"] < 20 and main["limit_down"] == 6
    assert main["at"] == datetime(2026, 6, 16, 2, 6, tzinfo=UTC)
    assert "主板市场温度" in main["text"] and "（过冷）" in main["text"]
    assert "下跌的股票多于上涨的" in main["text"] and "跌停 6 家" in main["text"]
    history = temperature_history(session, "main", 60)
    assert len(history) == 2  # two minutes; the minute's second snapshot replaced its first
    assert history[0]["at"] == datetime(2026, 6, 16, 2, 0, 50, tzinfo=UTC)
    assert history[0]["score"] < 50 and history[1]["score"] < history[0]["score"]
    assert set(latest_temperatures(session, ["chinext"])) == {"chinext"}
    # a limit-down alert says the whole board is cold
    limit_down = [a for a in recorded.alerts if a.rule == "limit_down"]
    assert limit_down and all("主板情绪过冷" in a.body for a in limit_down)

    later = datetime(2026, 6, 16, 2, 6, tzinfo=UTC) + timedelta(
        days=TEMPERATURE_HISTORY_DAYS, minutes=1
    )
    record_temperatures(
        session, {"main": Temperature("main", 55, "正常", 0.1, 3, 0, 1.0, 10)}, later
    )
    session.commit()
    minutes = session.scalars(
        MarketTemperature.__table__.select().with_only_columns(MarketTemperature.minute)
    ).all()
    # what is older than the history window went when the new minute opened (for every board)
    assert min(minutes) > later - timedelta(days=TEMPERATURE_HISTORY_DAYS, minutes=1)
    assert latest_temperatures(session)["main"]["band"] == "正常"


def test_temperature_api(session, engine, monkeypatch):
    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    _stored_world(session)
    create_user(
        session, username="agent02", password="Passw0rd2026", role="agent", display_name="坐席"
    )
    session.commit()
    with TestClient(create_app()) as client:
        assert client.get("/api/v1/monitoring/temperature").status_code == 401
        token = client.post(
            "/api/v1/auth/token", data={"username": "agent02", "password": "Passw0rd2026"}
        ).json()["access_token"]
        h = {"Authorization": f"Bearer {token}"}
        body = client.get("/api/v1/monitoring/temperature", headers=h).json()
        assert {b["board"] for b in body["boards"]} == {"main", "chinext", "star"}
        main = next(b for b in body["boards"] if b["board"] == "main")
        assert main["band"] == "过冷" and main["board_name"] == "主板" and "温度" in main["text"]
        assert len(body["history"]["main"]) == 2
        one = client.get(
            "/api/v1/monitoring/temperature?board=chinext&history_minutes=0", headers=h
        ).json()
        assert [b["board"] for b in one["boards"]] == ["chinext"] and one["history"] == {}
        bad = client.get("/api/v1/monitoring/temperature?board=nasdaq", headers=h)
        assert bad.status_code == 422 and "创业板" in bad.json()["detail"]
        bad = client.get("/api/v1/monitoring/temperature?history_minutes=-5", headers=h)
        assert bad.status_code == 422
