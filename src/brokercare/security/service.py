"""Users: creation with validated roles, authentication, listing; and the security primitives
other domains apply to their own personal-data columns (field encryption, blind index, masking),
published here so they never import the security domain's internals."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from brokercare.core.database import get_many
from brokercare.core.errors import Conflict, NotFound, ValidationFailed
from brokercare.ledger.service import append
from brokercare.security import grants as _grants
from brokercare.security.audit import access_reads as access_reads
from brokercare.security.auth import hash_password as hash_password
from brokercare.security.auth import issue_token
from brokercare.security.auth import verify_password as verify_password
from brokercare.security.crypto import FieldCipher as FieldCipher
from brokercare.security.crypto import blind_index as blind_index
from brokercare.security.crypto import ensure_data_key as ensure_data_key
from brokercare.security.crypto import get_cipher as get_cipher
from brokercare.security.crypto import load_master_key as load_master_key
from brokercare.security.keys import key_status as key_status
from brokercare.security.keys import rotate as _rotate
from brokercare.security.login import LOCK_AFTER as LOCK_AFTER
from brokercare.security.login import LOCK_MINUTES as LOCK_MINUTES
from brokercare.security.login import authenticate as authenticate
from brokercare.security.login import change_role as change_role
from brokercare.security.login import revoke_tokens as revoke_tokens
from brokercare.security.login import set_password as set_password
from brokercare.security.login import unlock as unlock
from brokercare.security.masking import MASKERS as MASKERS
from brokercare.security.masking import mask_address as mask_address
from brokercare.security.masking import mask_bank_card as mask_bank_card
from brokercare.security.masking import mask_id_number as mask_id_number
from brokercare.security.masking import mask_name as mask_name
from brokercare.security.masking import mask_phone as mask_phone
from brokercare.security.models import User
from brokercare.security.passwords import validate_password as validate_password
from brokercare.security.pii_in_text import redact_typed_pii as redact_typed_pii
from brokercare.security.policy import ROLE_LABELS, ROLES, SERVICE_ROLES, STAFF_ROLES

#: Privileged role grants waiting for (or decided by) a second admin, for the admin's page.
role_grants = _grants.grants
decide_grant = _grants.decide


def blind_index_many(values: Iterable[str], *, master_key: bytes | None = None) -> list[str]:
    """:func:`blind_index` of many values with the key derived once: the bulk path of file imports
    and of the demo generator, which index millions of numbers."""
    key = hashlib.sha256(b"brokercare-blind-index:" + (master_key or load_master_key())).digest()
    digest = hmac.digest
    return [digest(key, "".join(v.split()).upper().encode(), "sha256").hex() for v in values]


USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{2,63}$")


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    display_name: str,
    customer_id: int | None = None,
    branch_code: str | None = None,
    password_hash: str | None = None,
) -> User:
    """Add a login (flushed, not committed: the caller owns the transaction).

    Staff roles may not carry a customer id; a ``customer`` user must, and only one login per
    customer exists. Bad input raises :class:`ValidationFailed` / :class:`Conflict` and writes nothing;
    a customer id that does not exist raises :class:`NotFound` (the foreign key answers: this domain
    does not read the customers' table). ``password_hash`` (with ``password=""``) carries a
    password chosen and checked earlier, e.g. at the start of an online account opening.
    """
    username = username.strip()
    if not USERNAME_RE.match(username):
        raise ValidationFailed(
            f"invalid username {username!r}: 3-64 letters, digits, '_', '.', '@' or '-', starting with a letter or digit"
        )
    if role not in ROLES:
        raise ValidationFailed(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    if role == "customer" and customer_id is None:
        raise ValidationFailed("a customer login needs the customer id it belongs to")
    if role in STAFF_ROLES and customer_id is not None:
        raise ValidationFailed(f"a {role} login is staff and cannot be linked to a customer")
    if not display_name or not display_name.strip():
        raise ValidationFailed("display name is required")
    if password_hash is None:
        validate_password(password, username=username)
    if session.scalar(select(User.id).where(func.lower(User.username) == username.lower())) is not None:
        raise Conflict(f"username {username!r} is already taken")
    if customer_id is not None and session.scalar(select(User.id).where(User.customer_id == customer_id)) is not None:
        raise Conflict(f"customer {customer_id} already has a login")
    user = User(
        username=username,
        display_name=display_name.strip()[:32],
        role=role,
        password_hash=password_hash or hash_password(password),
        customer_id=customer_id,
        branch_code=branch_code,
        active=True,
    )
    try:
        with session.begin_nested():
            session.add(user)
            session.flush()
    except IntegrityError as exc:
        if customer_id is not None and _foreign_key_violation(exc):
            raise NotFound(f"customer {customer_id} does not exist") from exc
        raise Conflict(f"could not create user {username!r}: {exc.orig}") from exc
    return user


def add_staff_many(session: Session, *, role: str, usernames: list[str], display_names: list[str],
                   branch_codes: list[str | None], password: str) -> dict[str, int]:
    """Many staff logins of one role sharing one password, hashed once (argon2 costs ~50 ms a
    hash; the demo brokerage adds hundreds of managers); flushed, not committed. Returns the new
    logins' ids by username; a taken username or bad input writes nothing."""
    if role not in STAFF_ROLES:
        raise ValidationFailed(f"{role!r} is not a staff role; staff roles: {', '.join(STAFF_ROLES)}")
    if not len(usernames) == len(display_names) == len(branch_codes):
        raise ValidationFailed("usernames, display names and branch codes must pair up")
    bad = [u for u in usernames if not USERNAME_RE.match(u)]
    if bad:
        raise ValidationFailed(f"invalid usernames: {', '.join(map(repr, bad[:5]))}")
    validate_password(password)
    lowered = sorted({u.lower() for u in usernames})
    taken = [u for start in range(0, len(lowered), 500) for u in session.scalars(
        select(User.username).where(func.lower(User.username).in_(lowered[start:start + 500])))]
    if taken or len(lowered) != len(usernames):
        raise Conflict(f"usernames already taken or repeated: {', '.join(sorted(taken)[:5]) or '(repeated)'}")
    pw_hash = hash_password(password)
    session.add_all([User(username=u, display_name=d.strip()[:32], role=role, password_hash=pw_hash,
                          branch_code=b, active=True)
                     for u, d, b in zip(usernames, display_names, branch_codes, strict=True)])
    session.flush()
    wanted = set(usernames)
    return {u: i for u, i in session.execute(select(User.username, User.id).where(User.role == role))
            if u in wanted}


def _foreign_key_violation(exc: IntegrityError) -> bool:
    """PostgreSQL's SQLSTATE 23503, or SQLite's message (it has no SQLSTATE)."""
    return getattr(exc.orig, "sqlstate", None) == "23503" or "FOREIGN KEY constraint failed" in str(exc.orig)


def record_created(session: Session, user: User, *, by_user_id: int) -> None:
    """Append the creation of a login by an administrator to the ledger (the caller commits)."""
    append(session, "auth.user_created", f"user:{user.id}",
           {"user_id": user.id, "role": user.role, "by_user_id": by_user_id})


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} does not exist")
    return user


