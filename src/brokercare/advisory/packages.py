"""Scenario packages: life-stage (教育金, 养老) and goal (一年期稳健) bundles from
``data/packages.yaml``, with their checks and drift monitoring.

A package's allocation for a customer comes from its ``allocation`` (goal packages) or from the
glide path of the customer's years left (life-stage packages), capped at the customer's level;
every product in it must pass the suitability check outright. Checks are real computations on the
shipped data: the one-year target is compared with what the package's assets have actually been
earning, so a 5 % promise is not made when money funds pay 1 %.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd
import yaml

from brokercare.advisory import catalogue, goals, series
from brokercare.advisory.suitability import LEVELS, check, level_name, normalise_investor
from brokercare.core.errors import NotFound, ValidationFailed

PATH = Path(__file__).parent / "data" / "packages.yaml"


@lru_cache
def config() -> dict:
    with open(PATH, encoding="utf-8") as fh:
        cfg = yaml.safe_load(fh)["packages"]
    for key, pkg in cfg.items():
        allocations = [pkg["allocation"]] if "allocation" in pkg else list(pkg["by_level"].values())
        for alloc in allocations:
            if abs(sum(alloc.values()) - 1) > 1e-9:
                raise ValueError(f"package {key}: weights must sum to 1")
            for symbol in alloc:
                catalogue.get(symbol)
    return cfg


def get(key: str) -> dict:
    try:
        return config()[key]
    except KeyError:
        raise NotFound(f"没有这个方案：{key}") from None


@dataclass
class CheckResult:
    name: str
    passed: bool
    message: str


@dataclass
class PackagePlan:
    key: str
    name: str
    level: str
    allocation: dict[str, float]
    content: str
    checks: list[CheckResult] = field(default_factory=list)
    expected_return: float | None = None

    @property
    def ok(self) -> bool:
        return all(c.passed for c in self.checks)

    def to_dict(self) -> dict:
        return {"key": self.key, "name": self.name, "level": self.level, "allocation": self.allocation,
                "content": self.content, "ok": self.ok, "expected_return": self.expected_return,
                "checks": [c.__dict__ for c in self.checks],
                "products": {s: catalogue.get(s)["name"] for s in self.allocation}}


def trailing_yield(symbol: str) -> float:
    """What the product's asset class has actually earned over the last 12 months of history."""
    item = catalogue.get(symbol)
    if item["board"] == "money" or item["kind"] == "repo":
        return float(series.money_yield_path().iloc[-1])
    levels = series.levels()
    cls = "bond" if item["board"] == "bond" else "large_cap" if item["board"] in ("index", "equity", "mixed") else "gold"
    last = levels[cls].iloc[-1]
    year_ago = levels[cls].loc[: levels.index[-1] - pd.DateOffset(years=1)].iloc[-1]
    return float(last / year_ago - 1)


def plan(key: str, investor_level: str, *, years_left: float | None = None) -> PackagePlan:
    pkg = get(key)
    level = normalise_investor(investor_level)
    level = "C5" if level == "professional" else level
    if "allocation" in pkg:
        allocation = dict(pkg["allocation"])
        used = max((catalogue.get(s)["risk"] for s in allocation), key=lambda r: int(r[1]))
        plan_level = next(lv for lv in LEVELS if check(lv, used).decision == "allow")
    else:
        if years_left is None or years_left <= 0:
            raise ValidationFailed("请填写距离目标（入学或退休）还有几年。")
        plan_level = goals.glide_level(pkg["goal_kind"], years_left, level)
        available = [lv for lv in pkg["by_level"] if LEVELS.index(lv) <= LEVELS.index(plan_level)]
        plan_level = max(available, key=LEVELS.index)
        allocation = dict(pkg["by_level"][plan_level])
    result = PackagePlan(key, pkg["name"], plan_level, allocation, "".join(pkg["content"].split()))
    if "target_return" in pkg:  # a trailing year says something about cash and bonds, not equity
        result.expected_return = round(sum(w * trailing_yield(s) for s, w in allocation.items()), 4)
    for name in pkg["checks"]:
        result.checks.append(_CHECKS[name](pkg, result, level, years_left))
    return result


