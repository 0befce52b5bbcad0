"""The customer's calculators page: dividend tax by holding period, a loan's monthly payments and
a savings goal, computed on the server from the form (no script) by the engagement service."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from brokercare.core.errors import DomainError, ValidationFailed
from brokercare.engagement import service as engagement
from brokercare.security.policy import Principal
from brokercare.web.sessions import customer_user

router = APIRouter(prefix="/me", include_in_schema=False)


def _number(form: dict, key: str, label: str, *, percent: bool = False) -> Decimal:
    try:
        value = Decimal(form[key].replace(",", "").replace("%", "").strip())
    except (KeyError, InvalidOperation):
        raise ValidationFailed(f"请填写{label}（数字）") from None
    return value / 100 if percent else value


def _day(form: dict, key: str, label: str) -> date:
    try:
        return date.fromisoformat(form[key])
    except (KeyError, ValueError):
        raise ValidationFailed(f"请填写{label}（日期）") from None


def _compute(form: dict) -> dict:
    which = form.get("calc")
    if which == "dividend":
        lots = [engagement.Lot(_day(form, "bought_on", "买入日期"), int(_number(form, "shares", "持股数量")))]
        taxed = engagement.dividend_tax(lots, _number(form, "per_share", "每股股息"), lots[0].shares,
                                        _day(form, "sold_on", "卖出日期"))
        return {"dividend": taxed[0]}
    if which == "loan":
        return {"loan": engagement.loan(_number(form, "principal", "贷款金额"), _number(form, "rate", "年利率", percent=True),
                                        int(_number(form, "years", "贷款年限")), form.get("method", "equal_instalment"))}
    if which == "goal":
        return {"goal": engagement.goal(_number(form, "target", "目标金额"), int(_number(form, "years", "年限")),
                                        _number(form, "rate", "预期年化收益率", percent=True),
                                        _number(form, "saved", "已有资金") if form.get("saved") else Decimal(0))}
    return {}


@router.get("/calculators", response_class=HTMLResponse)
def calculators_page(request: Request, user: Principal = Depends(customer_user)) -> HTMLResponse:
    from brokercare.web.pages import render

    form = dict(request.query_params)
    try:
        results, error = _compute(form), None
    except (DomainError, ValueError) as exc:
        results, error = {}, exc.detail if isinstance(exc, DomainError) else "请检查填写的数字"
    return render(request, "me/calculators.html", user, status_code=422 if error else 200, form=form,
                  error=error, **results)
