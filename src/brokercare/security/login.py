"""Logging in: the lockout counted in the database, step-up codes, and token revocation.

The lockout must hold against parallel guesses. Each attempt first *claims* a try with one
``UPDATE … WHERE not locked RETURNING failed_logins`` committed before the (slow) password check:
the database serialises the claims, so at most :data:`LOCK_AFTER` guesses are ever checked per
lock period however many arrive together, and exactly one claim sees the count reach the limit and
writes the ``auth.locked`` entry. Every failure (unknown user, wrong password, locked) gets one
answer, so the answer tells nobody which usernames exist.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.orm import Session

from brokercare.core.database import utcnow
from brokercare.core.errors import AuthenticationFailed, Conflict, ValidationFailed
from brokercare.ledger.service import append
from brokercare.security import stepup
from brokercare.security.auth import decoy_verify, hash_password, needs_rehash, verify_password
from brokercare.security.models import User
from brokercare.security.passwords import validate_password
from brokercare.security.policy import ROLES

LOCK_AFTER = 5
LOCK_MINUTES = 30
FAILED = (f"用户名或密码错误。连续输错 {LOCK_AFTER} 次将锁定 {LOCK_MINUTES} 分钟，"
          "如已锁定请稍后再试或联系客服。(invalid credentials, or login locked)")
OTP_NEEDED = "密码正确，请再输入验证器上的 6 位动态口令。(TOTP code required for this role)"
OTP_NOT_ENROLLED = "该岗位登录需要动态口令，请联系管理员绑定后再登录。(TOTP not enrolled for this role)"


def _claim_attempt(session: Session, user_id: int) -> int | None:
    """Count one try in the database (committed); the count, or ``None`` while locked."""
    now = utcnow()
    lapsed = and_(User.locked_until.is_not(None), User.locked_until <= now)
    count = case((lapsed, 1), else_=User.failed_logins + 1)
    claimed = session.execute(
        update(User)
        .where(User.id == user_id, or_(User.locked_until.is_(None), User.locked_until <= now))
        .values(failed_logins=count,
                locked_until=case((count >= LOCK_AFTER, now + timedelta(minutes=LOCK_MINUTES)), else_=None))
        .returning(User.failed_logins)
        .execution_options(synchronize_session=False)
    ).scalar()
    session.commit()
    return claimed


def authenticate(session: Session, username: str, password: str, *, otp: str | None = None) -> User:
    """The active user with these credentials (and a current TOTP code where the role needs one),
    or :class:`AuthenticationFailed`. The outcome is committed before answering."""
    user = session.scalar(select(User).where(func.lower(User.username) == username.strip().lower()))
    if user is None or not user.active:
        decoy_verify(password)
        raise AuthenticationFailed(FAILED)
    attempt = _claim_attempt(session, user.id)
    if attempt is None:
        decoy_verify(password)
        raise AuthenticationFailed(FAILED)
    if not verify_password(user.password_hash, password):
        _failed(session, user, attempt)
        raise AuthenticationFailed(FAILED)
    if stepup.needs_otp_at_login(user):
        if not user.totp_secret_enc:
            raise AuthenticationFailed(OTP_NOT_ENROLLED)
        if not stepup.check_code(session, user, otp):
            _failed(session, user, attempt)
            raise AuthenticationFailed(OTP_NEEDED)
    session.execute(update(User).where(User.id == user.id)
                    .values(failed_logins=0, locked_until=None, last_login_at=utcnow())
                    .execution_options(synchronize_session=False))
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    session.commit()
    session.refresh(user)
    return user


def _failed(session: Session, user: User, attempt: int) -> None:
    if attempt == LOCK_AFTER:  # exactly one claim sees the count reach the limit
        append(session, "auth.locked", f"user:{user.id}",
               {"user_id": user.id, "role": user.role, "after_failures": LOCK_AFTER, "minutes": LOCK_MINUTES})
    session.commit()


def unlock(session: Session, user: User, *, by_user_id: int | None = None) -> None:
    """Lift a lockout (a team lead or admin after verifying the caller's identity); with
    ``by_user_id`` the unlock is appended to the ledger."""
    user.failed_logins = 0
    user.locked_until = None
    if by_user_id is not None:
        append(session, "auth.unlocked", f"user:{user.id}", {"user_id": user.id, "by_user_id": by_user_id})
    session.flush()


def revoke_tokens(session: Session, user: User, *, why: str) -> None:
    """Every token issued to ``user`` so far stops working (logout, password or role change)."""
    session.execute(update(User).where(User.id == user.id)
                    .values(token_version=User.token_version + 1)
                    .execution_options(synchronize_session=False))
    session.flush()
    session.refresh(user)
    append(session, "auth.tokens_revoked", f"user:{user.id}", {"user_id": user.id, "why": why})


def set_password(session: Session, user: User, password: str) -> None:
    validate_password(password, username=user.username)
    user.password_hash = hash_password(password)
    revoke_tokens(session, user, why="password_changed")


def change_role(session: Session, user: User, role: str, *, by_user_id: int) -> None:
    """Give a staff login another staff role; its tokens stop working. Ledgered."""
    from brokercare.security.policy import STAFF_ROLES

    if role not in ROLES or role not in STAFF_ROLES or user.role not in STAFF_ROLES:
        raise ValidationFailed(f"a staff login can only take a staff role; roles: {', '.join(STAFF_ROLES)}")
    if role in ("compliance", "admin"):
        raise Conflict("合规、管理员权限须经第二位管理员审批，请提交授权申请（POST /api/v1/security/grants）。"
                       "(privileged roles need a second administrator's approval)")
    before = user.role
    user.role = role
    append(session, "auth.role_changed", f"user:{user.id}",
           {"user_id": user.id, "from": before, "to": role, "by_user_id": by_user_id})
    revoke_tokens(session, user, why="role_changed")
