"""The last step of the opening funnel: the first money in. Accounts announces each confirmed
transfer (``transfer.completed``); the first one into the account of a customer who opened online
is the ``first_deposit`` step of their application (the quality domain stores a step once, so a
later transfer in changes nothing)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from brokercare.core.bus import Event, EventBus, get_bus
from brokercare.core.database import session_scope
from brokercare.core.journeys import journey_step
from brokercare.onboarding.models import OpeningApplication

TRANSFER_COMPLETED = "transfer.completed"  # accounts' event
CONSUMER = "onboarding.first_deposit"


def on_transfer_completed(event: Event) -> None:
    if (event.payload or {}).get("direction") != "in" or event.customer_id is None:
        return
    with session_scope() as session:
        app = session.scalar(select(OpeningApplication).where(
            OpeningApplication.customer_id == int(event.customer_id), OpeningApplication.state == "opened"))
    if app is None:
        return
    at = event.occurred_at if isinstance(event.occurred_at, datetime) else datetime.fromisoformat(event.occurred_at)
    get_bus().publish(journey_step("account_opening", "first_deposit", ref=f"opening:{app.application_no}", at=at,
                                   customer_id=app.customer_id, channel=app.channel))


def subscribe_handlers(bus: EventBus | None = None) -> None:
    (bus or get_bus()).subscribe(TRANSFER_COMPLETED, on_transfer_completed, group=CONSUMER)
