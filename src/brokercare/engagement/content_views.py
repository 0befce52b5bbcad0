"""The engagement API of the education library and the communities.

The library and the communities are the signed-in customer's own (their recommendations, their
progress, their posts); a customer manager reads a customer's completion counts; a community's
host (or compliance) reviews the posts the compliance guard held.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from sqlalchemy.orm import Session

from brokercare.core.database import get_session
from brokercare.core.errors import PermissionDenied
from brokercare.customers.service import get_customer
from brokercare.engagement import service
from brokercare.engagement.schemas import (
    CommunityOut,
    CompletionOut,
    ContentDetailOut,
    ContentOut,
    GradedOut,
    PostIn,
    PostOut,
    QuestionOut,
    QuizAnswers,
    ReviewIn,
    ThreadOut,
)
from brokercare.security.policy import Principal, current_user, require_roles

router = APIRouter(tags=["engagement"])  # included under /engagement by engagement.views

customers = require_roles("customer")
moderators = require_roles("customer_manager", "advisor", "compliance", "team_lead", "agent")


def _content(pick_or_item, state: str | None = None, reason: str | None = None) -> dict:
    item = getattr(pick_or_item, "item", pick_or_item)
    return {"key": item.key, "kind": item.kind, "title": item.title, "summary": item.summary, "topics": item.topics,
            "minutes": item.minutes, "essential": item.essential, "url": item.url,
            "reason": getattr(pick_or_item, "reason", reason), "state": getattr(pick_or_item, "state", state)}


@router.get("/content", response_model=list[ContentOut],
            summary="The education library for the signed-in customer, recommended first")
def my_content(user: Principal = Depends(customers), session: Session = Depends(get_session)) -> list[ContentOut]:
    return [ContentOut(**_content(p)) for p in service.learn_page(session, user.customer_id).picks]


@router.get("/content/completion", response_model=CompletionOut,
            summary="How much of the library written for the signed-in customer they finished")
def my_completion(user: Principal = Depends(customers), session: Session = Depends(get_session)) -> CompletionOut:
    return CompletionOut.model_validate(service.learn_page(session, user.customer_id).completion)


@router.get("/content/{key}", response_model=ContentDetailOut, summary="One article, video or quiz")
def content_item(key: str, user: Principal = Depends(customers),
                 session: Session = Depends(get_session)) -> ContentDetailOut:
    item, state = service.open_item(session, user.customer_id, key)
    return ContentDetailOut(**_content(item, state), body_html=service.content_html(item), pass_mark=item.pass_mark,
                            questions=[QuestionOut(q=q.q, options=q.options) for q in item.questions])


@router.post("/content/{key}/done", response_model=ContentOut, summary="Mark an article read or a video watched")
def content_done(key: str, user: Principal = Depends(customers), session: Session = Depends(get_session)) -> ContentOut:
    item, _state = service.open_item(session, user.customer_id, key)
    row = service.mark_content_done(session, user.customer_id, key)
    session.commit()
    return ContentOut(**_content(item, row.state))


@router.post("/content/{key}/answers", response_model=GradedOut,
             summary="Answer a quiz: each question marked right or wrong, with its explanation")
def answer_quiz(key: str, body: QuizAnswers, user: Principal = Depends(customers),
                session: Session = Depends(get_session)) -> GradedOut:
    service.open_item(session, user.customer_id, key)
    graded = service.grade_quiz(session, user.customer_id, key, dict(enumerate(body.answers)))
    session.commit()
    return GradedOut.model_validate(graded)


@router.get("/customers/{customer_id}/education", response_model=CompletionOut,
            summary="A customer's education completion (their own manager only)")
def customer_education(customer_id: int, user: Principal = Depends(require_roles("customer_manager")),
                       session: Session = Depends(get_session)) -> CompletionOut:
    if get_customer(session, customer_id).manager_id != user.id:
        raise PermissionDenied("只有客户的专属客户经理可以查看其投教完成情况")
    return CompletionOut.model_validate(service.education_completion(session, customer_id))


# --- communities ------------------------------------------------------------------------------

@router.get("/communities", response_model=list[CommunityOut],
            summary="Themed communities, those matching the customer's interests first")
def list_communities(user: Principal = Depends(customers),
                     session: Session = Depends(get_session)) -> list[CommunityOut]:
    return [CommunityOut(key=c.community.key, name=c.community.name, description=c.community.description,
                         host=c.host, members=c.members, joined=c.joined, matched=c.matched)
            for c in service.community_cards(session, user.customer_id)]


@router.put("/communities/{key}/membership", status_code=204, summary="Join a community")
def join(key: str, user: Principal = Depends(customers), session: Session = Depends(get_session)) -> Response:
    service.join_community(session, user.customer_id, key)
    session.commit()
    return Response(status_code=204)


@router.delete("/communities/{key}/membership", status_code=204, summary="Leave a community")
def leave(key: str, user: Principal = Depends(customers), session: Session = Depends(get_session)) -> Response:
    service.leave_community(session, user.customer_id, key)
    session.commit()
    return Response(status_code=204)


@router.get("/communities/{key}/posts", response_model=list[ThreadOut],
            summary="Posts with their replies, newest first (a customer also sees their own held posts)")
def posts(key: str, user: Principal = Depends(current_user), session: Session = Depends(get_session)) -> list[ThreadOut]:
    if user.role not in ("customer", "compliance") and not service.hosted_by(session, user):
        raise PermissionDenied("communities are read by their members, their host and compliance")
    viewer = user.customer_id if user.role == "customer" else None
    return [ThreadOut(post=PostOut.model_validate(t.post), replies=[PostOut.model_validate(r) for r in t.replies])
            for t in service.community_threads(session, key, viewer_customer_id=viewer)]


@router.post("/communities/{key}/posts", response_model=PostOut, status_code=201,
             summary="Post or reply (a member, or the host); the compliance guard may hold it")
def new_post(key: str, body: PostIn, user: Principal = Depends(current_user),
             session: Session = Depends(get_session)) -> PostOut:
    if user.role == "customer":
        row = service.community_post(session, user.customer_id, key, body.body, body.parent_id)
    else:
        row = service.host_post(session, user=user, key=key, body=body.body, parent_id=body.parent_id)
    session.commit()
    return PostOut.model_validate(row)


@router.get("/community-posts/held", response_model=list[PostOut],
            summary="Posts the guard held in the communities this member of staff hosts (all, for compliance)")
def held(user: Principal = Depends(moderators), session: Session = Depends(get_session)) -> list[PostOut]:
    return [PostOut.model_validate(p) for p in service.held_posts(session, user)]


@router.post("/community-posts/{post_id}/review", response_model=PostOut,
             summary="Publish a held post or reject it with a reason")
def review(post_id: int, body: ReviewIn, user: Principal = Depends(moderators),
           session: Session = Depends(get_session)) -> PostOut:
    row = service.review_post(session, user=user, post_id=post_id, action=body.action, note=body.note)
    session.commit()
    return PostOut.model_validate(row)
