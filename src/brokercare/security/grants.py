"""Privileged roles (compliance, admin) need two administrators: one asks, another approves.

A single administrator who could make themselves or an accomplice a compliance officer would
read every customer's data whole; so a login created with, or raised to, a privileged role stays
inactive (or keeps its old role) until a second administrator — neither the one who asked nor the
login itself — approves. Every step is ledgered. The first administrator of an install is made at
the console (``brokercare users create``), where the operator already holds the database.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.core.database import utcnow
from brokercare.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from brokercare.ledger.service import append
from brokercare.security.login import revoke_tokens
from brokercare.security.models import RoleGrant, User

PRIVILEGED = ("compliance", "admin")


def request_grant(session: Session, user: User, role: str, *, by_user_id: int) -> RoleGrant:
    """Ask for ``user`` to get ``role`` (flushed and ledgered; the caller commits)."""
    if role not in PRIVILEGED:
        raise ValidationFailed(f"only privileged roles need approval: {', '.join(PRIVILEGED)}")
    if user.role == "customer" or user.customer_id is not None:
        raise ValidationFailed("a customer login cannot get a staff role")
    pending = session.scalar(select(RoleGrant.id).where(
        RoleGrant.user_id == user.id, RoleGrant.role == role, RoleGrant.status == "pending"))
    if pending is not None:
        raise Conflict(f"grant {pending} for this login and role is already waiting for approval")
    grant = RoleGrant(user_id=user.id, role=role, requested_by=by_user_id, status="pending")
    session.add(grant)
    session.flush()
    append(session, "auth.grant_requested", f"user:{user.id}",
           {"grant_id": grant.id, "user_id": user.id, "role": role, "by_user_id": by_user_id})
    return grant


def decide(session: Session, grant_id: int, *, by_user_id: int, approve: bool) -> RoleGrant:
    """A second administrator approves (the role takes effect, the login's tokens are revoked) or
    rejects a pending grant."""
    grant = session.get(RoleGrant, grant_id)
    if grant is None:
        raise NotFound(f"grant {grant_id} does not exist")
    if grant.status != "pending":
        raise Conflict(f"grant {grant_id} was already {grant.status}")
    if by_user_id in (grant.requested_by, grant.user_id):
        raise PermissionDenied("授予合规或管理员权限须由另一位管理员审批，申请人和被授权人不能自行审批。"
                               "(a second administrator must decide)")
    grant.status = "approved" if approve else "rejected"
    grant.decided_by, grant.decided_at = by_user_id, utcnow()
    user = session.get(User, grant.user_id)
    if approve:
        user.role = grant.role
        user.active = True
        revoke_tokens(session, user, why="role_granted")
    append(session, f"auth.grant_{grant.status}", f"user:{grant.user_id}",
           {"grant_id": grant.id, "user_id": grant.user_id, "role": grant.role, "by_user_id": by_user_id})
    session.flush()
    return grant


def grants(session: Session, *, status: str | None = "pending") -> list[RoleGrant]:
    stmt = select(RoleGrant).order_by(RoleGrant.id.desc()).limit(200)
    if status:
        stmt = stmt.where(RoleGrant.status == status)
    return list(session.scalars(stmt))