def _check_suitability(pkg, result, level, _years) -> CheckResult:
    bad = [s for s in result.allocation if check(level, catalogue.get(s)["risk"]).decision != "allow"]
    if bad:
        names = "、".join(catalogue.get(s)["name"] for s in bad)
        return CheckResult("suitability", False, f"{names}的风险等级高于您的风险承受能力（{level_name(level)}），"
                           "不能放进您的方案。")
    return CheckResult("suitability", True, f"方案中的产品都在您的风险承受能力（{level_name(level)}）范围内。")


def _check_liquidity(pkg, result, _level, _years) -> CheckResult:
    quick = sum(w for s, w in result.allocation.items()
                if catalogue.get(s)["board"] == "money" or catalogue.get(s)["kind"] == "repo")
    ok = quick >= 0.2
    return CheckResult("liquidity", ok, f"约{quick:.0%}的资金可以在1个交易日内取用。" if ok else
                       "随时可取用的资金不足两成，临时用钱可能需要赎回债券基金，到账会慢一些。")


def _check_target(pkg, result, _level, _years) -> CheckResult:
    target = pkg["target_return"]
    exp = result.expected_return or 0.0
    if exp >= target:
        return CheckResult("target_feasibility", True, f"按这些资产最近一年的实际收益，方案预计年化约{exp:.1%}，"
                           f"可以覆盖{target:.0%}的目标。")
    return CheckResult("target_feasibility", False,
                       f"按货币基金、短债和逆回购最近一年的实际收益，这个组合预计一年约{exp:.1%}，"
                       f"达不到{target:.0%}。在不承担股票类风险的前提下，目前的利率环境很难一年拿到{target:.0%}；"
                       "如果确实需要更高收益，需要接受更大的波动，或者把期限拉长。")


def _check_horizon(pkg, result, _level, years) -> CheckResult:
    equity = sum(w for s, w in result.allocation.items() if catalogue.get(s)["board"] in ("index", "equity", "mixed"))
    if years is not None and years < 3 and equity > 0:
        return CheckResult("horizon", False, "距离用钱不到3年，方案里不应再有股票类基金。")
    return CheckResult("horizon", True, f"距离用钱还有{years:g}年，股票类基金占{equity:.0%}，与期限相符。")


_CHECKS = {"suitability": _check_suitability, "liquidity": _check_liquidity,
           "target_feasibility": _check_target, "horizon": _check_horizon}


@dataclass
class DriftReport:
    key: str
    drifted: bool
    max_drift: float
    weights: dict[str, float]
    target: dict[str, float]
    suggestion: str
    moves: list[dict] = field(default_factory=list)  # amount-based fund switches (元)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def monitor(plan_: PackagePlan, holdings: dict[str, float]) -> DriftReport:
    """Compare the package holdings (symbol -> market value, 元) with its target weights."""
    if any(v < 0 for v in holdings.values()):
        raise ValidationFailed("持仓市值不能为负数。")
    total = sum(holdings.values())
    if total <= 0:
        raise ValidationFailed("这个方案目前没有持仓。")
    symbols = sorted(set(holdings) | set(plan_.allocation))
    weights = {s: holdings.get(s, 0.0) / total for s in symbols}
    target = {s: plan_.allocation.get(s, 0.0) for s in symbols}
    drift = {s: weights[s] - target[s] for s in symbols}
    worst = max(symbols, key=lambda s: abs(drift[s]))
    band = get(plan_.key)["drift_band"]
    if abs(drift[worst]) <= band:
        return DriftReport(plan_.key, False, abs(drift[worst]), weights, target,
                           f"您的“{plan_.name}”各部分比例都在目标附近，无需调整。")
    moves = [{"symbol": s, "name": catalogue.get(s)["name"] if s in plan_.allocation else s,
              "action": "sell" if drift[s] > 0 else "buy", "amount": round(abs(drift[s]) * total, 2)}
             for s in symbols if abs(drift[s]) * total >= 100]
    parts = [f"{m['name']}{'多' if m['action'] == 'sell' else '少'}了约{m['amount']:,.0f}元" for m in moves]
    text = (f"您的“{plan_.name}”已偏离目标比例（最大偏离{abs(drift[worst]):.0%}）：" + "，".join(parts)
            + "。建议按目标比例做一次调整，把多出的部分转到不足的部分。")
    return DriftReport(plan_.key, True, abs(drift[worst]), weights, target, text, moves)
