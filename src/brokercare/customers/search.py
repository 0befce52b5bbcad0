"""Finding a customer without an oracle: staff search by exact identifiers or the full name,
each search ledgered and rate limited per member of staff.

A substring or prefix search answers "does a customer's name or number contain this?", which
recovers the hidden characters of a masked name one probe at a time; an unlimited exact phone
search recovers a masked phone's four hidden digits in at most 10,000 tries. So names and customer
numbers match whole, and each member of staff gets :data:`SEARCHES_PER_MINUTE` searches a minute,
counted in the database (one row per member of staff, taken with one atomic UPDATE) so that several
server processes share the limit; every search is appended to the ledger with a keyed hash of the
query, never the query.
"""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from brokercare.core.database import utcnow
from brokercare.core.errors import DomainError, ValidationFailed
from brokercare.core.quota import count_use
from brokercare.customers.models import Customer, SearchQuota
from brokercare.ledger.service import append
from brokercare.security.policy import Principal
from brokercare.security.service import blind_index

_PHONE = re.compile(r"^1\d{10}$")
_ID_NUMBER = re.compile(r"^\d{17}[\dXx]$")
SEARCHES_PER_MINUTE = 30
APPLICANTS = ("applying", "rejected")


class TooManySearches(DomainError):
    status_code = 429
    title = "Too many requests"


def _throttle(session: Session, user_id: int) -> None:
    """Count one search of ``user_id`` in the current minute (:func:`brokercare.core.quota.count_use`:
    one atomic UPDATE shared by every process); refuse it past the limit."""
    used = count_use(session, SearchQuota, {"user_id": user_id}, timedelta(minutes=1), utcnow())
    if used > SEARCHES_PER_MINUTE:
        raise TooManySearches(f"查询过于频繁，请 1 分钟后再试（每分钟最多 {SEARCHES_PER_MINUTE} 次）。"
                              "(search rate limit)", extra={"retry_after_s": 60})


#: What a search matched on, as the results say it.
MATCHED_BY = {"phone": "手机号", "id_number": "证件号码", "customer_no": "客户号", "name": "姓名全名"}


def matched_by(query: str) -> str | None:
    """How the customers found for ``query`` matched it (Chinese), or ``None`` for no query."""
    q = "".join(query.split())
    return MATCHED_BY[_kind(q)] if q else None


def _kind(q: str) -> str:
    if _PHONE.match(q):
        return "phone"
    if _ID_NUMBER.match(q):
        return "id_number"
    return "customer_no" if q.isascii() and q.isalnum() else "name"


def search_customers(session: Session, query: str = "", *, limit: int = 20, offset: int = 0,
                     searcher: Principal | None = None) -> tuple[list[Customer], int]:
    """Customers whose phone, ID number, customer number or full name is exactly ``query`` (phone
    and ID number through the blind index: neither is stored in clear); no query lists them all.
    With ``searcher`` the search is rate limited and ledgered (``customer.searched``; the caller
    commits). Applicants whose account is not open yet (or was refused) are the back office's
    (the openings queue), not customers to find. Returns one page and the total number of matches."""
    if not 1 <= limit <= 200:
        raise ValidationFailed("limit must be between 1 and 200")
    if offset < 0:
        raise ValidationFailed("offset must not be negative")
    q = "".join(query.split())
    kind = _kind(q) if q else None
    if searcher is not None and q:
        _throttle(session, searcher.id)
    stmt = select(Customer).where(Customer.status.notin_(APPLICANTS))
    if kind == "phone":
        stmt = stmt.where(Customer.phone_hash == blind_index(q))
    elif kind == "id_number":
        stmt = stmt.where(Customer.id_number_hash == blind_index(q.upper()))
    elif kind is not None:
        stmt = stmt.where((Customer.customer_no == q) | (Customer.name == q))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(Customer.id).limit(limit).offset(offset)).all()
    if searcher is not None and q:
        append(session, "customer.searched", f"user:{searcher.id}",
               {"user_id": searcher.id, "role": searcher.role, "by": kind, "query_hmac": blind_index(q),
                "matches": total})
    return list(rows), total
