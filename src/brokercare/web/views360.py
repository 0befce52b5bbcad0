"""The customer 360 shown beside a conversation and on the customer page: profile, tags, tier,
the tier's services and a VIP's 1+N team, holdings, margin, recent alerts and open tickets, with
personal data as the viewer may see it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from brokercare.customers.service import customer_pii
from brokercare.security.access import ReadLog
from brokercare.security.policy import Principal, may_reveal


@dataclass
class Customer360:
    customer: object
    pii: dict
    can_reveal: bool
    revealed: bool
    profile: object | None
    positions: list
    total_value: Decimal
    total_pnl: Decimal
    prices_as_of: datetime | None  # the oldest price behind the market value (None: reference prices)
    prices_stale: bool  # some price is older than the market could have produced
    margin: list
    alerts: list
    tickets: list
    services: list[str]  # what the customer's tier gets (engagement's tier services)
    team: list[dict]  # a VIP's 1+N team: the manager first, then the specialists


def customer_360(session: Session, user: Principal, customer_id: int, *, reveal: bool = False,
                 reason: str | None = None, reads: ReadLog | None = None) -> Customer360:
    from brokercare.accounts import service as accounts
    from brokercare.customers import service as customers
    from brokercare.engagement import service as engagement
    from brokercare.monitoring.service import alerts_of
    from brokercare.service.service import list_tickets

    customer = customers.get_customer(session, customer_id)
    pii = customer_pii(session, user, customer, reveal=reveal, reason=reason, commit=False, reads=reads)
    profile = customers.get_profile(session, customer_id)  # computed on the fly if not stored yet
    positions = sorted(accounts.positions_of(session, customer_id), key=lambda p: p.market_value, reverse=True)
    margin = [accounts.margin_status(session, a.id) for a in accounts.accounts_of(session, customer_id)
              if a.kind == "margin"]
    open_tickets = [t for t in list_tickets(session, customer_id=customer_id, limit=20)
                    if t.status not in ("closed",)]
    return Customer360(
        customer=customer, pii=pii,
        can_reveal=user.role != "customer" and (may_reveal(user.role, 4) or may_reveal(user.role, 3)),
        revealed=reveal,
        profile=profile, positions=positions,
        total_value=sum((p.market_value for p in positions), Decimal("0")),
        total_pnl=sum((p.pnl for p in positions), Decimal("0")),
        prices_as_of=min((p.price_at for p in positions if p.price_at is not None), default=None),
        prices_stale=any(p.price_stale for p in positions),
        margin=margin, alerts=alerts_of(session, customer_id, limit=8), tickets=open_tickets,
        services=engagement.services_of_tier(profile.tier) if profile else [],
        team=engagement.team_of(session, customer_id),
    )
