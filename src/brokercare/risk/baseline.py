"""The login-time side of the detector: one event's features from the customer's stored baseline
plus a few indexed counts over recent events, and the baseline's update afterwards.

Every feature means what it means in :mod:`brokercare.risk.batch` ("known before this event"),
and both feed :func:`brokercare.risk.scoring.score`; the tests replay a scenario file through
this path and compare decisions with the batch scorer's.

The baseline is a JSON document (``RiskBaseline.state``)::

    devices {id: last seen}, places {key: n}, provinces {key: n}, hours [24], logins,
    amounts [last log-amounts], cards [tokens], last_login {t, device, flagged},
    last_verified {t, lat, lon, place}, last_change_t, orders {day, today_max, prior_max}

A flagged login changes nothing but ``last_login`` until the customer passes the second factor
(:func:`register_login`).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from brokercare.risk import scoring
from brokercare.risk.batch import BEIJING_MS, MS_DAY, robust_z
from brokercare.risk.models import RiskEvent
from brokercare.risk.places import Place, distance_km
from brokercare.risk.rules import EVENT_TYPES, Rules
from brokercare.risk.schemas import RiskEventIn

MAX_DEVICES = 20
MAX_PLACES = 60
MAX_CARDS = 10


def _ts(at: datetime) -> float:
    return at.timestamp()


# Built once: the login path runs them on every attempt, and building the expressions cost more
# than running them (profiled: about a third of a decision).
_ATTEMPTS = ("login", "login_failed")
_BY_IP = (select(RiskEvent.customer_id, RiskEvent.type)
          .where(RiskEvent.ip == bindparam("value"), RiskEvent.occurred_at >= bindparam("since"),
                 RiskEvent.type.in_(_ATTEMPTS)))
_BY_DEVICE = (select(RiskEvent.customer_id).distinct()
              .where(RiskEvent.device_id == bindparam("value"), RiskEvent.occurred_at >= bindparam("since"),
                     RiskEvent.type.in_(_ATTEMPTS)))
_COUNT = (select(func.count()).select_from(RiskEvent)
          .where(RiskEvent.customer_id == bindparam("customer"), RiskEvent.occurred_at >= bindparam("since"),
                 RiskEvent.type == bindparam("type")))


def _count(session: Session, customer_id: int, kind: str, since: datetime) -> int:
    return session.execute(_COUNT, {"customer": customer_id, "since": since, "type": kind}).scalar() or 0


def _across_accounts(session: Session, e: RiskEventIn, rules: Rules, f: dict) -> None:
    """Credential stuffing and password guessing: counts over recent attempts."""
    p = rules.param
    failed = e.type == "login_failed"
    since = e.occurred_at - timedelta(minutes=p("credential_stuffing", "window_minutes"))
    if e.ip:
        rows = session.execute(_BY_IP, {"value": e.ip, "since": since}).all()
        f["ip_accounts"] = len({c for c, _ in rows} | {e.customer_id})
        failures = {c for c, t in rows if t == "login_failed"} | ({e.customer_id} if failed else set())
        f["ip_failed_accounts"] = len(failures)
    if e.device_id:
        since_dev = e.occurred_at - timedelta(minutes=p("credential_stuffing", "device_window_minutes"))
        accounts = set(session.execute(_BY_DEVICE, {"value": e.device_id, "since": since_dev}).scalars())
        f["device_accounts"] = len(accounts | {e.customer_id})
    if e.customer_id is not None:
        guess = e.occurred_at - timedelta(minutes=p("password_guessing", "window_minutes"))
        f["recent_failures"] = _count(session, e.customer_id, "login_failed", guess) + int(failed)


def _orders(session: Session, e: RiskEventIn, state: dict, rules: Rules, f: dict) -> None:
    window = rules.param("order_burst", "window_seconds")
    t_ms = int(_ts(e.occurred_at) * 1000)
    day = (t_ms + BEIJING_MS) // MS_DAY
    day_start = datetime.fromtimestamp((day * MS_DAY - BEIJING_MS) / 1000, tz=e.occurred_at.tzinfo)
    minute = e.occurred_at - timedelta(seconds=window) + timedelta(milliseconds=1)
    f["orders_window"] = _count(session, e.customer_id, "order", minute) + 1
    f["orders_second"] = _count(session, e.customer_id, "order", e.occurred_at - timedelta(milliseconds=999)) + 1
    f["orders_day"] = _count(session, e.customer_id, "order", day_start) + 1
    orders = state.get("orders") or {}
    prior = orders.get("prior_max", 0)
    if orders.get("day") is not None and orders["day"] < day:
        prior = max(prior, orders.get("today_max", 0))
    f["orders_prior_max"] = prior


def features(session: Session, e: RiskEventIn, place: Place, state: dict, rules: Rules) -> dict[str, np.ndarray]:
    """The event's features (arrays of one) from its customer's baseline and recent events."""
    f: dict = {name: (np.nan if dtype is float else 0) for name, dtype in scoring.FEATURES.items()}
    f["type_code"] = EVENT_TYPES.index(e.type)
    t = _ts(e.occurred_at)
    f["hour"] = int(((t * 1000 + BEIJING_MS) // 3_600_000) % 24)
    placed = e.type in ("login", "password_change", "device_change")
    devices, places, provinces = state.get("devices", {}), state.get("places", {}), state.get("provinces", {})
    if placed or e.type == "transfer_out":
        f["new_device"] = bool(e.device_id) and bool(devices) and e.device_id not in devices
    if placed and place.known:
        f["new_place"] = bool(places) and place.key not in places
        f["new_province"] = bool(provinces) and place.province_key not in provinces
        f["foreign"] = not place.domestic
    last = state.get("last_verified")
    if placed and last and place.latitude is not None and last.get("lat") is not None:
        f["travel_km"] = distance_km(last["lat"], last["lon"], place.latitude, place.longitude)
        f["travel_hours"] = (t - last["t"]) / 3600
    if placed:
        hours = np.asarray(state.get("hours") or [0] * 24)
        total = int(state.get("logins", 0))
        f["prior_logins"] = total
        f["hour_share_own"] = float(scoring.own_hour_share(hours[None, :], np.array([f["hour"]]), np.array([total]))[0])
    if e.type in ("login", "login_failed"):
        _across_accounts(session, e, rules, f)
    if e.type == "transfer_out":
        amounts = state.get("amounts") or []
        k = int(rules.param("amount_high", "history"))
        window = np.full((1, k), np.nan)
        window[0, : len(amounts[-k:])] = amounts[-k:]
        f["amount"] = float(e.amount)
        f["amount_z"] = float(robust_z(np.array([math.log(max(float(e.amount), 0.01))]), window, rules)[0])
        cards = state.get("cards") or []
        f["new_card"] = bool(e.card) and bool(cards) and e.card not in cards
    if e.type in ("transfer_out", "device_change") and state.get("last_change_t") is not None:
        f["hours_since_change"] = (t - state["last_change_t"]) / 3600
    session_login = state.get("last_login")
    if e.type not in ("login", "login_failed") and session_login and session_login.get("flagged"):
        recent = t - session_login["t"] <= rules.param("risky_session", "hours") * 3600
        f["session_flagged"] = recent and session_login.get("device") == e.device_id
    if e.type == "order":
        _orders(session, e, state, rules, f)
    return {name: np.array([f[name]], dtype=dtype) for name, dtype in scoring.FEATURES.items()}


def _bump(counter: dict, key: str, cap: int) -> None:
    counter[key] = counter.get(key, 0) + 1
    if len(counter) > cap:  # forget the rarest
        del counter[min(counter, key=counter.get)]


def register_login(state: dict, *, t: float, hour: int, device: str | None, place: Place) -> None:
    """A login the customer stands behind (allowed, or verified by a second factor)."""
    if device:
        devices = state.setdefault("devices", {})
        devices[device] = t
        if len(devices) > MAX_DEVICES:
            del devices[min(devices, key=devices.get)]
    if place.known:
        _bump(state.setdefault("places", {}), place.key, MAX_PLACES)
        _bump(state.setdefault("provinces", {}), place.province_key, MAX_PLACES)
        if place.latitude is not None:
            state["last_verified"] = {"t": t, "lat": place.latitude, "lon": place.longitude, "place": place.label}
    hours = state.setdefault("hours", [0] * 24)
    hours[hour % 24] += 1
    state["logins"] = int(state.get("logins", 0)) + 1
    if state.get("last_login", {}).get("t") == t:
        state["last_login"]["flagged"] = False


def update(state: dict, e: RiskEventIn, place: Place, f: dict[str, np.ndarray], action: str, rules: Rules) -> dict:
    """The baseline after this event. Only what the customer stands behind enters it."""
    t = _ts(e.occurred_at)
    allowed = action == "allow"
    if e.type == "login":
        state["last_login"] = {"t": t, "device": e.device_id, "flagged": not allowed,
                               "place": place.label}
        if allowed:
            register_login(state, t=t, hour=int(f["hour"][0]), device=e.device_id, place=place)
    elif e.type in ("password_change", "device_change"):
        state["last_change_t"] = t
        if e.type == "device_change" and allowed and e.device_id:
            state.setdefault("devices", {})[e.device_id] = t
    elif e.type in ("transfer_out", "transfer_in") and (allowed or e.type == "transfer_in"):
        k = int(rules.param("amount_high", "history"))
        state["amounts"] = ((state.get("amounts") or []) + [math.log(max(float(e.amount), 0.01))])[-k:]
        if e.card:
            cards = [c for c in state.get("cards") or [] if c != e.card] + [e.card]
            state["cards"] = cards[-MAX_CARDS:]
    elif e.type == "order":
        day = (int(t * 1000) + BEIJING_MS) // MS_DAY
        orders = state.setdefault("orders", {"day": day, "today_max": 0, "prior_max": 0})
        if orders.get("day") != day:
            orders["prior_max"] = max(orders.get("prior_max", 0), orders.get("today_max", 0))
            orders["day"], orders["today_max"] = day, 0
        orders["today_max"] = max(orders["today_max"], int(f["orders_window"][0]))
    return state
