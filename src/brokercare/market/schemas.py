"""What enters and leaves the market API: quote snapshots from a market-data gateway, a quote."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field, field_validator

MAX_BATCH = 20_000


class QuoteIn(BaseModel):
    """One Level-1 snapshot of one instrument."""

    code: str = Field(examples=["600519", "600519.SH", "sh600519"])
    time: datetime = Field(description="ISO 8601; without a zone it is Beijing time")
    price: float = Field(gt=0, description="last price, yuan")
    volume: float = Field(0, ge=0, description="the day's cumulative volume, shares")
    prev_close: float | None = Field(None, gt=0, description="previous close, yuan (kept from the store if omitted)")

    @field_validator("price", "prev_close")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and v != v:
            raise ValueError("must be a number")
        return v


class QuotesIn(BaseModel):
    """A batch of snapshots (typically the whole market at one moment); idempotent by (code, time)."""

    quotes: list[QuoteIn] = Field(min_length=1, max_length=MAX_BATCH)


class IngestOut(BaseModel):
    accepted: int
    ignored: int = Field(description="already stored, or older than the stored quote of their code")
    evaluated: bool = Field(description="True when this process evaluated the snapshot's alerts (no Redis bus)")


class QuoteOut(BaseModel):
    symbol: str
    name: str
    price: Decimal
    prev_close: Decimal | None
    change_pct: float | None
    volume: float | None
    time: datetime | None = Field(description="the price's as-of time (None: a reference price)")
    source: str = Field(description="feed (live quote), close (loaded daily close) or reference")
    stale: bool = Field(description="older than the market could have produced at the time of asking")
    label: str = Field(description="the as-of time in words, as shown to people")
