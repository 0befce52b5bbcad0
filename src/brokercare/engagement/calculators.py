"""Calculators for customers (seed 2.4.2): the dividend tax by holding period, a loan's payments
and a savings goal, in exact decimals rounded to the fen at the edge.

Dividend tax (财税〔2015〕101号, 差别化个人所得税): dividends of A-shares held by an individual
are taxed by the holding period — from the day the shares were bought to the day before they are
sold — at 20 % on the whole dividend when held one month or less, on half of it (10 %) when held
more than a month and up to a year, and not at all beyond a year. The tax is withheld when the
shares are sold; lots are sold first in, first out. Months and years are calendar ones.

Loans: equal instalments (等额本息) and equal principal (等额本金), monthly, at the annual rate ÷ 12.
Goals: the monthly saving that reaches a target from what is already saved, at an expected
annual return compounded monthly (a projection, never a promise: the page says so).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from brokercare.core.errors import ValidationFailed

FEN = Decimal("0.01")
TWELVE = Decimal(12)


def _fen(x: Decimal) -> Decimal:
    return x.quantize(FEN, rounding=ROUND_HALF_UP)


# --- dividend tax by holding period ---------------------------------------------------------------

@dataclass(frozen=True)
class Lot:
    bought_on: date
    shares: int


@dataclass(frozen=True)
class LotTax:
    bought_on: date
    shares: int
    dividend: Decimal
    rate: Decimal  # of the dividend
    band: str
    tax: Decimal


def add_months(day: date, months: int) -> date:
    """The same day ``months`` calendar months later (31 January + 1 month: 28 or 29 February)."""
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def holding_band(bought_on: date, sold_on: date) -> tuple[Decimal, str]:
    """The tax rate on the dividend and the band's name, by the holding period."""
    if sold_on <= bought_on:
        raise ValidationFailed("卖出日期应晚于买入日期")
    held_to = sold_on - timedelta(days=1)
    if held_to <= add_months(bought_on, 1):
        return Decimal("0.20"), "持股1个月以内（含1个月）"
    if held_to <= add_months(bought_on, 12):
        return Decimal("0.10"), "持股1个月以上至1年（含1年）"
    return Decimal("0"), "持股超过1年，免税"


def dividend_tax(lots: list[Lot], dividend_per_share: Decimal, sold_shares: int, sold_on: date) -> list[LotTax]:
    """The tax withheld on selling ``sold_shares`` on ``sold_on``, per lot sold (first in, first
    out), on the dividend of ``dividend_per_share`` the shares received while held."""
    if dividend_per_share < 0 or sold_shares <= 0:
        raise ValidationFailed("每股股息不能为负，卖出股数应大于0")
    if sold_shares > sum(lot.shares for lot in lots):
        raise ValidationFailed("卖出股数超过持有股数")
    out, left = [], sold_shares
    for lot in sorted(lots, key=lambda x: x.bought_on):
        if left == 0:
            break
        shares = min(lot.shares, left)
        left -= shares
        rate, band = holding_band(lot.bought_on, sold_on)
        dividend = _fen(dividend_per_share * shares)
        out.append(LotTax(lot.bought_on, shares, dividend, rate, band, _fen(dividend * rate)))
    return out


# --- loans -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LoanPlan:
    method: str  # equal_instalment (等额本息) or equal_principal (等额本金)
    months: int
    first_payment: Decimal
    last_payment: Decimal
    total_interest: Decimal
    total_paid: Decimal


def _check_loan(principal: Decimal, annual_rate: Decimal, years: int) -> None:
    if principal <= 0 or annual_rate < 0 or not 1 <= years <= 30:
        raise ValidationFailed("贷款金额应大于0，年利率不能为负，期限为1至30年")


def loan(principal: Decimal, annual_rate: Decimal, years: int, method: str = "equal_instalment") -> LoanPlan:
    """Monthly payments of a loan of ``principal`` at ``annual_rate`` (0.049 for 4.9 %)."""
    _check_loan(principal, annual_rate, years)
    n, r = years * 12, annual_rate / TWELVE
    if method == "equal_instalment":
        payment = principal / n if r == 0 else principal * r * (1 + r) ** n / ((1 + r) ** n - 1)
        total = _fen(payment) * n
        return LoanPlan(method, n, _fen(payment), _fen(payment), _fen(total - principal), _fen(total))
    if method == "equal_principal":
        part = principal / n
        interest = principal * r * (n + 1) / 2  # Σ interest on the balance before each payment
        last = part + part * r
        return LoanPlan(method, n, _fen(part + principal * r), _fen(last), _fen(interest), _fen(principal + interest))
    raise ValidationFailed("还款方式只能是等额本息（equal_instalment）或等额本金（equal_principal）")


# --- savings goal ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class GoalPlan:
    months: int
    monthly_saving: Decimal
    from_savings: Decimal  # what the money already saved grows to
    total_saved: Decimal  # what is put in, first and monthly


def goal(target: Decimal, years: int, annual_return: Decimal, saved: Decimal = Decimal(0)) -> GoalPlan:
    """The monthly saving (at each month's end) that grows, with ``saved`` today, to ``target``
    in ``years`` at ``annual_return`` compounded monthly; 0 when ``saved`` alone gets there."""
    if target <= 0 or saved < 0 or not 1 <= years <= 50 or not Decimal("-0.5") < annual_return < 1:
        raise ValidationFailed("目标金额应大于0，期限1至50年，预期年化收益率在-50%至100%之间")
    n, i = years * 12, annual_return / TWELVE
    grown = saved * (1 + i) ** n
    factor = Decimal(n) if i == 0 else ((1 + i) ** n - 1) / i
    monthly = max(Decimal(0), (target - grown) / factor)
    return GoalPlan(n, _fen(monthly), _fen(grown), _fen(saved + _fen(monthly) * n))
