"""From an event's features to its signals, score and decision — one vectorised function used by
the login-time path (one row) and the batch scorer (a million rows) alike, so the evaluation
measures exactly the detector that runs online.

Features are NumPy arrays of equal length (see :data:`FEATURES`); how they are computed differs:
:mod:`brokercare.risk.batch` derives them from history with array operations, and
:mod:`brokercare.risk.baseline` from the customer's stored baseline and a few indexed counts.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from brokercare.core.amounts import format_amount
from brokercare.risk.rules import ACTIONS, EVENT_TYPES, SIGNALS, Rules

#: Feature name → dtype. NaN (floats) means "not known", e.g. no previous login to travel from.
FEATURES: dict[str, type] = {
    "type_code": np.int8,
    "hour": np.int8,
    "new_device": bool,
    "new_place": bool,
    "new_province": bool,
    "foreign": bool,
    "travel_km": float,
    "travel_hours": float,
    "hour_share_own": float,
    "prior_logins": np.int32,
    "ip_accounts": np.int32,
    "ip_failed_accounts": np.int32,
    "device_accounts": np.int32,
    "recent_failures": np.int32,
    "amount": float,
    "amount_z": float,
    "new_card": bool,
    "hours_since_change": float,
    "session_flagged": bool,
    "orders_window": np.int32,
    "orders_prior_max": np.int32,
    "orders_second": np.int32,
    "orders_day": np.int32,
}


def empty_features(n: int) -> dict[str, np.ndarray]:
    """Features of ``n`` events with nothing known: no signal can fire on them."""
    out: dict[str, np.ndarray] = {}
    for name, dtype in FEATURES.items():
        out[name] = np.full(n, np.nan) if dtype is float else np.zeros(n, dtype=dtype)
    return out


def type_codes(types: np.ndarray) -> np.ndarray:
    """Event type names → codes; unknown names raise (the caller validated them)."""
    lookup = {t: i for i, t in enumerate(EVENT_TYPES)}
    return np.array([lookup[t] for t in types.tolist()], dtype=np.int8) if len(types) else np.zeros(0, np.int8)


def signals(f: dict[str, np.ndarray], rules: Rules) -> np.ndarray:
    """Which signals each event raises: a boolean matrix (events × :data:`SIGNALS`)."""
    p = rules.param
    with np.errstate(invalid="ignore", divide="ignore"):
        speed = f["travel_km"] / np.maximum(f["travel_hours"], 1 / 60)
        impossible = (f["travel_km"] >= p("impossible_travel", "min_distance_km")) & (
            speed > p("impossible_travel", "max_speed_kmh"))
        population_share = _hour_window(rules.login_hour_share)[f["hour"].astype(np.int64) % 24]
        unusual = (
            (f["prior_logins"] >= p("unusual_hour", "min_history"))
            & (f["hour_share_own"] <= p("unusual_hour", "max_share"))
            & (population_share <= p("unusual_hour", "population_max_share"))
        )
        stuffing = (
            (f["ip_accounts"] >= p("credential_stuffing", "accounts_per_ip"))
            | (f["ip_failed_accounts"] >= p("credential_stuffing", "failed_accounts_per_ip"))
            | (f["device_accounts"] >= p("credential_stuffing", "accounts_per_device"))
        )
        big = f["amount"] >= p("amount_high", "min_amount")
        burst = (f["orders_window"] >= p("order_burst", "min_orders")) & (
            f["orders_window"] >= p("order_burst", "baseline_multiple") * f["orders_prior_max"])
        columns = {
            "new_device": f["new_device"],
            "new_city": f["new_place"],
            "new_province": f["new_place"] & f["new_province"],
            "foreign_ip": f["new_place"] & f["foreign"],
            "impossible_travel": impossible,
            "unusual_hour": unusual,
            "credential_stuffing": stuffing,
            "password_guessing": f["recent_failures"] >= p("password_guessing", "failures"),
            "amount_high": big & (f["amount_z"] >= p("amount_high", "z")),
            "amount_extreme": big & (f["amount_z"] >= p("amount_extreme", "z")),
            "new_card": f["new_card"],
            "recent_credential_change": f["hours_since_change"] <= p("recent_credential_change", "hours"),
            "risky_session": f["session_flagged"],
            "order_burst": burst,
            "exchange_high_frequency": (f["orders_second"] >= p("exchange_high_frequency", "per_second"))
            | (f["orders_day"] >= p("exchange_high_frequency", "per_day")),
        }
    return np.column_stack([np.asarray(columns[s], dtype=bool) for s in SIGNALS])


def _hour_window(share: np.ndarray) -> np.ndarray:
    """Share of the hour and its two neighbours (a habit at 07:55 covers a login at 08:05)."""
    return share + np.roll(share, 1) + np.roll(share, -1)


def own_hour_share(counts: np.ndarray, hours: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """The customer's share of prior logins in the hour ±1; ``counts`` is events × 24."""
    h = hours.astype(np.int64) % 24
    rows = np.arange(len(h))
    window = counts[rows, h] + counts[rows, (h + 1) % 24] + counts[rows, (h - 1) % 24]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, window / np.maximum(totals, 1), np.nan)


