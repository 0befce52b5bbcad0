"""Goals with glide paths and a Monte Carlo probability of reaching them.

A goal (education fund of X in N years, retirement, house, "5 % in one year") follows a glide path:
the model level falls from growth to low risk as the date nears, and never exceeds the customer's
own risk level (suitability). The probability of success is estimated by block-bootstrapping
real monthly asset-class returns (the shipped history) through the glide path's model weights,
with monthly contributions. When it is below the threshold, the service proposes adjustments —
contribute more, extend the date, or a bolder glide path *within* the customer's level — each
evaluated on the same simulated paths so they are comparable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml

from brokercare.advisory import portfolios, series
from brokercare.advisory.suitability import LEVELS, level_name, normalise_investor
from brokercare.core.errors import ValidationFailed

PATH = Path(__file__).parent / "data" / "goals.yaml"


@lru_cache
def config() -> dict:
    with open(PATH, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@dataclass(frozen=True)
class Goal:
    kind: str  # education, retirement, house, target_return
    target_amount: float
    years: float
    initial: float = 0.0
    monthly: float = 0.0
    investor_level: str = "C3"  # the customer's assessed level caps the glide path


@dataclass
class Adjustment:
    kind: str  # contribute_more, extend, change_risk
    probability: float
    message: str
    monthly: float | None = None
    years: float | None = None
    glide_shift: int | None = None


@dataclass
class GoalProjection:
    goal: Goal
    probability: float
    median: float
    p10: float
    glide: list[dict]
    on_track: bool
    message: str
    adjustments: list[Adjustment] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "goal": self.goal.__dict__, "probability": round(self.probability, 4),
            "median": round(self.median, 2), "p10": round(self.p10, 2), "glide": self.glide,
            "on_track": self.on_track, "message": self.message,
            "adjustments": [a.__dict__ for a in self.adjustments],
        }


def validate(goal: Goal) -> Goal:
    if goal.kind not in config()["kinds"]:
        raise ValidationFailed(f"不支持的目标类型：{goal.kind}（可选：{'、'.join(config()['kinds'])}）")
    if not (goal.target_amount > 0):
        raise ValidationFailed("目标金额需要大于0。")
    if not (0 < goal.years <= 40):
        raise ValidationFailed("目标期限需要在1个月到40年之间。")
    if goal.initial < 0 or goal.monthly < 0:
        raise ValidationFailed("初始投入和每月投入不能为负数。")
    if goal.initial == 0 and goal.monthly == 0:
        raise ValidationFailed("请至少填写初始投入或每月投入中的一项。")
    level = normalise_investor(goal.investor_level)
    return Goal(goal.kind, float(goal.target_amount), float(goal.years), float(goal.initial),
                float(goal.monthly), "C5" if level == "professional" else level)


def glide_level(kind: str, years_left: float, cap: str, shift: int = 0) -> str:
    """The model level for this many years left, shifted by ``shift`` steps, capped at ``cap``."""
    steps = sorted(config()["kinds"][kind]["glide"], key=lambda s: -s["years"])
    level = steps[-1]["level"]
    for step in steps:
        if years_left >= step["years"]:
            level = step["level"]
            break
    idx = min(LEVELS.index(level) + shift, LEVELS.index(cap))
    return LEVELS[max(idx, 0)]


@lru_cache
def _monthly_returns() -> np.ndarray:
    levels = series.levels()
    monthly = levels.resample("ME").last().pct_change().dropna()
    return monthly[list(portfolios.config()["asset_classes"])].to_numpy()


@lru_cache
def _weights() -> np.ndarray:
    """Strategic (normal-regime) weights: the regime is transient; a goal spans years."""
    return portfolios.weight_matrix(portfolios.build(high_volatility=False))


def _draws(months: int) -> np.ndarray:
    """Bootstrap month indices (paths × months), fixed per horizon so comparisons share paths."""
    cfg = config()["simulation"]
    rng = np.random.default_rng(cfg["seed"])
    hist = len(_monthly_returns())
    block = cfg["block_months"]
    n_blocks = -(-months // block)
    starts = rng.integers(0, hist - block + 1, size=(cfg["paths"], n_blocks))
    idx = (starts[:, :, None] + np.arange(block)[None, None, :]).reshape(cfg["paths"], -1)
    return idx[:, :months]


def simulate(goal: Goal, *, shift: int = 0, months: int | None = None, monthly: float | None = None) -> np.ndarray:
    """Final wealth on every simulated path."""
    months = months or max(1, round(goal.years * 12))
    contribution = goal.monthly if monthly is None else monthly
    rets = _monthly_returns()
    weights = _weights()
    idx = _draws(months)
    wealth = np.full(idx.shape[0], goal.initial)
    for m in range(months):
        lv = glide_level(goal.kind, (months - m) / 12, goal.investor_level, shift)
        r = rets[idx[:, m]] @ weights[LEVELS.index(lv)]
        wealth = (wealth + contribution) * (1 + r)
    return wealth


def _p(wealth: np.ndarray, target: float) -> float:
    return float((wealth >= target).mean())


def project(goal: Goal) -> GoalProjection:
    goal = validate(goal)
    months = max(1, round(goal.years * 12))
    wealth = simulate(goal)
    p = _p(wealth, goal.target_amount)
    threshold = config()["success_threshold"]
    glide, last = [], None
    for m in range(months):
        lv = glide_level(goal.kind, (months - m) / 12, goal.investor_level)
        if lv != last:
            glide.append({"from_month": m, "level": lv})
            last = lv
    name = config()["kinds"][goal.kind]["name"]
    on_track = p >= threshold
    if goal.kind == "target_return":
        rate = goal.target_amount / goal.initial - 1 if goal.initial else 0.0
        what = f"{round(goal.years, 1):g}年获得{rate:.1%}收益（到{goal.target_amount:,.0f}元）的目标"
    else:
        what = f"{name}目标（{round(goal.years, 1):g}年后达到{goal.target_amount:,.0f}元）"
    msg = f"按照目前的计划，您的{what}达成的可能性约为{p:.0%}。"
    msg += "进度良好，按计划坚持即可。" if on_track else "低于我们建议的水平，可以考虑下面的调整方案。"
    proj = GoalProjection(goal, p, float(np.median(wealth)), float(np.percentile(wealth, 10)), glide,
                          on_track, msg)
    if not on_track:
        proj.adjustments = adjustments(goal, months)
    return proj


def adjustments(goal: Goal, months: int) -> list[Adjustment]:
    threshold = config()["success_threshold"]
    target = goal.target_amount
    out: list[Adjustment] = []

    if goal.kind != "target_return":  # adding money does not raise a rate of return
        out.append(_contribute_more(goal, months))

    for extra in range(1, config()["max_extend_years"] + 1):

        longer = Goal(goal.kind, goal.target_amount, goal.years + extra, goal.initial, goal.monthly,
                      goal.investor_level)
        p = _p(simulate(longer), target)
        if p >= threshold:
            out.append(Adjustment("extend", p, f"把目标时间推后{extra}年（共{goal.years + extra:g}年），"
                                  f"达成可能性约为{p:.0%}。", years=goal.years + extra))
            break

    best: Adjustment | None = None
    for shift in (1, 2):
        levels = {glide_level(goal.kind, (months - m) / 12, goal.investor_level, shift) for m in range(months)}
        base = {glide_level(goal.kind, (months - m) / 12, goal.investor_level) for m in range(months)}
        if levels == base:
            break  # already at the customer's own level: a bolder path would breach suitability
        p = _p(simulate(goal, shift=shift), target)
        top = max(levels, key=LEVELS.index)
        candidate = Adjustment("change_risk", p, f"在您的风险等级（{level_name(goal.investor_level)}）以内，"
                              f"适当提高前期的权益比例（最高到{level_name(top)}的模型组合），达成可能性约为{p:.0%}；"
                              "相应地，中途的波动也会更大。", glide_shift=shift)
        if best is None or candidate.probability > best.probability:
            best = candidate
        if p >= threshold:
            break
    if best is not None and best.probability > _p(simulate(goal), target):
        out.append(best)
    return out


def _contribute_more(goal: Goal, months: int) -> Adjustment:
    """The smallest monthly contribution (to 100 元) reaching the threshold on the same paths."""
    threshold = config()["success_threshold"]
    target = goal.target_amount
    lo, hi = goal.monthly, max(goal.monthly * 2, target / months, 100.0)
    while _p(simulate(goal, monthly=hi), target) < threshold and hi < target:
        hi *= 2
    while hi - lo > 50:
        mid = (lo + hi) / 2
        if _p(simulate(goal, monthly=mid), target) >= threshold:
            hi = mid
        else:
            lo = mid
    needed = float(np.ceil(hi / 100) * 100)
    p = _p(simulate(goal, monthly=needed), target)
    return Adjustment("contribute_more", p, f"每月投入从{goal.monthly:,.0f}元提高到约{needed:,.0f}元，"
                      f"达成可能性约为{p:.0%}。", monthly=needed)
