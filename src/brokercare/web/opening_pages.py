"""The online account-opening pages (``/open``): the applicant's resumable journey, and the back
office's review queue in the workbench (``/workbench/openings``, compliance and the risk desk).

The applicant has no login until the account opens: starting or resuming sets an HttpOnly
cookie with the application's token (stored hashed by the onboarding domain). Every page shows
the step the application is in, so a refreshed or reopened page lands where the applicant was.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.exceptions import HTTPException
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from brokercare.core.database import get_session
from brokercare.core.errors import AuthenticationFailed, DomainError
from brokercare.onboarding import service as opening
from brokercare.security.policy import Principal
from brokercare.web import protection
from brokercare.web.errors import page_html
from brokercare.web.sessions import staff_user

router = APIRouter(include_in_schema=False)
COOKIE = "brokercare_opening"
REVIEWERS = ("compliance", "risk")


def render(request: Request, name: str, user: Principal | None = None, status_code: int = 200, **ctx) -> HTMLResponse:
    from brokercare.web.pages import render as _render

    return _render(request, name, user, status_code=status_code, **ctx)


def _with_token(response: Response, request: Request, token: str) -> Response:
    response.set_cookie(COOKIE, token, max_age=30 * 24 * 3600, httponly=True, samesite="lax", path="/open",
                        secure=request.url.scheme == "https")
    return response


def _to_step() -> RedirectResponse:
    return RedirectResponse("/open/step", status_code=303)


@router.get("/open", response_class=HTMLResponse)
def start_page(request: Request, session: Session = Depends(get_session)) -> Response:
    try:
        opening.by_token(session, request.cookies.get(COOKIE))
        return _to_step()
    except AuthenticationFailed:
        return render(request, "open/start.html")


@router.post("/open")
def start(request: Request, phone: str = Form("", max_length=20), password: str = Form("", max_length=128),
          confirm: str = Form("", max_length=128), session: Session = Depends(get_session)) -> Response:
    if password != confirm:
        return render(request, "open/start.html", error="两次输入的密码不一致，请重新输入。", phone=phone, status_code=422)
    try:
        began = opening.start(session, phone=phone, password=password, channel="web",
                              ip=request.client.host if request.client else None)
    except DomainError as exc:
        session.rollback()
        return render(request, "open/start.html", error=exc.detail, phone=phone, status_code=exc.status_code)
    session.commit()
    return _with_token(_to_step(), request, began.token)


@router.get("/open/resume", response_class=HTMLResponse)
def resume_page(request: Request) -> HTMLResponse:
    return render(request, "open/resume.html")


@router.post("/open/resume")
def resume(request: Request, phone: str = Form("", max_length=20), password: str = Form("", max_length=128),
           session: Session = Depends(get_session)) -> Response:
    try:
        again = opening.resume(session, phone=phone, password=password)
    except DomainError as exc:
        session.commit()  # the failed attempt counts towards the lock
        return render(request, "open/resume.html", error=exc.detail, phone=phone, status_code=exc.status_code)
    session.commit()
    return _with_token(_to_step(), request, again.token)


def _step_context(session: Session, app) -> dict:
    standing = opening.standing(app)
    ctx = {"standing": standing}
    if standing.next_step == "identity":
        ctx["occupations"] = opening.occupations()
    elif standing.next_step == "risk":
        from brokercare.advisory import service as advisory

        ctx["questions"] = advisory.questions()
    elif standing.next_step == "agreements":
        ctx["agreements"] = opening.agreement_texts()
    elif standing.next_step == "bank":
        ctx["banks"] = opening.custody_banks()
    elif standing.state == "opened":
        from brokercare.engagement import service as engagement

        ctx["benefits"] = engagement.benefits_of(session, app.customer_id)
    return ctx


def step_page(request: Request, session: Session, app, *, error: str | None = None, status_code: int = 200,
              **extra) -> HTMLResponse:
    return render(request, "open/step.html", error=error, status_code=status_code,
                  **{**_step_context(session, app), **extra})


def _applicant(request: Request, session: Session):
    try:
        return opening.by_token(session, request.cookies.get(COOKIE))
    except AuthenticationFailed:
        return None


@router.get("/open/again")
def again() -> Response:
    """After a rejection: forget this browser's application and start a new one."""
    response = RedirectResponse("/open", status_code=303)
    response.delete_cookie(COOKIE, path="/open")
    return response


@router.get("/open/step", response_class=HTMLResponse)
def current_step(request: Request, session: Session = Depends(get_session)) -> Response:
    app = _applicant(request, session)
    if app is None:
        return RedirectResponse("/open/resume", status_code=303)
    return step_page(request, session, app)


