"""Demo logins: one or more for every staff role, and customer logins for telling customers.

Called by ``brokercare generate`` after the base brokerage exists. Re-running skips logins that
already exist. Passwords: ``BROKERCARE_DEMO_PASSWORD`` (staff) and
``BROKERCARE_DEMO_CUSTOMER_PASSWORD`` (customers), defaults documented in docs/security.md.
"""

from __future__ import annotations

import os

from sqlalchemy import Engine, case, func, select
from sqlalchemy.orm import Session

from brokercare.security.service import create_user, get_user_by_username

STAFF_PASSWORD = "BrokerCare-2026"
CUSTOMER_PASSWORD = "Kehu-2026"

# username, role, display name, routing skills, max concurrent chats
STAFF = [
    ("lead01", "team_lead", "周海燕", ["trading", "margin", "complaints"], 3),
    ("agent01", "agent", "陈晓明", ["trading", "account_service"], 5),
    ("agent02", "agent", "林雪", ["margin", "trading"], 5),
    ("agent03", "agent", "黄建国", ["funds", "account_service"], 5),
    ("agent04", "agent", "吴婷", ["complaints", "account_security"], 4),
    ("agent05", "agent", "郑磊", ["tax", "legal", "account_service"], 4),
    ("advisor01", "advisor", "王芳", ["funds", "wealth"], 5),
    ("manager01", "customer_manager", "刘洋", ["wealth", "vip"], 5),
    ("risk01", "risk", "孙立", [], 5),
    ("compliance01", "compliance", "赵敏", [], 5),
    ("admin01", "admin", "系统管理员", [], 5),
]

CUSTOMER_LOGINS = (
    ("demo_vip", "the customer with the largest assets (VIP)"),
    ("demo_margin", "a customer with a margin (credit) account and holdings"),
    ("demo_mass", "a mass-tier customer (50–500 万) with holdings"),
    ("demo_longtail", "a long-tail customer (< 50 万) with a few holdings"),
)


def _assets(session: Session):  # noqa: ANN202
    """Per customer: AUM (cash + positions at reference prices) and whether a margin account exists."""
    from brokercare.accounts.models import Account, Position
    from brokercare.market.models import Instrument

    cash = (
        select(Account.customer_id.label("cid"), func.sum(Account.cash_balance).label("cash"),
               func.max(case((Account.kind == "margin", 1), else_=0)).label("has_margin"))
        .group_by(Account.customer_id).subquery()
    )
    held = (
        select(Account.customer_id.label("cid"),
               func.sum(Position.quantity * func.coalesce(Instrument.last_price, Position.cost_price)).label("mv"),
               func.count(Position.id).label("n"))
        .join(Position, Position.account_id == Account.id)
        .join(Instrument, Instrument.symbol == Position.symbol)
        .group_by(Account.customer_id).subquery()
    )
    return session.execute(
        select(held.c.cid, (held.c.mv + func.coalesce(cash.c.cash, 0)).label("aum"), held.c.n,
               cash.c.has_margin)
        .join(cash, cash.c.cid == held.c.cid, isouter=True)
        .where(held.c.n > 0)
    ).all()


def pick_customers(session: Session) -> dict[str, int]:
    """The customers behind the demo customer logins (deterministic for a given brokerage)."""
    rows = _assets(session)
    if not rows:
        return {}
    by_aum = sorted(rows, key=lambda r: (float(r.aum or 0), -r.cid), reverse=True)
    chosen: dict[str, int] = {"demo_vip": by_aum[0].cid}
    margin = [r for r in by_aum if r.has_margin and r.cid not in chosen.values()]
    if margin:
        chosen["demo_margin"] = margin[len(margin) // 2].cid
    mass = [r for r in by_aum if 500_000 <= float(r.aum or 0) < 5_000_000 and r.cid not in chosen.values()]
    if mass:
        chosen["demo_mass"] = mass[len(mass) // 2].cid
    tail = [r for r in by_aum if float(r.aum or 0) < 500_000 and r.n >= 2 and r.cid not in chosen.values()]
    if tail:
        chosen["demo_longtail"] = tail[len(tail) // 2].cid
    return chosen


def generate(engine: Engine, rng, summary) -> None:  # noqa: ANN001
    """Create the demo logins and record a few compliance reads in the ledger."""
    from brokercare.customers.models import Customer
    from brokercare.security.access import customer_pii

    staff_pw = os.environ.get("BROKERCARE_DEMO_PASSWORD", STAFF_PASSWORD)
    customer_pw = os.environ.get("BROKERCARE_DEMO_CUSTOMER_PASSWORD", CUSTOMER_PASSWORD)
    created = 0
    with Session(engine) as session:
        lead_id = None
        for username, role, name, skills, slots in STAFF:
            user = get_user_by_username(session, username)
            if user is None:
                user = create_user(session, username=username, password=staff_pw, role=role, display_name=name,
                                   skills=skills, max_concurrent=slots, team_lead_id=lead_id)
                created += 1
            if role == "team_lead":
                lead_id = user.id
        session.commit()

        picked = pick_customers(session)
        for username, cid in picked.items():
            if get_user_by_username(session, username) is not None:
                continue
            customer = session.get(Customer, cid)
            create_user(session, username=username, password=customer_pw, role="customer",
                        display_name=customer.name, customer_id=cid)
            created += 1
        session.commit()

        compliance = get_user_by_username(session, "compliance01")
        reasons = ["反洗钱客户身份复核", "客户投诉核实身份", "监管报送数据核对"]
        for k, cid in enumerate(sorted(picked.values())):
            customer_pii(session, compliance, session.get(Customer, cid), reason=reasons[k % len(reasons)])
        session.commit()

    summary.add("users", created)
    summary.notes.append(
        f"demo logins: staff {', '.join(u for u, *_ in STAFF)} (password {staff_pw}); "
        f"customers {', '.join(f'{u}→{cid}' for u, cid in picked.items())} (password {customer_pw})"
    )
