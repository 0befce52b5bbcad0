"""Account-opening endpoints under ``/api/v1/openings``: the applicant's steps, authenticated by
the ``X-Opening-Token`` that starting or resuming returns (the applicant has no login until the
account opens), and the back office's review queue (compliance and the risk desk)."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.security import APIKeyHeader
from sqlalchemy.orm import Session

from brokercare.core.database import get_session
from brokercare.core.errors import ValidationFailed
from brokercare.core.problems import errors
from brokercare.onboarding import service
from brokercare.onboarding.models import OpeningApplication
from brokercare.onboarding.schemas import (
    AgreementOut,
    BankIn,
    DecisionIn,
    QuestionnaireIn,
    QuestionnaireOut,
    QueueItemOut,
    SignIn,
    StandingOut,
    StartedOut,
    StartIn,
    StepOut,
)
from brokercare.security.policy import Principal, require_roles

router = APIRouter(prefix="/openings", tags=["account opening"])
reviewers = require_roles("compliance", "risk")


#: The applicant's credential, declared as a security scheme so the OpenAPI says these steps need it.
opening_token = APIKeyHeader(name="X-Opening-Token", scheme_name="OpeningToken",
                             description="The token starting or resuming an opening returned.")


def applicant(token: str = Depends(opening_token), session: Session = Depends(get_session)) -> OpeningApplication:
    if len(token) > 200:
        raise ValidationFailed("X-Opening-Token is longer than any token issued")
    return service.by_token(session, token)


def _standing(app: OpeningApplication) -> StandingOut:
    return StandingOut(**asdict(service.standing(app)))


def _step(app: OpeningApplication, reviews: list | None = None) -> StepOut:
    return StepOut(standing=_standing(app), reviews=[asdict(r) for r in reviews or []])


@router.post("", response_model=StartedOut, status_code=201, summary="Start an opening with a phone and a password",
             responses=errors({409: "The phone already has an account or an application in progress",
                               429: "Too many applications started from this source IP address this hour or "
                                    "day (`start_limits` in onboarding/data/opening.yaml); `retry_after_s` says "
                                    "when to try again"}))
def start(body: StartIn, request: Request, session: Session = Depends(get_session)) -> StartedOut:
    began = service.start(session, phone=body.phone, password=body.password, channel="app",
                          ip=request.client.host if request.client else None)
    session.commit()
    return StartedOut(**asdict(service.standing(began.application)), token=began.token)


@router.post("/resume", response_model=StartedOut, summary="Continue an opening: a new token for phone + password",
             responses=errors({401: "The phone and password match no application, or resuming is locked for "
                                    "15 minutes after 5 wrong passwords"}))
def resume(body: StartIn, session: Session = Depends(get_session)) -> StartedOut:
    try:
        again = service.resume(session, phone=body.phone, password=body.password)
    finally:
        session.commit()  # a failed attempt is counted even though it is refused
    return StartedOut(**asdict(service.standing(again.application)), token=again.token)


@router.get("/current", response_model=StandingOut, summary="Where the application stands")
def current(app: OpeningApplication = Depends(applicant)) -> StandingOut:
    return _standing(app)


@router.post("/current/identity", response_model=StepOut, summary="ID details, the ID card's picture and a selfie")
async def identity(name: str = Form(..., max_length=40), id_number: str = Form(..., max_length=24),
                   address: str = Form(..., max_length=200), occupation: str = Form(..., max_length=40),
                   id_card: UploadFile = File(...), selfie: UploadFile = File(...),
                   app: OpeningApplication = Depends(applicant), session: Session = Depends(get_session)) -> StepOut:
    form = service.IdentityForm(name, id_number, address, occupation, await id_card.read(), await selfie.read())
    reviews = service.verify_identity(session, app, form, vendor=service.identity_vendor())
    session.commit()
    return _step(app, reviews)


@router.post("/current/questionnaire", response_model=QuestionnaireOut, summary="The risk questionnaire")
def questionnaire(body: QuestionnaireIn, app: OpeningApplication = Depends(applicant),
                  session: Session = Depends(get_session)) -> QuestionnaireOut:
    result = service.assess_risk(session, app, body.answers, round_=body.round)
    session.commit()
    return QuestionnaireOut(standing=_standing(app), result=result.to_dict())


@router.get("/current/agreements", response_model=list[AgreementOut], summary="The texts to sign, with their hashes")
def agreements(_: OpeningApplication = Depends(applicant)) -> list[AgreementOut]:
    return [AgreementOut(code=t.code, version=t.version, title=t.title, text=t.text, sha256=t.sha256)
            for t in service.agreement_texts()]


@router.post("/current/agreements", response_model=StepOut, summary="Sign every agreement (the hashes shown)")
def sign(body: SignIn, app: OpeningApplication = Depends(applicant), session: Session = Depends(get_session)) -> StepOut:
    service.sign_agreements(session, app, body.signed)
    session.commit()
    return _step(app)


@router.post("/current/bank", response_model=StepOut, summary="Bind the third-party custody bank card")
def bank(body: BankIn, app: OpeningApplication = Depends(applicant), session: Session = Depends(get_session)) -> StepOut:
    reviews = service.bind_bank(session, app, bank=body.bank, card_no=body.card_no)
    session.commit()
    return _step(app, reviews)


@router.post("/current/submit", response_model=StandingOut, summary="Submit: the account is issued or reviewed")
def submit(app: OpeningApplication = Depends(applicant), session: Session = Depends(get_session)) -> StandingOut:
    service.submit(session, app)
    session.commit()
    return _standing(app)


@router.get("/reviews", response_model=list[QueueItemOut], summary="Applications waiting for the back office")
def reviews(_: Principal = Depends(reviewers), session: Session = Depends(get_session)) -> list[QueueItemOut]:
    return [QueueItemOut(**asdict(item)) for item in service.review_queue(session)]


@router.post("/{application_no}/approve", response_model=StandingOut, summary="Clear an application: issue the account")
def approve(application_no: str, body: DecisionIn, user: Principal = Depends(reviewers),
            session: Session = Depends(get_session)) -> StandingOut:
    app = service.approve(session, application_no, reviewer_id=user.id, note=body.note)
    session.commit()
    return _standing(app)


@router.post("/{application_no}/reject", response_model=StandingOut, summary="Refuse an application with its reason")
def reject(application_no: str, body: DecisionIn, user: Principal = Depends(reviewers),
           session: Session = Depends(get_session)) -> StandingOut:
    app = service.reject(session, application_no, reviewer_id=user.id, reason=body.note)
    session.commit()
    return _standing(app)


def startup() -> None:
    """Count the first money in as the funnel's last step (onboarding/handlers.py)."""
    from brokercare.onboarding.handlers import subscribe_handlers

    subscribe_handlers()
