"""Passwords (argon2id), JWT access tokens, and the FastAPI dependencies that authorise requests.

``user_from_token`` turns an OAuth2 bearer token into the :class:`User` it was issued to (and
refuses tokens of users since deactivated, logged out, or whose password or role changed: the
token's ``ver`` must equal the user's ``token_version``) with a 401 carrying
``WWW-Authenticate: Bearer`` otherwise. The FastAPI dependencies built on it live in
:mod:`brokercare.security.policy`. Messages are Chinese first (customers log in here too) with the
English reason in brackets for operators.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from datetime import timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import HTTPException
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.core import keys
from brokercare.core.database import utcnow
from brokercare.core.settings import get_settings
from brokercare.security.models import User

ALGORITHM = "HS256"
ISSUER = "brokercare"

# argon2id with the library's defaults (RFC 9106 "second recommended" profile: 64 MiB, t=3, p=4).
_hasher = PasswordHasher()
_decoy_hash: str | None = None

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def use_password_hasher(hasher: PasswordHasher | None = None) -> PasswordHasher:
    """Swap the argon2 hasher (test suites use a cheap one); ``None`` restores the default profile.

    Returns the hasher in use before, so a fixture can put it back.
    """
    global _hasher
    previous = _hasher
    _hasher = hasher or PasswordHasher()
    return previous


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def decoy_verify(password: str) -> None:
    """Spend the time of a real verification when the username is unknown (no user enumeration)."""
    global _decoy_hash
    if _decoy_hash is None:
        _decoy_hash = _hasher.hash(secrets.token_urlsafe(16))
    verify_password(_decoy_hash, password)


def secret_key() -> str:
    """``BROKERCARE_SECRET_KEY``, or a random secret generated once into the key directory."""
    return keys.secret("jwt", lambda: secrets.token_urlsafe(48).encode()).decode("utf-8").strip()


#: How long a read signing key is used before the key source is asked again: every API request
#: verifies a token, and the source may be a file or a remote key service; a replaced secret is
#: picked up within this long (settings reset at once).
SIGNING_KEY_TTL_S = 60.0
_signing: tuple[object, float, bytes] | None = None


def _signing_key() -> bytes:
    """The HS256 key: SHA-256 of the secret under a domain label, so it is always 256 bits long
    (the secret's own entropy still bounds the strength: set ``BROKERCARE_SECRET_KEY`` to 32+ random bytes)."""
    global _signing
    settings, now = get_settings(), time.monotonic()
    if _signing is None or _signing[0] is not settings or now - _signing[1] > SIGNING_KEY_TTL_S:
        _signing = (settings, now, hashlib.sha256(b"brokercare-jwt-v1:" + secret_key().encode("utf-8")).digest())
    return _signing[2]


def issue_token(user: User, *, minutes: int | None = None) -> tuple[str, int]:
    """A signed access token for ``user`` and its lifetime in seconds."""
    lifetime = 60 * (minutes or get_settings().access_token_minutes)
    now = utcnow()
    claims = {
        "iss": ISSUER,
        "sub": str(user.id),
        "role": user.role,
        "name": user.display_name,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=lifetime)).timestamp()),
        "jti": uuid.uuid4().hex,
        "ver": user.token_version or 0,
    }
    if user.customer_id is not None:
        claims["cid"] = user.customer_id
    return jwt.encode(claims, _signing_key(), algorithm=ALGORITHM), lifetime


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status_code=401, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def _claims(token: str) -> dict:
    try:
        return jwt.decode(
            token, _signing_key(), algorithms=[ALGORITHM], issuer=ISSUER,
            options={"require": ["exp", "sub", "iss"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise _unauthorized("登录已过期，请重新登录。(access token expired)") from exc
    except jwt.PyJWTError as exc:
        raise _unauthorized("登录凭证无效，请重新登录。(invalid access token)") from exc


def _subject(claims: dict) -> int:
    try:
        return int(claims["sub"])
    except (TypeError, ValueError) as exc:
        raise _unauthorized("登录凭证无效，请重新登录。(invalid subject)") from exc


def _checked_user(user: User | None, claims: dict) -> User:
    if user is None or not user.active:
        raise _unauthorized("该账号已停用或不存在。(user inactive or unknown)")
    if user.role != claims.get("role"):
        raise _unauthorized("账号权限已变更，请重新登录。(role changed since the token was issued)")
    if claims.get("ver", 0) != (user.token_version or 0):
        raise _unauthorized("登录已失效（已退出或修改过密码），请重新登录。(token revoked)")
    return user


def _verified(token: str | None) -> tuple[int, dict]:
    """The user id and claims of a valid access token; a 401 for a missing or invalid one."""
    if not token:
        raise _unauthorized("请先登录。(not authenticated: send Authorization: Bearer <token>)")
    claims = _claims(token)
    return _subject(claims), claims


def user_from_token(session: Session, token: str | None) -> User:
    user_id, claims = _verified(token)
    return _checked_user(session.get(User, user_id), claims)


def users_from_tokens(session: Session, tokens: list[str | None]) -> list[User | HTTPException]:
    """:func:`user_from_token` for a batch of requests with one read of the users table; each
    request gets its user or the 401 it earned, independently of the others."""
    verified: list[tuple[int, dict] | HTTPException] = []
    for token in tokens:
        try:
            verified.append(_verified(token))
        except HTTPException as exc:
            verified.append(exc)
    ids = {v[0] for v in verified if not isinstance(v, HTTPException)}
    users = {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}
    out: list[User | HTTPException] = []
    for v in verified:
        try:
            out.append(v if isinstance(v, HTTPException) else _checked_user(users.get(v[0]), v[1]))
        except HTTPException as exc:
            out.append(exc)
    return out
