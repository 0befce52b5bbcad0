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
from brokercare.security.policy import SERVICE_ROLES
from brokercare.security.service import create_user, get_user_by_username, service_login

STAFF_PASSWORD = "BrokerCare-2026"

# username, role, display name (the service hub's demo gives the service staff their skills and
# chat slots)
STAFF = [
    ("lead01", "team_lead", "周海燕"),
    ("agent01", "agent", "陈晓明"),
    ("agent02", "agent", "林雪"),
    ("agent03", "agent", "黄建国"),
    ("agent04", "agent", "吴婷"),
    ("agent05", "agent", "郑磊"),
    ("advisor01", "advisor", "王芳"),
    ("manager01", "customer_manager", "刘洋"),
    ("risk01", "risk", "孙立"),
    ("compliance01", "compliance", "赵敏"),
    ("admin01", "admin", "系统管理员"),
]


def generate(engine: Engine, rng, summary) -> None:
    """Create the staff logins."""
    staff_pw = os.environ.get("BROKERCARE_DEMO_PASSWORD", STAFF_PASSWORD)
    created = 0
    authenticators: dict[str, str] = {}
    with Session(engine) as session:
        for username, role, name in STAFF:
            user = get_user_by_username(session, username)
            if user is None:
                user = create_user(session, username=username, password=staff_pw, role=role,
                                   display_name=name)
                created += 1
            if role in get_settings().step_up_roles_set() and not user.totp_secret_enc:
                authenticators[username] = stepup.enroll(session, user)
        for role in SERVICE_ROLES:  # the platform's own service logins (token only, no password)
            service_login(session, role)
        session.commit()

    summary.add("users", created)
    summary.notes.append(f"demo staff logins: {', '.join(u for u, *_ in STAFF)} (password {staff_pw})")
    for username, uri in authenticators.items():  # step-up logins: add these to an authenticator app
        summary.notes.append(f"demo authenticator for {username}: {uri}")
