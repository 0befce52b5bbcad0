"""The customer's 投资学堂 (the education library: articles, videos by link, quizzes graded with
explanations) and 社区 (themed communities with a staff host, posts held by the compliance guard),
and the host's review page in the workbench. Server-rendered forms, no script; every rule is the
engagement service's, the same as its API."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from brokercare.core.database import get_session
from brokercare.core.errors import DomainError, NotFound
from brokercare.engagement import service as engagement
from brokercare.security.policy import Principal
from brokercare.web.sessions import customer_user, staff_user

router = APIRouter(include_in_schema=False)

def _render(request: Request, name: str, user: Principal, status_code: int = 200, **ctx) -> HTMLResponse:
    from brokercare.web.pages import render

    return render(request, name, user, status_code=status_code, **ctx)


@router.get("/me/learn", response_class=HTMLResponse)
def learn(request: Request, user: Principal = Depends(customer_user),
          session: Session = Depends(get_session)) -> HTMLResponse:
    page = engagement.learn_page(session, user.customer_id)
    top = engagement.content_library().recommend
    return _render(request, "me/learn.html", user, picks=page.picks[:top], rest=page.picks[top:],
                   completion=page.completion, topics=engagement.content_library().topics)


def _item_page(request: Request, user: Principal, session: Session, key: str, *, graded=None,
               status_code: int = 200, error: str | None = None) -> HTMLResponse:
    item, state = engagement.open_item(session, user.customer_id, key)
    lib = engagement.content_library()
    quiz = next((q for q in lib.items.values() if q.after == key), None)
    return _render(request, "me/learn_item.html", user, status_code=status_code, item=item, state=state,
                   body=engagement.content_html(item), topics=lib.topics, graded=graded, quiz=quiz, error=error,
                   article=lib.items.get(item.after) if item.after else None)


@router.get("/me/learn/{key}", response_class=HTMLResponse)
def learn_item(key: str, request: Request, user: Principal = Depends(customer_user),
               session: Session = Depends(get_session)) -> HTMLResponse:
    return _item_page(request, user, session, key)


@router.post("/me/learn/{key}/done")
def learn_done(key: str, user: Principal = Depends(customer_user), session: Session = Depends(get_session)) -> Response:
    engagement.open_item(session, user.customer_id, key)
    engagement.mark_content_done(session, user.customer_id, key)
    session.commit()
    return RedirectResponse(f"/me/learn/{key}", status_code=303)


@router.post("/me/learn/{key}/answers", response_class=HTMLResponse)
async def learn_answers(key: str, request: Request, user: Principal = Depends(customer_user),
                        session: Session = Depends(get_session)) -> HTMLResponse:
    form = await request.form()
    answers: dict[int, int] = {}
    for name, value in form.items():
        if name.startswith("q") and name[1:].isdigit() and str(value).isdigit():
            answers[int(name[1:])] = int(str(value))
    engagement.open_item(session, user.customer_id, key)
    try:
        graded = engagement.grade_quiz(session, user.customer_id, key, answers)
    except DomainError as exc:
        session.rollback()
        return _item_page(request, user, session, key, status_code=422, error=str(exc.detail))
    session.commit()
    return _item_page(request, user, session, key, graded=graded)


# --- communities ------------------------------------------------------------------------------

@router.get("/me/community", response_class=HTMLResponse)
def communities(request: Request, user: Principal = Depends(customer_user),
                session: Session = Depends(get_session)) -> HTMLResponse:
    return _render(request, "me/communities.html", user, cards=engagement.community_cards(session, user.customer_id))


@router.post("/me/community/{key}/join")
def join(key: str, user: Principal = Depends(customer_user), session: Session = Depends(get_session)) -> Response:
    engagement.join_community(session, user.customer_id, key)
    session.commit()
    return RedirectResponse(f"/me/community/{key}", status_code=303)


@router.post("/me/community/{key}/leave")
def leave(key: str, user: Principal = Depends(customer_user), session: Session = Depends(get_session)) -> Response:
    engagement.leave_community(session, user.customer_id, key)
    session.commit()
    return RedirectResponse("/me/community", status_code=303)


def _room(request: Request, user: Principal, session: Session, key: str, *, status_code: int = 200,
          error: str | None = None, draft: str = "") -> HTMLResponse:
    cards = {c.community.key: c for c in engagement.community_cards(session, user.customer_id)}
    if key not in cards:
        raise NotFound("没有找到这个社区。")
    return _render(request, "me/community.html", user, status_code=status_code, card=cards[key], error=error,
                   draft=draft, threads=engagement.community_threads(session, key, viewer_customer_id=user.customer_id))


@router.get("/me/community/{key}", response_class=HTMLResponse)
def room(key: str, request: Request, user: Principal = Depends(customer_user),
         session: Session = Depends(get_session)) -> HTMLResponse:
    return _room(request, user, session, key)


@router.post("/me/community/{key}/posts", response_class=HTMLResponse)
def new_post(key: str, request: Request, body: str = Form(""), parent_id: str = Form(""),
             user: Principal = Depends(customer_user), session: Session = Depends(get_session)) -> Response:
    try:
        row = engagement.community_post(session, user.customer_id, key, body,
                                        int(parent_id) if parent_id.isdigit() else None)
    except DomainError as exc:
        session.rollback()
        return _room(request, user, session, key, status_code=exc.status_code, error=str(exc.detail), draft=body)
    session.commit()
    return RedirectResponse(f"/me/community/{key}#post-{row.id}", status_code=303)


# --- the host's review ------------------------------------------------------------------------

@router.get("/workbench/communities", response_class=HTMLResponse)
def review_page(request: Request, user: Principal = Depends(staff_user),
                session: Session = Depends(get_session)) -> HTMLResponse:
    names = {c.key: c.name for c in engagement.communities_config().communities}
    return _render(request, "workbench/communities.html", user, held=engagement.held_posts(session, user),
                   names=names, hosted=engagement.hosted_by(session, user))


@router.post("/workbench/community-posts/{post_id}/review")
def review(post_id: int, action: str = Form(...), note: str = Form(""), user: Principal = Depends(staff_user),
           session: Session = Depends(get_session)) -> Response:
    engagement.review_post(session, user=user, post_id=post_id, action=action, note=note)
    session.commit()
    return RedirectResponse("/workbench/communities", status_code=303)
