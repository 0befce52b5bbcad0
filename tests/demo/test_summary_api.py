"""Operators check a load through the API; other roles may not."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

from fastapi.testclient import TestClient

from brokercare.api import create_app
from brokercare.demo.brokerage import generate_brokerage
from brokercare.security.auth import issue_token
from brokercare.security.service import create_user


def test_data_summary_counts_the_generated_brokerage(engine, session):
    summary = generate_brokerage(engine, customers=50, seed=3, as_of=date(2026, 11, 27), workers=1,
                                 run_domain_hooks=False)
    admin = create_user(session, username="ops01", password="Ops-Password-2026", role="admin",
                        display_name="运维")
    agent = create_user(session, username="agent99", password="Agent-Password-2026", role="agent",
                        display_name="坐席")
    session.commit()
    with TestClient(create_app()) as client:
        ok = client.get("/api/v1/data/summary",
                        headers={"Authorization": f"Bearer {issue_token(admin)[0]}"})
        assert ok.status_code == 200
        counts = ok.json()["counts"]
        assert counts["customers"] == 50 and counts["trades"] == summary.counts["trades"]
        denied = client.get("/api/v1/data/summary",
                            headers={"Authorization": f"Bearer {issue_token(agent)[0]}"})
        assert denied.status_code == 403
        assert client.get("/api/v1/data/summary").status_code == 401


def test_a_fresh_api_process_knows_every_table():
    """Foreign keys such as users.customer_id resolve even before any domain imported customers."""
    code = ("from brokercare.api import create_app; create_app(); "
            "from brokercare.core.database import Base; "
            "assert {'customers', 'users', 'accounts'} <= set(Base.metadata.tables)")
    subprocess.run([sys.executable, "-c", code], check=True)
