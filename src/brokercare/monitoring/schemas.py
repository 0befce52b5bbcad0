"""What enters and leaves the monitoring API."""

from __future__ import annotations

from datetime import date, datetime, time

from pydantic import BaseModel, ConfigDict, Field


class PreferencesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    move_pct: float | None = Field(None, description="threshold as a fraction, e.g. 0.05")
    window_min: int | None = None
    volume_ratio: float | None = None
    limit_alerts: bool | None = None
    quiet_start: time | None = None
    quiet_end: time | None = None
    hourly_cap: int | None = None
    channels: list[str] | None = None
    margin_forecast_threshold: float | None = None
    daily_report: bool | None = Field(None, description="push the post-close daily report to the app")


class PreferencesOut(BaseModel):
    move_pct: float
    window_min: int
    volume_ratio: float
    limit_alerts: bool
    quiet_start: time | None
    quiet_end: time | None
    hourly_cap: int
    channels: list[str]
    margin_forecast_threshold: float
    daily_report: bool = False


class AlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    rule: str
    severity: str
    symbol: str | None
    account_id: int | None
    title: str
    body: str
    change_pct: float | None
    data: dict
    fired_at: datetime


class ApplicationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    issue_code: str
    shares: int
    day: date | None = None


class IpoIssueOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    symbol: str
    name: str
    exchange: str
    board: str
    subscribe_on: date
    price: float
    max_shares: int
    results_on: date
    payment_on: date
    listing_on: date | None
    industry: str | None
    source: str


class MarginCallOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    contract_id: int
    account_id: int
    line: str
    ratio: float
    opened_at: datetime
    deadline: date
    status: str


class TemperatureOut(BaseModel):
    board: str
    board_name: str
    score: float = Field(description="0 (ice cold) .. 100 (overheated)")
    band: str = Field(description="过冷 / 偏冷 / 正常 / 偏热 / 过热")
    text: str = Field(description="the reading in plain Chinese")
    breadth: float = Field(description="(advancers - decliners) / quoted stocks")
    limit_up: int
    limit_down: int
    activity: float = Field(description="volume so far / 20-day average volume for this time")
    quoted: int
    at: datetime = Field(description="the snapshot the reading comes from")
    stale: bool = Field(False, description="older than the market's last trading minute: not today's reading")


class TemperaturePoint(BaseModel):
    at: datetime
    score: float
    band: str


class MarketTemperatureOut(BaseModel):
    boards: list[TemperatureOut]
    history: dict[str, list[TemperaturePoint]] = Field(
        description="per board, one point a minute over the requested minutes, oldest first"
    )
