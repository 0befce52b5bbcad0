"""Demo logins: one or more for every staff role (the customers domain adds customer logins).

Called by ``brokercare generate`` after the base brokerage exists. Re-running skips logins that
already exist. Password: ``BROKERCARE_DEMO_PASSWORD``, default documented in docs/security.md.
"""

from __future__ import annotations

import os

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from brokercare.core.settings import get_settings
from brokercare.security import stepup
from brokercare.security.service import create_user, get_user_by_username

STAFF_PASSWORD = "BrokerCare-2026"

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


def generate(engine: Engine, rng, summary) -> None:
    """Create the staff logins (the team lead first: agents name their lead)."""
    staff_pw = os.environ.get("BROKERCARE_DEMO_PASSWORD", STAFF_PASSWORD)
    created = 0
    authenticators: dict[str, str] = {}
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
            if role in get_settings().step_up_roles_set() and not user.totp_secret_enc:
                authenticators[username] = stepup.enroll(session, user)
        session.commit()

    summary.add("users", created)
    summary.notes.append(f"demo staff logins: {', '.join(u for u, *_ in STAFF)} (password {staff_pw})")
    for username, uri in authenticators.items():  # step-up logins: add these to an authenticator app
        summary.notes.append(f"demo authenticator for {username}: {uri}")
