"""The list of business domains and the discovery of their optional modules.

Each domain may provide ``models.py`` (tables), ``views.py`` (a FastAPI ``router``), ``cli.py``
(a ``register(app)`` function adding its commands to ``brokercare``) and ``jobs.py`` (a ``JOBS``
mapping of job name to a function the schedule runs, see ``core/schedule.py``). Discovery keeps
``api.py``, ``cli.py`` and the scheduler free of per-domain edits, so domains can be added
independently.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from types import ModuleType

DOMAINS = (
    "core",
    "security",
    "ledger",
    "market",
    "customers",
    "outbox",
    "accounts",
    "assistant",
    "service",
    "monitoring",
    "advisory",
    "risk",
    "onboarding",
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


def domain_jobs(extra_modules: str = "") -> dict[str, Callable]:
    """Every job the domains declare, as ``{"<domain>.<name>": function}``.

    ``extra_modules`` (comma-separated module paths, the ``job_modules`` setting) adds a broker's
    own jobs; their ``JOBS`` keys are used as they are and must be qualified (``bank.export``).
    """
    jobs: dict[str, Callable] = {}
    for module in domain_modules("jobs"):
        domain = module.__name__.split(".")[1]
        jobs.update({f"{domain}.{name}": fn for name, fn in module.JOBS.items()})
    for path in filter(None, (p.strip() for p in extra_modules.split(","))):
        module = importlib.import_module(path)
        for name, fn in module.JOBS.items():
            if "." not in name:
                raise ValueError(f"{path}: job {name!r} needs a qualified name such as 'bank.{name}'")
            jobs[name] = fn
    return jobs
