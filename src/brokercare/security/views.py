"""Login, the caller's identity, the clearance matrix, logins and data keys (a customer's personal
data, masked by role, is served by the customers domain)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session, object_session

from brokercare.core.database import get_session
from brokercare.security import service
from brokercare.security.auth import issue_token
from brokercare.security.keys import key_status
from brokercare.security.models import User
from brokercare.security.policy import (
    ROLE_LABELS,
    STAFF_ROLES,
    clearance_matrix,
    current_user,
    require_roles,
)
from brokercare.security.schemas import ClearanceRow, KeyStatus, Token, UserOut
from brokercare.service import service as hub

router = APIRouter(tags=["security"])


def user_out(user: User, skills: list[str] | None = None) -> UserOut:
    """``skills``: the routing skills the service hub keeps for the user (read when not given)."""
    if skills is None:
        session = object_session(user)
        skills = list(hub.agent_profile(session, user.id).skills or []) \
            if session is not None and user.role != "customer" else []
    return UserOut(
        id=user.id, username=user.username, display_name=user.display_name, role=user.role,
        role_label=ROLE_LABELS.get(user.role, user.role), customer_id=user.customer_id,
        branch_code=user.branch_code, skills=skills, active=user.active,
    )


@router.post("/auth/token", response_model=Token, summary="OAuth2 password flow: log in")
def login(form: OAuth2PasswordRequestForm = Depends(), session: Session = Depends(get_session)) -> Token:
    user = service.authenticate(session, form.username, form.password)
    token, lifetime = issue_token(user)
    return Token(access_token=token, expires_in=lifetime, role=user.role)


@router.get("/auth/me", response_model=UserOut, summary="Who am I")
def me(user: User = Depends(current_user)) -> UserOut:
    return user_out(user)


@router.get("/security/clearance", response_model=list[ClearanceRow],
            summary="Which role sees which data class whole")
def clearance(_: User = Depends(require_roles(*STAFF_ROLES))) -> list[dict]:
    return clearance_matrix()


@router.get("/security/users", response_model=list[UserOut], summary="Staff and customer logins")
def users(
    role: str | None = None,
    session: Session = Depends(get_session),
    _: User = Depends(require_roles("admin", "compliance", "team_lead")),
) -> list[UserOut]:
    found = service.list_users(session, role=role)
    profiles = hub.agent_profiles(session, [u.id for u in found])
    return [user_out(u, [] if u.role == "customer" else list(profiles[u.id].skills or [])) for u in found]


@router.get("/security/keys", response_model=list[KeyStatus], summary="Data keys and how many values each seals")
def keys(
    session: Session = Depends(get_session),
    _: User = Depends(require_roles("admin", "compliance")),
) -> list[dict]:
    return key_status(session)


class NewUser(BaseModel):
    username: str = Field(..., min_length=3, max_length=64, examples=["agent07"])
    password: str = Field(..., min_length=8, max_length=128)
    role: str = Field(..., examples=["agent"])
    display_name: str = Field(..., min_length=1, max_length=32, examples=["何静"])
    customer_id: int | None = None
    skills: list[str] = Field(default_factory=list, examples=[["margin", "trading"]])
    branch_code: str | None = Field(None, max_length=8)
    max_concurrent: int | None = Field(None, ge=1, le=20)


@router.post("/security/users", response_model=UserOut, status_code=201, summary="Create a login (admin)")
def add_user(
    body: NewUser,
    session: Session = Depends(get_session),
    admin: User = Depends(require_roles("admin")),
) -> UserOut:
    user = service.create_user(
        session, username=body.username, password=body.password, role=body.role,
        display_name=body.display_name, customer_id=body.customer_id, branch_code=body.branch_code,
    )
    if user.role != "customer":
        hub.set_agent_profile(session, user.id, skills=body.skills, max_concurrent=body.max_concurrent)
    service.record_created(session, user, by_user_id=admin.id)
    session.commit()
    return user_out(user)


@router.post("/security/users/{user_id}/unlock", response_model=UserOut,
             summary="Lift a lockout after repeated wrong passwords (admin, team lead)")
def unlock_user(
    user_id: int,
    session: Session = Depends(get_session),
    actor: User = Depends(require_roles("admin", "team_lead")),
) -> UserOut:
    user = service.get_user(session, user_id)
    service.unlock(session, user, by_user_id=actor.id)
    session.commit()
    return user_out(user)


@router.post("/security/users/{user_id}/deactivate", response_model=UserOut,
             summary="Stop a login at once; its tokens stop working (admin)")
def deactivate_user(
    user_id: int,
    session: Session = Depends(get_session),
    admin: User = Depends(require_roles("admin")),
) -> UserOut:
    user = service.get_user(session, user_id)
    service.deactivate(session, user, by_user_id=admin.id)
    session.commit()
    return user_out(user)
