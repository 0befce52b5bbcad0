"""Demo hook: after ``brokercare generate`` has written the brokerage, compute every profile so
the demo opens with tiers, tags and life stages in place (and a first tier-history row each), and
give four telling customers a login (their personal data read once by compliance, on the ledger).

Re-running skips logins that already exist. Password: ``BROKERCARE_DEMO_CUSTOMER_PASSWORD``,
default documented in docs/security.md.
"""

from __future__ import annotations

import os

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from brokercare.accounts.service import net_assets_by_customer
from brokercare.customers import batch
from brokercare.customers.models import Customer
from brokercare.customers.pii import customer_pii
from brokercare.customers.service import assign_staff, tier_for
from brokercare.security.service import create_user, get_user_by_username

CUSTOMER_PASSWORD = "Kehu-2026"

CUSTOMER_LOGINS = (
    ("demo_vip", "the customer with the largest net assets (VIP)"),
    ("demo_margin", "a customer with a margin (credit) account and holdings"),
    ("demo_mass", "a mass-tier customer (50–500 万) with holdings"),
    ("demo_longtail", "a long-tail customer (< 50 万) with a few holdings"),
)
COMPLIANCE_REASONS = ("反洗钱客户身份复核", "客户投诉核实身份", "监管报送数据核对")


def generate(engine: Engine, rng, summary) -> None:
    """Profiles first (rng unused: they are derived), then the demo customer logins."""
    _profiles(engine, summary)
    _customer_logins(engine, summary)


def _profiles(engine: Engine, summary) -> None:
    workers = 2 if (os.cpu_count() or 1) > 1 and batch.customer_count(engine) >= 200_000 else 1
    result = batch.run(engine, workers=workers, publish=False)
    if hasattr(summary, "add"):
        summary.add("customer_profiles", result.customers)
        summary.add("tier_changes", result.first_profiles + result.tier_changes)
    if hasattr(summary, "tiers"):  # the tiers as the profiles computed them, not as generated
        summary.tiers.clear()
        summary.tiers.update(result.tiers)
    notes = getattr(summary, "notes", None)
    if isinstance(notes, list):
        top = sorted(result.tags.items(), key=lambda kv: -kv[1])[:5]
        notes.append(
            f"profiles: {result.customers:,} in {result.seconds:.1f} s; tiers {dict(result.tiers)}; "
            f"top tags {dict(top)}"
        )


def pick_customers(session: Session) -> dict[str, int]:
    """The customers behind the demo customer logins (deterministic for a given brokerage).

    Ranked by net assets (assets − margin liabilities), the measure the CDP's tiers use, so a
    customer who borrowed to hold a large book is not taken for a VIP.
    """
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


def _customer_logins(engine: Engine, summary) -> None:
    """A login for each picked customer, advisor01 as their assigned advisor, and one compliance
    read of each (the staff logins exist: the security domain's hook runs first)."""
    password = os.environ.get("BROKERCARE_DEMO_CUSTOMER_PASSWORD", CUSTOMER_PASSWORD)
    created = 0
    with Session(engine) as session:
        picked = pick_customers(session)
        for username, cid in picked.items():
            if get_user_by_username(session, username) is not None:
                continue
            create_user(session, username=username, password=password, role="customer",
                        display_name=session.get(Customer, cid).name, customer_id=cid)
            created += 1
        advisor = get_user_by_username(session, "advisor01")
        for cid in picked.values() if advisor is not None else ():
            assign_staff(session, cid, advisor_id=advisor.id)  # advisor01 reaches the demo customers
        session.commit()

        compliance = get_user_by_username(session, "compliance01")
        if compliance is not None:
            for k, cid in enumerate(sorted(picked.values())):
                customer_pii(session, compliance, session.get(Customer, cid),
                             reason=COMPLIANCE_REASONS[k % len(COMPLIANCE_REASONS)])
            session.commit()

        numbers = {u: session.get(Customer, cid).customer_no for u, cid in picked.items()}
    if hasattr(summary, "add"):
        summary.add("users", created)
    notes = getattr(summary, "notes", None)
    if isinstance(notes, list):  # the customer number staff search and `customers show` take
        notes.append(f"demo customer logins: {', '.join(f'{u} (客户号 {no})' for u, no in numbers.items())} "
                     f"(password {password})")
