"""The market API: live quotes in from a market-data gateway, the latest quote of an instrument out."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from brokercare.core.bus import InProcessBus, get_bus
from brokercare.core.calendar import SHANGHAI
from brokercare.core.database import get_session
from brokercare.core.errors import ValidationFailed
from brokercare.market import service
from brokercare.market.schemas import IngestOut, QuoteOut, QuotesIn
from brokercare.security.policy import Principal, current_user, require_roles

router = APIRouter(prefix="/market", tags=["market"])
feed = require_roles("market_feed")


def _ticks(body: QuotesIn) -> list[service.Tick]:
    """The batch as ticks; a bad code rejects the whole batch, naming its position."""
    ticks, errors = [], []
    for k, q in enumerate(body.quotes):
        try:
            symbol = service.to_symbol(q.code)
        except ValidationFailed as exc:
            errors.append(f"quotes[{k}]: {exc.detail}")
            continue
        t = q.time if q.time.tzinfo else q.time.replace(tzinfo=SHANGHAI)
        ticks.append(service.Tick(symbol, t, q.price, q.volume, q.prev_close))
    if errors:
        raise ValidationFailed(f"{len(errors)} of {len(body.quotes)} quotes are invalid, none stored: "
                               + "; ".join(errors[:10]))
    return ticks


@router.post("/quotes", response_model=IngestOut,
             summary="A batch of Level-1 snapshots from the market-data gateway (idempotent by code and time)")
def post_quotes(body: QuotesIn, session: Session = Depends(get_session),
                _: Principal = Depends(feed)) -> IngestOut:
    result = service.ingest_quotes(session, _ticks(body))
    session.commit()  # publishes the snapshot: evaluated here on the in-process bus
    return IngestOut(accepted=len(result.accepted), ignored=result.ignored,
                     evaluated=bool(result.accepted) and isinstance(get_bus(), InProcessBus))


@router.get("/quotes/{symbol}", response_model=QuoteOut,
            summary="The latest price of an instrument with its as-of time and whether it is stale")
def get_quote(symbol: str, session: Session = Depends(get_session),
              _: Principal = Depends(current_user)) -> dict:
    return service.quote_of(session, symbol)