@dataclass(frozen=True)
class Scored:
    signals: np.ndarray  # events × SIGNALS, bool
    score: np.ndarray  # int
    action: np.ndarray  # index into ACTIONS


def score(f: dict[str, np.ndarray], rules: Rules) -> Scored:
    """Signals, score and decision of each event."""
    raised = signals(f, rules)
    codes = f["type_code"].astype(np.int64)
    points = (raised * rules.weight_matrix()[codes]).sum(axis=1)
    thresholds = rules.threshold_matrix()[codes]
    reached = points[:, None] >= thresholds
    action = (reached * np.arange(len(ACTIONS))).max(axis=1)
    return Scored(raised & (rules.weight_matrix()[codes] > 0), points.astype(np.int64), action)


def action_names(action: np.ndarray) -> np.ndarray:
    return np.asarray(ACTIONS, dtype=object)[action]


# ------------------------------------------------------------------------------------------------
# Reasons in Chinese, for the customer and the risk desk.


def _hours_text(hours: float) -> str:
    hours = hours if math.isfinite(hours) else 0.0
    minutes = max(1, round(hours * 60))
    return f"{minutes}分钟" if minutes < 120 else f"{hours:.1f}小时"


def reason_texts(raised: list[str], f: dict[str, float], context: dict[str, str]) -> list[dict]:
    """One ``{code, text}`` per raised signal, with the facts behind it (places, amounts, counts).

    ``context`` carries what the features do not: ``place`` and ``previous_place`` labels,
    ``median_amount`` of the baseline.
    """
    place = context.get("place") or "未知地区"
    texts: dict[str, Callable[[], str]] = {
        "new_device": lambda: "使用了从未登录过的新设备",
        "new_city": lambda: f"登录地（{place}）不在您常用的登录城市中",
        "new_province": lambda: "该省份此前从未出现过您的登录记录",
        "foreign_ip": lambda: f"登录IP位于境外或港澳台地区（{place}）",
        "impossible_travel": lambda: (
            f"本次登录地（{place}）与{_hours_text(f.get('travel_hours', 0.0))}前的登录地"
            f"（{context.get('previous_place', '未知地区')}）相距约{f.get('travel_km', 0.0):,.0f}公里，"
            "短时间内无法到达"),
        "unusual_hour": lambda: f"在您极少登录的时段（{int(f.get('hour', 0)):02d}时）操作",
        "credential_stuffing": lambda: (
            f"同一IP或设备在短时间内尝试登录了{int(max(f.get('ip_accounts', 0), f.get('device_accounts', 0)))}"
            "个不同账户，疑似撞库攻击"),
        "password_guessing": lambda: f"近10分钟内密码连续输错{int(f.get('recent_failures', 0))}次",
        "amount_high": lambda: (
            f"转出金额{format_amount(f.get('amount', 0.0))}远高于您近期单笔转账的常见水平"
            f"（中位数{context.get('median_amount', '—')}）"),
        "amount_extreme": lambda: "金额偏离您的日常习惯极为显著",
        "new_card": lambda: "资金转往一张此前从未使用过的银行卡",
        "recent_credential_change": lambda: (
            f"{_hours_text(f.get('hours_since_change', 0.0))}前刚修改过登录密码或更换了绑定设备"),
        "risky_session": lambda: "本次操作所在的登录会话此前已被判定为可疑，且尚未完成二次验证",
        "order_burst": lambda: (
            f"1分钟内委托{int(f.get('orders_window', 0))}笔，远超您以往的交易频率"),
        "exchange_high_frequency": lambda: "申报频率达到交易所高频交易认定标准（每秒300笔或每日20000笔）",
    }
    return [{"code": code, "text": texts[code]()} for code in raised]


_WHAT = {
    "login": "登录", "login_failed": "登录", "password_change": "修改密码", "device_change": "更换设备",
    "transfer_out": "银证转出", "order": "委托交易",
}


def customer_message(action: str, event_type: str, reasons: list[dict], amount: float | None = None) -> str:
    """What the customer reads: what happened, why, and what to do next."""
    why = "；".join(r["text"] for r in reasons) or "系统检测到异常"
    what = _WHAT.get(event_type, "操作")
    if action == "allow":
        return ""
    if action == "step_up":
        return (f"为保障您的账户安全，本次{what}需要二次验证。原因：{why}。"
                "请输入发送到您预留手机号的短信验证码，或打开身份验证器输入动态口令。")
    if action == "hold":
        money = f"（{format_amount(amount)}）" if amount else ""
        return (f"您的银证转出申请{money}已暂缓处理，资金仍在您的证券账户中，等待风控专员复核。原因：{why}。"
                "风控专员将在1个工作日内联系您核实；如非本人操作，请立即修改密码并致电客服。")
    return (f"为保护您的资金安全，您的账户已暂停转出和交易，登录和查询不受影响。原因：{why}。"
            "如系本人操作，请在App内完成人脸识别身份核验，或携带本人身份证到营业部申请解除；"
            "如非本人操作，请立即修改登录密码并致电客服。")
