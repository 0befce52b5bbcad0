"""Demo hook: the night's leads from the demo's freshly computed profiles (the customers hook runs
first), so each demo customer manager opens the workbench's 线索与待办 page with their own
leads; and the tier services — three demo staff registered as the VIPs' specialists, the 1+N
teams assigned and this quarter's review tasks raised; and comparable recent listings
(:mod:`engagement.demo_listings`) so the IPO calendar's issues show first-day estimates; and each
community opened by its host's welcome post. Leads, teams and tasks come from the production rules
and data; nothing is written by hand."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from brokercare.core.calendar import SHANGHAI, add_trading_days
from brokercare.core.errors import DomainError
from brokercare.engagement import communities, demo_listings, tiers
from brokercare.engagement.ipo_estimate import estimates_for
from brokercare.engagement.leads import raise_leads
from brokercare.engagement.models import CommunityPost, Specialist
from brokercare.security.service import get_user_by_username

#: Demo staff (security's demo logins) serving as VIP specialists, by skill of tier_services.yaml.
SPECIALISTS = (("advisor01", "advisory"), ("agent02", "margin"), ("agent03", "wealth"))


def _tier_services(session: Session, today) -> tuple[int, int]:
    if session.scalar(select(Specialist.id).limit(1)) is None:
        for username, skill in SPECIALISTS:
            try:
                tiers.add_specialist(session, username=username, skill=skill)
            except DomainError:
                continue  # a login the demo did not create
    teams = tiers.assign_teams(session, today)
    return teams["assigned"], tiers.raise_quarterly_reviews(session, today)


def _community_welcomes(session: Session) -> int:
    """Each community's host opens it with its welcome post (through the guard, as any post)."""
    posted = 0
    for c in communities.config().communities:
        host = get_user_by_username(session, c.host)
        if host is None or session.scalar(select(CommunityPost.id).where(CommunityPost.community == c.key).limit(1)):
            continue
        communities.post_as_host(session, user=host, key=c.key, body=c.welcome)
        posted += 1
    return posted


def _ipo_estimates(engine: Engine, today, rng) -> tuple[int, int, int]:
    """Load the comparables; (loaded, upcoming issues over the next weeks, those with an estimate)."""
    loaded = demo_listings.load(engine, today, rng)
    upcoming = estimated = 0
    with Session(engine) as session:
        for k in range(-3, 10):
            for e in estimates_for(session, add_trading_days(today, k)):
                upcoming += 1
                estimated += e.median is not None
    return loaded, upcoming, estimated


def generate(engine: Engine, rng, summary) -> None:
    """Raise today's leads, teams and review tasks (they follow from the profiles), and load the
    IPO comparables (seeded by ``rng``)."""
    today = datetime.now(SHANGHAI).date()
    with Session(engine) as session:
        raised = raise_leads(session, today)
        members, reviews = _tier_services(session, today)
        welcomes = _community_welcomes(session)
        session.commit()
    comparables, upcoming, estimated = _ipo_estimates(engine, today, rng)
    if hasattr(summary, "add"):
        summary.add("engagement_leads", raised.leads)
        summary.add("engagement_team_members", members)
    notes = getattr(summary, "notes", None)
    if isinstance(notes, list):
        notes.append(f"engagement: {raised.leads:,} leads for customer managers "
                     f"({raised.capped:,} held back by the contact frequency cap); {members:,} VIP specialist "
                     f"assignments, {reviews:,} quarterly review tasks; {comparables} comparable listings loaded, "
                     f"{estimated} of {upcoming} calendar IPOs have a first-day estimate; {welcomes} communities opened by their hosts")
