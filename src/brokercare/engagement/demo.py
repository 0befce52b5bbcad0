"""Demo hook: the night's leads from the demo's freshly computed profiles (the customers hook runs
first), so each demo customer manager opens the workbench's 线索与待办 page with their own
leads; and the tier services — three demo staff registered as the VIPs' specialists, the 1+N
teams assigned and this quarter's review tasks raised. Everything comes from the production
rules and data; nothing is written by hand."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from brokercare.core.calendar import SHANGHAI
from brokercare.core.errors import DomainError
from brokercare.engagement import tiers
from brokercare.engagement.leads import raise_leads
from brokercare.engagement.models import Specialist

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


def generate(engine: Engine, rng, summary) -> None:
    """Raise today's leads, teams and review tasks (rng unused: they follow from the profiles)."""
    today = datetime.now(SHANGHAI).date()
    with Session(engine) as session:
        raised = raise_leads(session, today)
        members, reviews = _tier_services(session, today)
        session.commit()
    if hasattr(summary, "add"):
        summary.add("engagement_leads", raised.leads)
        summary.add("engagement_team_members", members)
    notes = getattr(summary, "notes", None)
    if isinstance(notes, list):
        notes.append(f"engagement: {raised.leads:,} leads for customer managers "
                     f"({raised.capped:,} held back by the contact frequency cap); {members:,} VIP specialist "
                     f"assignments, {reviews:,} quarterly review tasks")
