"""The list of business domains and the discovery of their optional modules.

Each domain may provide ``models.py`` (tables), ``views.py`` (a FastAPI ``router``) and ``cli.py``
(a ``register(app)`` function adding its commands to ``brokercare``). Discovery keeps ``api.py``
and ``cli.py`` free of per-domain edits, so domains can be added independently.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

DOMAINS = (
    "core",
    "security",
    "ledger",
    "market",
    "customers",
    "accounts",
    "assistant",
    "service",
    "monitoring",
    "advisory",
    "risk",
    "engagement",
    "quality",
    "web",
    "demo",
)


def domain_modules(name: str) -> list[ModuleType]:
    """Import ``brokercare.<domain>.<name>`` for every domain that has one, in domain order."""
    found = []
    for domain in DOMAINS:
        qualified = f"brokercare.{domain}.{name}"
        if importlib.util.find_spec(qualified) is not None:
            found.append(importlib.import_module(qualified))
    return found


def load_all_models() -> None:
    """Import every domain's tables so ``Base.metadata`` is complete (Alembic, tests)."""
    domain_modules("models")
