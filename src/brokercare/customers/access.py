"""Who may read which customer's data, on top of the security domain's clearance matrix.

Staff read any customer, each value subject to their role's clearance for its data class
(:func:`brokercare.security.policy.visibility`); a customer user reads only themself, whole.
"""

from __future__ import annotations

from brokercare.core.errors import PermissionDenied
from brokercare.security.models import User
from brokercare.security.policy import visibility


def ensure_may_see(user: User, customer_id: int) -> None:
    """403 for a customer user asking about anyone but themself."""
    if user.role == "customer" and user.customer_id != customer_id:
        raise PermissionDenied("您只能查看本人的信息。")


def readable(user: User, customer_id: int, data_class: int, *, reveal: bool = False) -> bool:
    """True when ``user`` may see a value of ``data_class`` about ``customer_id`` whole."""
    if user.role == "customer":
        return user.customer_id == customer_id
    vis = visibility(user.role, data_class)
    return vis == "full" or (vis == "reveal" and reveal)


def require_readable(user: User, customer_id: int, data_class: int, what: str, *,
                     reveal: bool = False) -> None:
    ensure_may_see(user, customer_id)
    if not readable(user, customer_id, data_class, reveal=reveal):
        hint = "（可加 reveal=true 申请查看，访问将记入审计日志）" if (
            user.role != "customer" and visibility(user.role, data_class) == "reveal") else ""
        raise PermissionDenied(
            f"您的角色无权查看{what}（数据级别 {data_class}）{hint}",
            extra={"data_class": data_class},
        )
