"""The one suitability check every recommendation in the platform goes through.

``check(investor, product_risk)`` is pure (no database): the assistant, the service hub, the
robo-advisor's proposals and the CLI all call it, so the rule lives in exactly one place. The
ladder, the professional-investor thresholds and the "lowest category is refused" rule are data in
``data/suitability_rules.yaml`` with their legal source.

``record_confirmation`` stores a customer's explicit confirmation of a warned mismatch in this
domain's ``suitability_confirmations`` table and, in the same transaction, in the tamper-evident
ledger (kind ``suitability.confirmed``).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.advisory.models import RiskAssessment, SuitabilityConfirmation
from brokercare.core.errors import PermissionDenied, ValidationFailed
from brokercare.core.settings import get_settings
from brokercare.customers.service import get_customer
from brokercare.ledger.service import append

DATA = Path(__file__).parent / "data"
Decision = Literal["allow", "warn_confirm", "refuse"]
LEVELS = ("C1", "C2", "C3", "C4", "C5")
RISKS = ("R1", "R2", "R3", "R4", "R5")
PROFESSIONAL = "professional"

_INVESTOR_ALIASES = {
    "保守型": "C1", "谨慎型": "C2", "稳健型": "C3", "积极型": "C4", "激进型": "C5",
    "专业投资者": PROFESSIONAL, "pro": PROFESSIONAL,
}
_RISK_ALIASES = {"低风险": "R1", "中低风险": "R2", "中风险": "R3", "中高风险": "R4", "高风险": "R5"}


@lru_cache
def rules() -> dict[str, Any]:
    with open(DATA / "suitability_rules.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@dataclass(frozen=True)
class SuitabilityDecision:
    """The outcome of matching an investor to a product risk level.

    ``message`` is what the customer reads; ``reason`` is a stable code for programs
    (``match``, ``professional``, ``above_level``, ``lowest_category``, ``assessment_missing``,
    ``assessment_expired``).
    """

    decision: Decision
    investor: str
    product_risk: str
    message: str
    reason: str
    suitable_range: str
    rule: str

    @property
    def allowed(self) -> bool:
        return self.decision == "allow"

    @property
    def needs_confirmation(self) -> bool:
        return self.decision == "warn_confirm"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def normalise_investor(investor: str) -> str:
    value = (investor or "").strip()
    key = value.upper()
    if key in LEVELS:
        return key
    if value.lower() == PROFESSIONAL or value in _INVESTOR_ALIASES:
        return _INVESTOR_ALIASES.get(value, PROFESSIONAL)
    raise ValidationFailed(
        f"无法识别的投资者类别“{investor}”：应为 C1–C5 或 professional（专业投资者）。",
        extra={"field": "investor"},
    )


def normalise_risk(product_risk: str) -> str:
    value = (product_risk or "").strip()
    key = value.upper()
    if key in RISKS:
        return key
    if value in _RISK_ALIASES:
        return _RISK_ALIASES[value]
    raise ValidationFailed(
        f"无法识别的产品风险等级“{product_risk}”：应为 R1–R5。", extra={"field": "product_risk"}
    )


def level_name(level: str) -> str:
    if level == PROFESSIONAL:
        return "专业投资者"
    return f"{level} {rules()['investor_levels'][level]['name']}"


def risk_name(risk: str) -> str:
    return f"{risk}（{rules()['product_levels'][risk]}）"


def max_risk(level: str) -> str:
    """The highest product risk a category may buy without a warning."""
    if level == PROFESSIONAL:
        return "R5"
    return rules()["investor_levels"][level]["max_product"]


def suitable_range(level: str) -> str:
    top = max_risk(level)
    return "R1" if top == "R1" else f"R1–{top}"


def check(investor: str, product_risk: str) -> SuitabilityDecision:
    """Match an investor category (C1–C5 or ``professional``) to a product risk level (R1–R5)."""
    level = normalise_investor(investor)
    risk = normalise_risk(product_risk)
    rule = rules()["source"]
    rng = suitable_range(level)
    if level == PROFESSIONAL:
        return SuitabilityDecision(
            "allow", level, risk,
            f"您是专业投资者，可以购买风险等级为{risk_name(risk)}的产品。"
            "专业投资者同样可能遭受本金损失，请在了解产品后自主决策。",
            "professional", rng, rule,
        )
    top = max_risk(level)
    if RISKS.index(risk) <= RISKS.index(top):
        return SuitabilityDecision(
            "allow", level, risk,
            f"这款产品的风险等级为{risk_name(risk)}，在您的风险承受能力"
            f"（{level_name(level)}，适合{rng}）范围之内，可以购买。投资仍有风险，请理性决策。",
            "match", rng, rule,
        )
    if level in rules()["refuse_above_level"]:
        return SuitabilityDecision(
            "refuse", level, risk,
            f"这款产品的风险等级为{risk_name(risk)}，高于您目前的风险承受能力"
            f"（{level_name(level)}，只适合{rng}低风险产品）。按照投资者适当性管理的规定，"
            "我们不能为您办理这笔购买，即使您本人坚持也不行——这是为了保护您的本金安全。"
            "您可以看看与您匹配的低风险产品；如果您的收入、资产或投资经验有了变化，"
            "也可以重新做一次风险测评。",
            "lowest_category", rng, rule,
        )
    return SuitabilityDecision(
        "warn_confirm", level, risk,
        f"请留意：这款产品的风险等级为{risk_name(risk)}，高于您目前的风险承受能力"
        f"（{level_name(level)}，适合{rng}）。它的价格波动可能比您习惯的更大，"
        "有可能出现较大的本金亏损。如果您了解这些风险后仍想购买，需要您本人确认"
        "“已知晓该产品风险高于本人风险承受能力，自愿购买并承担可能的损失”，"
        "我们会记录这次确认。您也可以先看看与您匹配的产品，或重新做一次风险测评。",
        "above_level", rng, rule,
    )


def _unassessed(level: str | None, risk: str, reason: str, valid_until: date | None) -> SuitabilityDecision:
    if reason == "assessment_expired":
        text = (
            f"您的风险测评已于{valid_until:%Y年%m月%d日}到期。按规定，测评过期后需要重新测评，"
            "才能购买新的产品。重新测评只需要几分钟，完成后即可继续。"
        )
    else:
        text = "您还没有完成风险承受能力测评。按规定，购买产品前需要先完成测评，只需要几分钟。"
    return SuitabilityDecision(
        "refuse", level or "", risk, text, reason, "", rules()["source"]
    )


# --- professional investors ----------------------------------------------------------------


@dataclass(frozen=True)
class ProfessionalAssessment:
    """Whether an individual is professional (Art. 8) or may apply to be treated as one (Art. 11)."""

    professional: bool
    may_apply: bool
    message: str


def assess_professional(
    *, financial_assets: Decimal | float, avg_income_3y: Decimal | float, experience_years: float
) -> ProfessionalAssessment:
    if min(float(financial_assets), float(avg_income_3y), float(experience_years)) < 0:
        raise ValidationFailed("资产、收入和投资年限都不能为负数。")
    pro = rules()["professional"]
    app = pro["application"]

    def meets(t: dict) -> bool:
        money_ok = float(financial_assets) >= t["financial_assets_min"] or float(
            avg_income_3y
        ) >= t["avg_income_3y_min"]
        return money_ok and float(experience_years) >= t["experience_years_min"]

    if meets(pro):
        return ProfessionalAssessment(
            True, False,
            "您符合专业投资者的条件（金融资产不低于500万元或近3年年均收入不低于50万元，"
            "且有2年以上投资经历）。专业投资者不再逐一匹配产品风险等级，但同样需要自行承担投资风险。",
        )
    if meets(app):
        return ProfessionalAssessment(
            False, True,
            "您目前是普通投资者，但符合申请成为专业投资者的条件（金融资产不低于300万元"
            "或近3年年均收入不低于30万元，且有1年以上投资经历）。申请需要您书面提交，"
            "我们审核并向您说明转化后将不再享有普通投资者的特别保护，您确认后方可生效。",
        )
    return ProfessionalAssessment(
        False, False,
        "您目前是普通投资者，我们会按照您的风险测评结果为您匹配产品，并提供普通投资者的特别保护。",
    )


# --- the customer-level check and the recorded confirmation --------------------------------


def current_assessment(session: Session, customer_id: int) -> RiskAssessment | None:
    """The customer's latest risk assessment, or None if never assessed."""
    return current_assessments(session, [customer_id]).get(customer_id)