def users_by_id(session: Session, user_ids: Iterable[int]) -> dict[int, User]:
    """The logins of many ids in one read (unknown ids are left out)."""
    return get_many(session, User, user_ids)


def get_user_by_username(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(func.lower(User.username) == username.strip().lower()))


def list_users(session: Session, *, role: str | None = None, include_inactive: bool = False) -> list[User]:
    stmt = select(User).order_by(User.role, User.username)
    if role is not None:
        if role not in ROLES:
            raise ValidationFailed(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
        stmt = stmt.where(User.role == role)
    if not include_inactive:
        stmt = stmt.where(User.active.is_(True))
    return list(session.scalars(stmt))


def deactivate(session: Session, user: User, *, by_user_id: int | None = None) -> None:
    """Stop a login; its tokens stop working at once (``current_user`` checks ``active``). With
    ``by_user_id`` (an administrator) the change is appended to the ledger; nobody stops their own."""
    if by_user_id == user.id:
        raise Conflict("an administrator cannot deactivate their own login")
    user.active = False
    if by_user_id is not None:
        append(session, "auth.user_deactivated", f"user:{user.id}", {"user_id": user.id, "by_user_id": by_user_id})
    session.flush()


def service_login(session: Session, role: str) -> User:
    """The platform's own login for a service role (e.g. ``market_feed``), created on first use
    with a random password nobody knows: it authenticates only with tokens minted on the host that
    holds the signing secret (:func:`service_token`). Flushed, not committed."""
    if role not in SERVICE_ROLES:
        raise ValidationFailed(f"{role!r} is not a service role; service roles: {', '.join(SERVICE_ROLES)}")
    username = f"svc.{role.replace('_', '-')}"
    user = get_user_by_username(session, username)
    if user is None:
        user = create_user(session, username=username, password=secrets.token_urlsafe(24) + "aA1!",
                           role=role, display_name=ROLE_LABELS[role])
    return user


def service_token(session: Session, role: str, *, minutes: int = 24 * 60) -> str:
    """A bearer token for the service login of ``role``, signed with this installation's secret
    (``BROKERCARE_SECRET_KEY`` or ``<data_dir>/jwt.secret``): what a command on the platform's own
    host uses instead of a token it would have to be given. Commits the login if it was created."""
    user = service_login(session, role)
    session.commit()
    return issue_token(user, minutes=minutes)[0]

#: ``brokercare keys rotate`` and the admin page's 轮换数据密钥: a new data key, every value re-sealed.
rotate_keys = _rotate
