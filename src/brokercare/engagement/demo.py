"""Demo hook: the night's leads from the demo's freshly computed profiles (the customers hook runs
first), so each demo customer manager opens the workbench's 线索与待办 page with their own
leads. The leads come from the production rules; nothing is written by hand."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from brokercare.core.calendar import SHANGHAI
from brokercare.engagement.leads import raise_leads


def generate(engine: Engine, rng, summary) -> None:
    """Raise today's leads (rng unused: leads follow from the profiles)."""
    with Session(engine) as session:
        raised = raise_leads(session, datetime.now(SHANGHAI).date())
        session.commit()
    if hasattr(summary, "add"):
        summary.add("engagement_leads", raised.leads)
    notes = getattr(summary, "notes", None)
    if isinstance(notes, list):
        notes.append(f"engagement: {raised.leads:,} leads for customer managers "
                     f"({raised.capped:,} held back by the contact frequency cap)")