def _run(request: Request, session: Session, step, **extra) -> Response:
    """Do one step for the applicant of this browser: on to the next page, or this one again with
    what to fix (nothing written)."""
    app = _applicant(request, session)
    if app is None:
        return RedirectResponse("/open/resume", status_code=303)
    try:
        outcome = step(app)
    except DomainError as exc:
        session.rollback()
        return step_page(request, session, app, error=exc.detail, status_code=exc.status_code, **extra)
    session.commit()
    return outcome if isinstance(outcome, Response) else _to_step()


@router.post("/open/identity")
async def identity(request: Request, name: str = Form("", max_length=40), id_number: str = Form("", max_length=24),
                   address: str = Form("", max_length=200), occupation: str = Form("", max_length=40),
                   id_card: UploadFile | None = File(None), selfie: UploadFile | None = File(None),
                   csrftoken: str = Form("", max_length=200), session: Session = Depends(get_session)) -> Response:
    if not protection.double_submit_ok(request.cookies.get("csrftoken"), csrftoken):
        return HTMLResponse(page_html("请求被拒绝", "页面已过期或请求来源不可信，请刷新页面后重试。", 403), status_code=403)
    card = await id_card.read() if id_card else b""
    face = await selfie.read() if selfie else b""
    form = opening.IdentityForm(name, id_number, address, occupation, card, face)
    typed = {"name": name, "id_number": id_number, "address": address, "occupation": occupation}
    # asgi-csrf does not see this path (MULTIPART_FORMS): the page shown again keeps the cookie's token
    return _run(request, session, lambda app: opening.verify_identity(session, app, form,
                                                                        vendor=opening.identity_vendor()),
                typed=typed, csrf_token=request.cookies.get("csrftoken", ""))


@router.post("/open/risk")
async def risk(request: Request, session: Session = Depends(get_session)) -> Response:
    form = await request.form()
    answers = {k[2:]: str(v) for k, v in form.items() if k.startswith("q_")}
    round_ = 2 if form.get("round") == "2" else 1

    def step(app):
        result = opening.assess_risk(session, app, answers, round_=round_)
        if result.status != "complete":
            session.commit()
            return step_page(request, session, app, result=result, answers=answers)
        return None

    return _run(request, session, step, answers=answers)


@router.post("/open/agreements")
async def agreements(request: Request, session: Session = Depends(get_session)) -> Response:
    form = await request.form()
    signed = {k[5:]: str(v) for k, v in form.items() if k.startswith("sign_")}
    return _run(request, session, lambda app: opening.sign_agreements(session, app, signed))


@router.post("/open/bank")
def bank(request: Request, bank: str = Form("", max_length=32), card_no: str = Form("", max_length=30),
         session: Session = Depends(get_session)) -> Response:
    return _run(request, session, lambda app: opening.bind_bank(session, app, bank=bank, card_no=card_no),
                typed={"bank": bank, "card_no": card_no})


@router.post("/open/submit")
def submit(request: Request, session: Session = Depends(get_session)) -> Response:
    return _run(request, session, lambda app: opening.submit(session, app))


# --- the back office -----------------------------------------------------------------------------

def reviewer(user: Principal = Depends(staff_user)) -> Principal:
    if user.role not in REVIEWERS:
        raise HTTPException(status_code=403, detail="开户审核仅限合规专员和风控专员。")
    return user


@router.get("/workbench/openings", response_class=HTMLResponse)
def review_page(request: Request, user: Principal = Depends(reviewer), session: Session = Depends(get_session),
                error: str | None = None, status_code: int = 200) -> HTMLResponse:
    return render(request, "workbench/openings.html", user, queue=opening.review_queue(session), error=error,
                  status_code=status_code)


@router.post("/workbench/openings/{application_no}/{decision}")
def decide(request: Request, application_no: str, decision: str, note: str = Form("", max_length=500),
           user: Principal = Depends(reviewer), session: Session = Depends(get_session)) -> Response:
    if decision not in ("approve", "reject"):
        raise HTTPException(status_code=404, detail="没有这个操作。")
    try:
        if decision == "approve":
            opening.approve(session, application_no[:20], reviewer_id=user.id, note=note)
        else:
            opening.reject(session, application_no[:20], reviewer_id=user.id, reason=note)
    except DomainError as exc:
        session.rollback()
        return review_page(request, user, session, error=exc.detail, status_code=exc.status_code)
    session.commit()
    return RedirectResponse("/workbench/openings", status_code=303)
