"""Browser sessions: the same JWT the API uses, carried in an HttpOnly cookie.

Pages need a cookie (a browser cannot attach a bearer header to a link); the token inside is
issued and checked by :mod:`brokercare.security.policy`, so one login model serves both.
"""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.exceptions import HTTPException
from sqlalchemy.orm import Session

from brokercare.core.database import get_session
from brokercare.security.policy import STAFF_ROLES, Principal, user_from_token

COOKIE = "brokercare_session"


class LoginRequired(Exception):
    """Raised by page dependencies; the app answers with a redirect to the login page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def page_user(request: Request, session: Session = Depends(get_session)) -> Principal:
    token = request.cookies.get(COOKIE)
    if not token:
        raise LoginRequired(str(request.url.path))
    try:
        return user_from_token(session, token)
    except HTTPException as exc:
        raise LoginRequired(str(request.url.path)) from exc


def staff_user(user: Principal = Depends(page_user)) -> Principal:
    if user.role not in STAFF_ROLES:
        raise HTTPException(status_code=403, detail="此页面仅限员工使用。")
    return user


def at_desk(user: Principal = Depends(staff_user)) -> Principal:
    """Every workbench request is the member of staff's heartbeat: their presence for routing."""
    from brokercare.service import service as hub

    hub.heartbeat(user)
    return user


def customer_user(user: Principal = Depends(page_user)) -> Principal:
    if user.role != "customer" or user.customer_id is None:
        raise HTTPException(status_code=403, detail="此页面仅限客户本人使用。")
    return user
