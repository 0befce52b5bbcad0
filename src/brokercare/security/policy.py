"""Who may see and do what: roles, data classes (JR/T 0158-2018 style levels 1–4), the clearance
matrix, masked PII reads, and the FastAPI dependencies every domain's routes authorise with.

This is the security domain's public face for access decisions: other domains import their
dependencies (:func:`current_user`, :func:`require_roles`, :data:`CurrentUser`) and role sets from
here, never the ``users`` table.

JR/T 0158 grades securities and futures data from level 1 (public) to level 4 (whose leak would
seriously harm customers or the firm). BrokerCare uses four classes:

* **1 public** — instrument reference data, published product and research information;
* **2 internal** — customer number, tier, tags, city, occupation, aggregated features, service history;
* **3 sensitive personal** — name, phone, address, e-mail, WeChat openid, birth date, income,
  holdings, balances, trades, behaviour (IP, device), family and life events;
* **4 highly sensitive** — ID number, bank card number, credentials and key material.

Each role sees a class ``full`` (whole by default), ``reveal`` (masked by default, shown whole only
on an explicit ``reveal=True`` request) or ``masked`` (never whole). The domain that owns a personal
value applies the matrix when it hands the value out (a customer's identity and bank cards:
``brokercare.customers.service.customer_pii``, which also records every whole read in the ledger).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Literal, Protocol

from fastapi import Depends, Header, HTTPException, Query
from sqlalchemy.orm import Session

from brokercare.core.database import get_session
from brokercare.core.errors import PermissionDenied, ValidationFailed
from brokercare.security.auth import issue_token as issue_token
from brokercare.security.auth import oauth2_scheme, user_from_token
from brokercare.security.auth import users_from_tokens as users_from_tokens

Visibility = Literal["full", "reveal", "masked"]

STAFF_ROLES = ("agent", "advisor", "customer_manager", "risk", "compliance", "admin", "team_lead")
# Staff who take conversations from the service hub's queues.
SERVING_ROLES = ("agent", "advisor", "customer_manager", "team_lead")
# Machine logins of the platform's own processes and gateways: no person, no personal data.
SERVICE_ROLES = ("market_feed", "event_feed")
ROLES = (*STAFF_ROLES, "customer", *SERVICE_ROLES)


class Principal(Protocol):
    """The authenticated caller as other domains see it (a login of the ``users`` table)."""

    id: int
    username: str
    display_name: str
    role: str
    customer_id: int | None
    active: bool


ROLE_LABELS = {
    "agent": "客服坐席",
    "advisor": "投资顾问",
    "customer_manager": "客户经理",
    "risk": "风控专员",
    "compliance": "合规专员",
    "admin": "系统管理员",
    "team_lead": "客服组长",
    "customer": "客户",
    "market_feed": "行情网关（服务账号）",
    "event_feed": "事件网关（服务账号）",
}

DATA_CLASSES = {
    1: "public",
    2: "internal",
    3: "sensitive personal",
    4: "highly sensitive",
}

# Classes 1 and 2 are whole for every staff role; the matrix differs at 3 and 4.
CLEARANCE: dict[str, dict[int, Visibility]] = {
    "agent": {1: "full", 2: "full", 3: "masked", 4: "masked"},
    "team_lead": {1: "full", 2: "full", 3: "reveal", 4: "masked"},
    "advisor": {1: "full", 2: "full", 3: "reveal", 4: "masked"},
    "customer_manager": {1: "full", 2: "full", 3: "full", 4: "reveal"},
    "risk": {1: "full", 2: "full", 3: "full", 4: "reveal"},
    "compliance": {1: "full", 2: "full", 3: "full", 4: "full"},
    # Segregation of duties: whoever runs the system does not read customers' personal data.
    "admin": {1: "full", 2: "full", 3: "masked", 4: "masked"},
    # A customer sees all of their own data and nothing of anyone else's.
    "customer": {1: "full", 2: "masked", 3: "masked", 4: "masked"},
    # A market-data gateway posts quotes and reads prices: public data only.
    "market_feed": {1: "full", 2: "masked", 3: "masked", 4: "masked"},
    # The trading system's and the app gateway's feed posts events; it reads nobody's data.
    "event_feed": {1: "full", 2: "masked", 3: "masked", 4: "masked"},
}

# Field → data class. Names follow the columns and the feature registry; prefixes cover families.
FIELD_CLASSES: dict[str, int] = {
    # class 4
    "id_number": 4, "id_number_enc": 4, "id_number_hash": 4,
    "bank_card": 4, "bank_cards": 4, "bank_card_enc": 4, "bank_card_hash": 4,
    "password": 4, "password_hash": 4, "wrapped_key": 4, "secret_key": 4, "master_key": 4,
    # class 3
    "name": 3, "phone": 3, "phone_enc": 3, "phone_hash": 3, "address": 3, "address_enc": 3,
    "email": 3, "wechat_openid": 3, "birth_date": 3, "annual_income": 3, "marital_status": 3,
    "education": 3, "cash_balance": 3, "frozen_cash": 3, "aum": 3, "account_no": 3,
    "sh_holder_no": 3, "sz_holder_no": 3, "ip": 3, "device_id": 3, "geo_city": 3,
    "positions": 3, "trades": 3, "orders": 3, "market_value": 3, "family_members": 3,
    "life_events": 3, "risk_answers": 3, "answers": 3, "financing_debt": 3, "lending_debt": 3,
    "credit_limit": 3, "maintenance_ratio": 3,
    # class 2
    "customer_id": 2, "customer_no": 2, "tier": 2, "tags": 2, "life_stage": 2, "gender": 2,
    "age": 2, "age_band": 2, "province": 2, "city": 2, "occupation": 2, "branch_code": 2,
    "risk_level": 2, "investor_type": 2, "status": 2, "opened_on": 2, "manager_id": 2,
    # class 1
    "symbol": 1, "instrument_name": 1, "board": 1, "exchange": 1, "last_price": 1,
    "product_risk": 1, "listing_date": 1,
}

_PREFIX_CLASSES: tuple[tuple[str, int], ...] = (
    ("id_", 4), ("bank_card", 4), ("password", 4),
    ("phone", 3), ("address", 3), ("balance_", 3), ("aum_", 3), ("holding_", 3), ("position_", 3),
    ("trade_", 3), ("margin_", 3), ("cash_", 3), ("income", 3), ("login_ip", 3), ("device", 3),
    ("instrument_", 1), ("market_", 1),
)

PII_FIELDS = ("name", "id_number", "phone", "address", "bank_cards")


def data_class_of(field: str, default: int = 2) -> int:
    """Data class of a column or feature name: exact names first, then known prefixes.

    Unknown names default to class 2 (internal): a feature computed from behaviour but not
    identifying anyone. Registries should set the class explicitly where it matters.
    """
    key = field.strip().lower()
    if key in FIELD_CLASSES:
        return FIELD_CLASSES[key]
    for prefix, cls in _PREFIX_CLASSES:
        if key.startswith(prefix):
            return cls
    return default


def visibility(role: str, data_class: int) -> Visibility:
    if role not in CLEARANCE:
        raise ValidationFailed(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    if data_class not in DATA_CLASSES:
        raise ValidationFailed(f"unknown data class {data_class!r}; classes are 1-4")
    return CLEARANCE[role][data_class]


def cleared(role: str, data_class: int) -> bool:
    """True when ``role`` sees values of ``data_class`` whole without asking."""
    return visibility(role, data_class) == "full"


def may_reveal(role: str, data_class: int) -> bool:
    """True when ``role`` may see values of ``data_class`` whole, by default or on request."""
    return visibility(role, data_class) in ("full", "reveal")


def ensure_may_see(user: Principal, customer_id: int) -> None:
    """403 for a customer user asking about anyone but themself."""
    if user.role == "customer" and user.customer_id != customer_id:
        raise PermissionDenied("您只能查看本人的信息。")


def readable(user: Principal, customer_id: int, data_class: int, *, reveal: bool = False) -> bool:
    """True when ``user`` may see a value of ``data_class`` about ``customer_id`` whole."""
    if user.role == "customer":
        return user.customer_id == customer_id
    vis = visibility(user.role, data_class)
    return vis == "full" or (vis == "reveal" and reveal)


def require_readable(user: Principal, customer_id: int, data_class: int, what: str, *,
                     reveal: bool = False) -> None:
    """403, with what the role may do instead, unless ``user`` may see ``what`` whole."""
    ensure_may_see(user, customer_id)
    if not readable(user, customer_id, data_class, reveal=reveal):
        hint = "（可加 reveal=true 申请查看，访问将记入审计日志）" if (
            user.role != "customer" and visibility(user.role, data_class) == "reveal") else ""
        raise PermissionDenied(
            f"您的角色无权查看{what}（数据级别 {data_class}）{hint}",
            extra={"data_class": data_class},
        )


def clearance_matrix() -> list[dict]:
    return [
        {"role": role, "label": ROLE_LABELS[role], **{f"class_{c}": CLEARANCE[role][c] for c in DATA_CLASSES}}
        for role in ROLES
    ]


def current_user(
    token: str | None = Depends(oauth2_scheme),
    session: Session = Depends(get_session),
) -> Principal:
    """FastAPI dependency: the logged-in user, from an ``Authorization: Bearer`` JWT."""
    return user_from_token(session, token)


def require_roles(*roles: str) -> Callable[..., Principal]:
    """Dependency factory: the current user, if their role is one of ``roles``; else 403."""
    unknown = [r for r in roles if r not in ROLES]
    if unknown or not roles:
        raise ValueError(f"require_roles needs known roles, got {roles!r}")
    allowed = frozenset(roles)
    labels = "、".join(ROLE_LABELS[r] for r in roles)

    def dependency(user: Principal = Depends(current_user)) -> Principal:
        if user.role not in allowed:
            raise HTTPException(
                status_code=403,
                detail=f"您的角色（{ROLE_LABELS.get(user.role, user.role)}）无权执行此操作，仅限{labels}。"
                f"(role {user.role!r} not in {sorted(allowed)})",
            )
        return user

    dependency.__name__ = f"require_roles_{'_'.join(roles)}"
    return dependency


def step_up_reveal(
    reveal: bool = Query(False, description="Ask to see class-3/4 values whole (audited; staff send "
                                            "a current TOTP code in the X-OTP header)."),
    otp: str | None = Header(None, alias="X-OTP", max_length=6),
    user: Principal = Depends(current_user),
    session: Session = Depends(get_session),
) -> bool:
    """FastAPI dependency for a ``reveal`` flag: a member of staff asking to see personal data
    whole must prove presence with a fresh TOTP code (step-up); customers reading themselves don't."""
    if reveal and user.role != "customer":
        from brokercare.security.stepup import require_code

        require_code(session, user, otp)  # type: ignore[arg-type]
    return reveal


def require_step_up(session: Session, user: Principal, otp: str | None) -> None:
    """Step-up for an act outside a route's dependencies (a page's form): a fresh TOTP code."""
    from brokercare.security.stepup import require_code

    require_code(session, user, otp)  # type: ignore[arg-type]


CurrentUser = Annotated[Principal, Depends(current_user)]
