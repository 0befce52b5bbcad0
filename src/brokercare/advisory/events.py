"""Events the advisory domain publishes.

``risk.assessed``: a customer completed the risk-tolerance questionnaire and the assessment is
stored (published after the transaction commits). The customers domain reacts by updating the
customer's risk level and profile.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel

from brokercare.core.bus import register_event_type

RISK_ASSESSED = "risk.assessed"


class RiskAssessed(BaseModel):
    """Payload of ``risk.assessed`` (dates as ISO text on the wire)."""

    customer_id: int
    assessment_id: int
    level: str
    score: int
    assessed_on: date
    valid_until: date
    channel: str


register_event_type(RISK_ASSESSED, RiskAssessed)
