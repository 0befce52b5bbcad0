"""The onboarding domain's public face: the applicant's steps (:mod:`.journey`), the back
office's queue (:mod:`.review`), and where an application stands, for pages and the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from brokercare.core.database import utcnow
from brokercare.onboarding.checks import rules
from brokercare.onboarding.id_verification import identity_vendor as identity_vendor
from brokercare.onboarding.id_verification import sample_picture as sample_picture
from brokercare.onboarding.journey import STEP_ZH, STEPS
from brokercare.onboarding.journey import IdentityForm as IdentityForm
from brokercare.onboarding.journey import TooManyStarts as TooManyStarts
from brokercare.onboarding.journey import agreement_texts as agreement_texts
from brokercare.onboarding.journey import assess_risk as assess_risk
from brokercare.onboarding.journey import bind_bank as bind_bank
from brokercare.onboarding.journey import by_token as by_token
from brokercare.onboarding.journey import resume as resume
from brokercare.onboarding.journey import sign_agreements as sign_agreements
from brokercare.onboarding.journey import start as start
from brokercare.onboarding.journey import submit as submit
from brokercare.onboarding.journey import verify_identity as verify_identity
from brokercare.onboarding.models import OpeningApplication
from brokercare.onboarding.review import approve as approve
from brokercare.onboarding.review import reject as reject
from brokercare.onboarding.review import review_queue as review_queue
from brokercare.onboarding.review import waiting_count as waiting_count

#: What the applicant does next, by the state the application is in.
NEXT_STEP = {"started": "identity", "identity_verified": "risk", "risk_assessed": "agreements",
             "agreement_signed": "bank", "bank_bound": "submit", "in_review": "wait", "opened": "done",
             "rejected": "done"}


@dataclass(frozen=True)
class Standing:
    """Where an application stands, as the applicant sees it (no personal data)."""

    application_no: str
    state: str
    state_zh: str
    next_step: str
    step_no: int  # 1..5 while the applicant has steps to do, 6 after submitting
    steps_total: int
    account_no: str | None
    one_code_no: str | None  # 中国结算 一码通, and the Shanghai and Shenzhen securities accounts
    sh_holder_no: str | None
    sz_holder_no: str | None
    risk_level: str | None
    bank_name: str | None
    card_tail: str | None
    review_note: str | None  # why it was rejected
    customer_seconds: float | None  # start to submit: the customer's part of the journey
    started_at: datetime


def standing(app: OpeningApplication) -> Standing:
    step_no = STEPS.index(app.state) + 1 if app.state in STEPS else len(STEPS) + 1
    seconds = ((app.submitted_at or utcnow()) - app.started_at).total_seconds() if app.submitted_at else None
    return Standing(app.application_no, app.state, STEP_ZH.get(app.state, app.state), NEXT_STEP[app.state], step_no,
                    len(STEPS), app.account_no, app.one_code_no, app.sh_holder_no, app.sz_holder_no,
                    app.risk_level, app.bank_name, app.card_tail,
                    app.review_note if app.state == "rejected" else None, seconds, app.started_at)


def custody_banks() -> list[str]:
    return list(rules().custody_banks)


def occupations() -> list[str]:
    return list(rules().occupations)


def current(session: Session, token: str | None) -> Standing:
    return standing(by_token(session, token))
