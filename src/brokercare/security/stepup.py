"""Step-up authentication: RFC 6238 time-based one-time passwords (pyotp).

Compliance and admin logins need a code as well as the password, and so does every reveal of
personal data. The secret is sealed by the field cipher like other class-4 data; a code is
accepted once (the last used time step is kept, RFC 6238 §5.2), one step of clock drift either way.
"""

from __future__ import annotations

import pyotp
from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from brokercare.core.database import utcnow
from brokercare.core.errors import AuthenticationFailed, ValidationFailed
from brokercare.core.settings import get_settings
from brokercare.ledger.service import append
from brokercare.security.crypto import get_cipher
from brokercare.security.models import User

ISSUER = "BrokerCare"


def step_up_enforced() -> bool:
    return get_settings().step_up


def needs_otp_at_login(user: User) -> bool:
    return step_up_enforced() and user.role in get_settings().step_up_roles_set()


def enroll(session: Session, user: User, *, by_user_id: int | None = None) -> str:
    """A new TOTP secret for ``user`` (replacing any old one); returns the ``otpauth://`` URI to
    show once as a QR code. Flushed and ledgered; the caller commits."""
    secret = pyotp.random_base32()
    user.totp_secret_enc = get_cipher(session).encrypt(secret)
    user.totp_last_step = None
    append(session, "auth.totp_enrolled", f"user:{user.id}",
           {"user_id": user.id, "by_user_id": by_user_id if by_user_id is not None else user.id})
    session.flush()
    return pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=ISSUER)


def secret_of(session: Session, user: User) -> str | None:
    return None if not user.totp_secret_enc else get_cipher(session).decrypt(user.totp_secret_enc)


def check_code(session: Session, user: User, code: str | None) -> bool:
    """True for a current code not used before by ``user`` (the use is committed at once, so a
    replay in a parallel request loses the race)."""
    secret = secret_of(session, user)
    code = (code or "").strip()
    if secret is None or not code.isdigit() or len(code) != 6:
        return False
    totp = pyotp.TOTP(secret)
    now = utcnow()
    for drift in (0, -1, 1):
        step = totp.timecode(now) + drift
        if pyotp.utils.strings_equal(totp.generate_otp(step), code):
            claimed = session.execute(
                update(User).where(User.id == user.id,
                                   or_(User.totp_last_step.is_(None), User.totp_last_step < step))
                .values(totp_last_step=step).execution_options(synchronize_session=False)
            ).rowcount
            session.commit()
            return claimed == 1
    return False


def require_code(session: Session, user: User, code: str | None) -> None:
    """Step-up for an act (revealing personal data): :class:`AuthenticationFailed` unless a fresh
    code of ``user``'s authenticator comes with it. Does nothing when step-up is switched off."""
    if not step_up_enforced():
        return
    if not user.totp_secret_enc:
        raise ValidationFailed("查看完整个人信息需要动态口令，请先联系管理员绑定动态口令。(no TOTP enrolled)")
    if not check_code(session, user, code):
        raise AuthenticationFailed("动态口令不正确或已使用，请输入验证器上当前的 6 位动态口令。(step-up code invalid)")
