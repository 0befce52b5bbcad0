"""The demo hook gives a new user a living service hub and the ledger content."""

from dataclasses import dataclass, field
from datetime import date

import numpy as np
from sqlalchemy import func, select

from brokercare.ledger.models import LedgerEntry
from brokercare.service import demo, reports
from brokercare.service.models import (
    CaseVector,
    Conversation,
    CsatSurvey,
    Feedback,
    Message,
    Ticket,
)

from .fakes import install


@dataclass
class Summary:
    customers: int = 4
    as_of: date = date(2026, 11, 20)
    counts: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    def add(self, table, n):
        self.counts[table] = self.counts.get(table, 0) + n


def test_demo_history_covers_every_channel_and_leaves_live_work(engine, session, brokerage, monkeypatch):
    ai = install(monkeypatch)  # the scripted assistant recognises the demo's own sentences
    ai.script = {text: (s.intent, 0.9, s.emotion, s.intensity) for s in demo.SCRIPTS for text in s.texts}
    summary = Summary()
    demo.generate(engine, np.random.default_rng(7), summary, conversations=80)
    channels = set(session.scalars(select(Message.channel).distinct()))
    assert channels == {"app", "web", "wechat", "phone", "email", "branch"}
    assert summary.counts["service_conversations"] >= 40
    statuses = set(session.scalars(select(Ticket.status).distinct()))
    assert "closed" in statuses and statuses & {"open", "in_progress", "waiting_on_customer"}
    assert session.scalar(select(func.count(CsatSurvey.id)).where(CsatSurvey.score.is_not(None))) > 10
    assert session.scalar(select(func.count(Feedback.id))) > 0
    assert session.scalar(select(func.count(LedgerEntry.id)).where(LedgerEntry.kind == "routing.decision")) >= 75
    assert session.scalar(select(func.count(Conversation.id)).where(Conversation.status != "closed")) > 0
    # every resolved or closed ticket is a case the hand-off summary can show, with what was done
    solved = set(session.scalars(select(Ticket.id).where(Ticket.status.in_(("resolved", "closed")))))
    cases = {c.ticket_id: c for c in session.scalars(select(CaseVector).where(CaseVector.active.is_(True)))}
    assert solved and set(cases) == solved
    notes = {session.get(Ticket, t).department: c.resolution for t, c in cases.items()}
    assert set(notes) & set(demo.RESOLUTIONS) and all(note == demo.RESOLUTIONS.get(d, note) for d, note in notes.items())
    q3 = reports.build_feedback_report(session, "2026Q3").data
    assert q3["feedback_total"] > 0 and q3["csat"]["responses"] > 0
