"""The relationship the risk domain records for the security policy (:mod:`brokercare.security.access`
discovers ``PROVIDERS``): the risk desk reaches a customer while a risk case about them is open."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.risk.models import RiskCase
from brokercare.security.access import RISK_CASE, Provider


def _in_case(session: Session, staff_id: int, customer_id: int) -> str | None:
    case_id = session.scalar(select(RiskCase.id).where(
        RiskCase.customer_id == customer_id, RiskCase.status == "open").limit(1))
    return None if case_id is None else f"risk_case:{case_id}"


PROVIDERS = (Provider(RISK_CASE, frozenset({"risk"}), _in_case),)
