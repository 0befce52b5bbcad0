"""Login, the caller's identity, the clearance matrix, and masked personal data by role."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from brokercare.core.database import get_session
from brokercare.core.errors import NotFound
from brokercare.security import service
from brokercare.security.auth import issue_token
from brokercare.security.models import User
from brokercare.security.policy import (
    ROLE_LABELS,
    STAFF_ROLES,
    clearance_matrix,
    current_user,
    customer_pii,
    require_roles,
)
from brokercare.security.schemas import ClearanceRow, CustomerPII, KeyStatus, Token, UserOut

router = APIRouter(tags=["security"])


def user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id, username=user.username, display_name=user.display_name, role=user.role,
        role_label=ROLE_LABELS.get(user.role, user.role), customer_id=user.customer_id,
        branch_code=user.branch_code, skills=list(user.skills or []), active=user.active,
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
    return [user_out(u) for u in service.list_users(session, role=role)]


@router.get("/security/customers/{customer_id}/pii", response_model=CustomerPII,
            summary="A customer's personal data, masked unless the caller's role is cleared")
def pii(
    customer_id: int,
    reveal: bool = Query(False, description="Ask for class 3/4 values whole (logged to the ledger)."),
    reason: str | None = Query(None, max_length=200, description="Why the values are needed."),
    session: Session = Depends(get_session),
    user: User = Depends(current_user),
) -> dict:
    from brokercare.customers.models import Customer

    customer = session.get(Customer, customer_id)
    if customer is None or (user.role == "customer" and user.customer_id != customer_id):
        # A customer probing other ids learns nothing about which exist.
        if user.role == "customer":
            from brokercare.core.errors import PermissionDenied

            raise PermissionDenied("您只能查看本人的信息。")
        raise NotFound(f"customer {customer_id} does not exist")
    return customer_pii(session, user, customer, reveal=reveal, reason=reason)


@router.get("/security/keys", response_model=list[KeyStatus], summary="Data keys and how many values each seals")
def keys(
    session: Session = Depends(get_session),
    _: User = Depends(require_roles("admin", "compliance")),
) -> list[dict]:
    from brokercare.security.keys import key_status

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
    from brokercare.ledger.service import append

    user = service.create_user(
        session, username=body.username, password=body.password, role=body.role,
        display_name=body.display_name, customer_id=body.customer_id, skills=body.skills,
        branch_code=body.branch_code, max_concurrent=body.max_concurrent,
    )
    append(session, "auth.user_created", f"user:{user.id}",
           {"user_id": user.id, "role": user.role, "by_user_id": admin.id})
    session.commit()
    return user_out(user)


@router.post("/security/users/{user_id}/unlock", response_model=UserOut,
             summary="Lift a lockout after repeated wrong passwords (admin, team lead)")
def unlock_user(
    user_id: int,
    session: Session = Depends(get_session),
    actor: User = Depends(require_roles("admin", "team_lead")),
) -> UserOut:
    from brokercare.ledger.service import append

    user = service.get_user(session, user_id)
    service.unlock(session, user)
    append(session, "auth.unlocked", f"user:{user.id}", {"user_id": user.id, "by_user_id": actor.id})
    session.commit()
    return user_out(user)


@router.post("/security/users/{user_id}/deactivate", response_model=UserOut,
             summary="Stop a login at once; its tokens stop working (admin)")
def deactivate_user(
    user_id: int,
    session: Session = Depends(get_session),
    admin: User = Depends(require_roles("admin")),
) -> UserOut:
    from brokercare.core.errors import Conflict
    from brokercare.ledger.service import append

    user = service.get_user(session, user_id)
    if user.id == admin.id:
        raise Conflict("an administrator cannot deactivate their own login")
    service.deactivate(session, user)
    append(session, "auth.user_deactivated", f"user:{user.id}", {"user_id": user.id, "by_user_id": admin.id})
    session.commit()
    return user_out(user)
