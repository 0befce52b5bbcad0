"""Demo logins: one or more for every staff role, and customer logins for telling customers.

Called by ``brokercare generate`` after the base brokerage exists. Re-running skips logins that
already exist. Passwords: ``BROKERCARE_DEMO_PASSWORD`` (staff) and
``BROKERCARE_DEMO_CUSTOMER_PASSWORD`` (customers), defaults documented in docs/security.md.
"""

from __future__ import annotations

import os

from sqlalchemy import Engine
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
    ("demo_vip", "the customer with the largest net assets (VIP)"),
    ("demo_margin", "a customer with a margin (credit) account and holdings"),
    ("demo_mass", "a mass-tier customer (50–500 万) with holdings"),
    ("demo_longtail", "a long-tail customer (< 50 万) with a few holdings"),
)


def pick_customers(session: Session) -> dict[str, int]:
    """The customers behind the demo customer logins (deterministic for a given brokerage).

    Ranked by net assets (assets − margin liabilities), the measure the CDP's tiers use, so a
    customer who borrowed to hold a large book is not taken for a VIP.
    """
    from brokercare.accounts.service import net_assets_by_customer
    from brokercare.customers.service import tier_for

    rows = [r for r in net_assets_by_customer(session) if r.holdings > 0]
    if not rows:
        return {}
    by_net = sorted(rows, key=lambda r: (r.net_assets, -r.customer_id), reverse=True)
    tier = {r.customer_id: tier_for(r.net_assets) for r in rows}
    chosen: dict[str, int] = {"demo_vip": by_net[0].customer_id}
    margin = [r for r in by_net if r.has_margin and r.customer_id not in chosen.values()]
    if margin:
        chosen["demo_margin"] = margin[len(margin) // 2].customer_id
    mass = [r for r in by_net if tier[r.customer_id] == "mass" and r.customer_id not in chosen.values()]
    if mass:
        chosen["demo_mass"] = mass[len(mass) // 2].customer_id
    tail = [r for r in by_net
            if tier[r.customer_id] == "long_tail" and r.holdings >= 2 and r.customer_id not in chosen.values()]
    if tail:
        chosen["demo_longtail"] = tail[len(tail) // 2].customer_id
    return chosen


def generate(engine: Engine, rng, summary) -> None:  # noqa: ANN001
    """Create the demo logins and record a few compliance reads in the ledger."""
    from brokercare.customers.models import Customer
    from brokercare.security.policy import customer_pii

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