def current_assessments(session: Session, customer_ids: list[int]) -> dict[int, RiskAssessment]:
    """:func:`current_assessment` of many customers in one read: customer id → latest
    assessment (customers never assessed are absent)."""
    out: dict[int, RiskAssessment] = {}
    for a in session.scalars(select(RiskAssessment).where(RiskAssessment.customer_id.in_(list(customer_ids)))
                             .order_by(RiskAssessment.assessed_on, RiskAssessment.id)):
        out[a.customer_id] = a  # ascending: the latest wins
    return out


def check_customer(
    session: Session, customer_id: int, product_risk: str, *, today: date | None = None
) -> SuitabilityDecision:
    """``check`` for a stored customer: their category, with a missing or expired test refused."""
    risk = normalise_risk(product_risk)
    customer = get_customer(session, customer_id)
    if customer.investor_type == PROFESSIONAL:
        return check(PROFESSIONAL, risk)
    assessment = current_assessment(session, customer_id)
    today = today or local_today()
    if assessment is None:
        return _unassessed(None, risk, "assessment_missing", None)
    if assessment.valid_until < today:
        return _unassessed(assessment.level, risk, "assessment_expired", assessment.valid_until)
    return check(assessment.level, risk)


def local_today() -> date:
    return datetime.now(ZoneInfo(get_settings().timezone)).date()


