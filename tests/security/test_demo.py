"""The demo staff logins: every staff role can log in, agents under their team lead, idempotent."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from sqlalchemy import func, select

from brokercare.security import demo
from brokercare.security.models import User
from brokercare.security.policy import SERVICE_ROLES, STAFF_ROLES
from brokercare.security.service import authenticate
from brokercare.service.demo import demo_profiles
from brokercare.service.service import agent_profile


def test_demo_staff_logins_for_every_staff_role(session, engine) -> None:
    summary = SimpleNamespace(counts={}, notes=[], add=lambda t, n: summary.counts.__setitem__(t, n))
    demo.generate(engine, np.random.default_rng(1), summary)
    assert summary.counts["users"] == len(demo.STAFF)
    demo.generate(engine, np.random.default_rng(1), summary)  # idempotent
    assert summary.counts["users"] == 0
    # plus the platform's token-only service logins (the market-data feed)
    assert session.scalar(select(func.count()).select_from(User)) == len(demo.STAFF) + len(SERVICE_ROLES)

    assert set(session.scalars(select(User.role))) == set(STAFF_ROLES) | set(SERVICE_ROLES)
    for username, *_ in demo.STAFF:
        assert authenticate(session, username, demo.STAFF_PASSWORD).username == username
    agents = session.scalars(select(User).where(User.role == "agent")).all()
    lead = session.scalar(select(User).where(User.role == "team_lead"))
    demo_profiles(session)  # the service hub's demo gives the staff their routing profiles
    assert agents and all(agent_profile(session, a.id).team_lead_id == lead.id for a in agents)
    assert "agent01" in summary.notes[0] and demo.STAFF_PASSWORD in summary.notes[0]
