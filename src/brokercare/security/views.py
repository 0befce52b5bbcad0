"""Login, the caller's identity, the clearance matrix, logins and data keys (a customer's personal
data, masked by role, is served by the customers domain)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Path, Query, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session, object_session

from brokercare.core.database import get_session
from brokercare.core.errors import AuthenticationFailed, PermissionDenied
from brokercare.security import audit, grants, service, stepup
from brokercare.security.auth import issue_token, verify_password
from brokercare.security.keys import key_status
from brokercare.security.models import RoleGrant, User
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


@router.post("/auth/token", response_model=Token, summary="OAuth2 password flow: log in",
             responses={401: {"description": "Wrong credentials, locked, or TOTP code missing"}})
def login(form: OAuth2PasswordRequestForm = Depends(), otp: str | None = Form(None, max_length=6),
          session: Session = Depends(get_session)) -> Token:
    user = service.authenticate(session, form.username, form.password, otp=otp)
    token, lifetime = issue_token(user)
    return Token(access_token=token, expires_in=lifetime, role=user.role)


@router.post("/auth/logout", status_code=204, summary="Log out: every token of the caller stops working")
def logout(user: User = Depends(current_user), session: Session = Depends(get_session)) -> Response:
    service.revoke_tokens(session, session.merge(user), why="logout")
    session.commit()
    return Response(status_code=204)


class PasswordChange(BaseModel):
    current_password: str = Field(..., max_length=128)
    new_password: str = Field(..., min_length=8, max_length=128)


@router.post("/auth/password", status_code=204,
             summary="Change one's own password; every token issued before stops working")
def change_password(body: PasswordChange, user: User = Depends(current_user),
                    session: Session = Depends(get_session)) -> Response:
    if not verify_password(user.password_hash, body.current_password):
        raise AuthenticationFailed("当前密码不正确。(current password wrong)")
    service.set_password(session, session.merge(user), body.new_password)
    session.commit()
    return Response(status_code=204)


class TotpEnrolment(BaseModel):
    otpauth_uri: str


@router.post("/auth/totp", response_model=TotpEnrolment, status_code=201,
             summary="Bind an authenticator (TOTP, RFC 6238) to one's own login; show the URI as a QR code once")
def enrol_totp(otp: str | None = Form(None, max_length=6), user: User = Depends(current_user),
               session: Session = Depends(get_session)) -> TotpEnrolment:
    user = session.merge(user)
    if user.totp_secret_enc and not stepup.check_code(session, user, otp):
        raise AuthenticationFailed("更换验证器需先输入当前验证器上的动态口令。(current TOTP code required)")
    uri = stepup.enroll(session, user)
    session.commit()
    return TotpEnrolment(otpauth_uri=uri)


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


@router.post("/security/users", response_model=UserOut, status_code=201,
             summary="Create a staff login (admin); customer logins come from account opening only")
def add_user(
    body: NewUser,
    session: Session = Depends(get_session),
    admin: User = Depends(require_roles("admin")),
) -> UserOut:
    if body.role == "customer" or body.customer_id is not None:
        # A customer's login comes from account opening, bound to their verified identity; one an
        # administrator made would let them sign in as the customer and read everything.
        raise PermissionDenied("管理员不能创建客户登录账号，客户账号由开户流程生成。(admins cannot create customer logins)")
    user = service.create_user(
        session, username=body.username, password=body.password, role=body.role,
        display_name=body.display_name, customer_id=body.customer_id, branch_code=body.branch_code,
    )
    if user.role != "customer":
        hub.set_agent_profile(session, user.id, skills=body.skills, max_concurrent=body.max_concurrent)
    service.record_created(session, user, by_user_id=admin.id)
    if body.role in grants.PRIVILEGED:  # inactive until a second administrator approves
        user.active = False
        grants.request_grant(session, user, body.role, by_user_id=admin.id)
    session.commit()
    return user_out(user)


class GrantIn(BaseModel):
    user_id: int = Field(..., ge=1, le=2**31 - 1)
    role: str = Field(..., examples=["compliance"])


class GrantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    user_id: int
    role: str
    status: str
    requested_by: int
    decided_by: int | None = None


@router.post("/security/grants", response_model=GrantOut, status_code=201,
             summary="Ask for a compliance or admin role for a login; a second admin must approve")
def request_grant(body: GrantIn, session: Session = Depends(get_session),
                  admin: User = Depends(require_roles("admin"))) -> RoleGrant:
    grant = grants.request_grant(session, service.get_user(session, body.user_id), body.role, by_user_id=admin.id)
    session.commit()
    return grant


@router.get("/security/grants", response_model=list[GrantOut], summary="Privileged role grants")
def list_grants(status: str | None = Query("pending", max_length=10), session: Session = Depends(get_session),
                _: User = Depends(require_roles("admin", "compliance"))) -> list[RoleGrant]:
    return grants.grants(session, status=status)


@router.post("/security/grants/{grant_id}/approve", response_model=GrantOut,
             summary="Approve a grant (a second admin: neither the requester nor the login itself)")
def approve_grant(grant_id: int = Path(..., ge=1, le=2**31 - 1), session: Session = Depends(get_session),
                  admin: User = Depends(require_roles("admin"))) -> RoleGrant:
    grant = grants.decide(session, grant_id, by_user_id=admin.id, approve=True)
    session.commit()
    return grant


@router.post("/security/grants/{grant_id}/reject", response_model=GrantOut, summary="Reject a grant")
def reject_grant(grant_id: int = Path(..., ge=1, le=2**31 - 1), session: Session = Depends(get_session),
                 admin: User = Depends(require_roles("admin"))) -> RoleGrant:
    grant = grants.decide(session, grant_id, by_user_id=admin.id, approve=False)
    session.commit()
    return grant


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


class RoleChange(BaseModel):
    role: str = Field(..., examples=["team_lead"])


@router.put("/security/users/{user_id}/role", response_model=UserOut,
            summary="Give a staff login another role; its tokens stop working (admin)")
def change_role(
    user_id: int, body: RoleChange,
    session: Session = Depends(get_session),
    admin: User = Depends(require_roles("admin")),
) -> UserOut:
    user = service.get_user(session, user_id)
    service.change_role(session, user, body.role, by_user_id=admin.id)
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


@router.get("/security/access-reads", summary="Staff reads of customer data, per customer or per staff "
                                               "member, each with its ledger entry's inclusion proof (compliance)")
def access_reads(
    customer_id: int | None = Query(None, ge=1, le=2**62),
    user_id: int | None = Query(None, ge=1, le=2**62, description="The member of staff who read."),
    limit: int = Query(100, ge=1, le=500),
    session: Session = Depends(get_session),
    _: User = Depends(require_roles("compliance")),
) -> list[dict]:
    return [r.as_dict() for r in audit.access_reads(session, customer_id=customer_id, user_id=user_id,
                                                    limit=limit)]