def record_confirmation(
    session: Session,
    customer_id: int,
    product: str,
    decision: SuitabilityDecision,
    *,
    channel: str = "app",
):
    """Store the customer's confirmation of a warned mismatch (and append it to the ledger).

    Only a ``warn_confirm`` decision can be confirmed: an ``allow`` needs none and a ``refuse``
    cannot be overridden. ``product`` is the product's symbol or catalogue code. Nothing is
    written when the call fails; the caller commits.
    """
    if not isinstance(decision, SuitabilityDecision):
        raise ValidationFailed("decision must be the SuitabilityDecision returned by check().")
    if decision.decision == "refuse":
        raise PermissionDenied(
            "按照投资者适当性管理的规定，这笔购买不能办理，客户确认也不能改变这一结果。",
            extra={"reason": decision.reason},
        )
    if decision.decision != "warn_confirm":
        raise ValidationFailed("该产品与客户的风险承受能力匹配，无需风险确认。")
    product = (product or "").strip()
    if not product or len(product) > 32:
        raise ValidationFailed("请提供产品代码（例如 000051.OF）。", extra={"field": "product"})
    get_customer(session, customer_id)

    message_hash = hashlib.sha256(decision.message.encode("utf-8")).hexdigest()
    row = SuitabilityConfirmation(
        customer_id=customer_id,
        product=product,
        product_risk=decision.product_risk,
        investor_level=decision.investor,
        decision=decision.decision,
        message=decision.message,
        message_sha256=message_hash,
        channel=channel[:12],
    )
    with session.begin_nested():
        session.add(row)
        session.flush()
        entry = append(
            session,
            "suitability.confirmed",
            f"customer:{customer_id}",
            {
                "customer_id": customer_id,
                "product": product,
                "product_risk": decision.product_risk,
                "investor_level": decision.investor,
                "decision": decision.decision,
                "message_sha256": message_hash,
                "confirmation_id": row.id,
                "channel": row.channel,
            },
        )
        row.ledger_entry_id = entry.id
        session.flush()
    return row
