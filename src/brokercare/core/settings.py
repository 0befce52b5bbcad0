"""Platform settings, read from the environment with the ``BROKERCARE_`` prefix.

The defaults give a working embedded install: an SQLite file under the data directory and the
in-process event bus. Point ``BROKERCARE_DATABASE_URL`` at PostgreSQL and ``BROKERCARE_BUS_URL``
at Redis to scale out.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BROKERCARE_", env_file=".env", extra="ignore")

    data_dir: Path = Path("./data")
    database_url: str | None = None
    bus_url: str | None = None
    timezone: str = "Asia/Shanghai"
    # JWT signing secret; generated into the data dir on first use when not set.
    secret_key: str | None = None
    access_token_minutes: int = 480
    # Master key (base64, 32 bytes) that wraps the field-encryption data keys; generated into the
    # data dir on first use when not set. In production this comes from a KMS or HSM.
    master_key: str | None = None
    # Step-up authentication (RFC 6238 TOTP): required at login for these roles and for every
    # reveal of personal data. Off only where no authenticator exists (the test suite's other
    # domains); production keeps it on.
    step_up: bool = True
    step_up_roles: str = "compliance,admin"
    # Key files (master key, ledger signing key, JWT secret) live here, never in data_dir; unset:
    # ``~/.config/brokercare/keys`` (see docs/security.md).
    key_dir: Path | None = None
    # Where the ledger's signed tree heads are also written: a file path or an http(s) URL.
    ledger_witness: str | None = None
    # Honour X-Forwarded-Proto/-For only from these proxy addresses (comma-separated; "*": any).
    trusted_proxies: str = "127.0.0.1"
    llm_url: str | None = None
    llm_model: str | None = None
    llm_timeout_s: float = 8.0
    # Load the NLP models and the knowledge base when the server starts (about 10 s), not on the
    # first customer's message, and the monitoring book (about 20 s at 1,000,000 accounts), not in
    # the first quote snapshot's request. Tests turn it off: most never need either.
    warm_up: bool = True
    # Batches of inbound messages each server process routes at once; the messages that arrive
    # meanwhile wait in arrival order and go together as the next batch, of at most message_batch.
    # One per process measured best on 2 cores (closed loop, 2 processes: SQLite 496 vs 380 msg/s,
    # PostgreSQL 361 vs 232 with two): a second batch in the same process only fights the first
    # for the GIL while it holds the write gate.
    message_concurrency: int = Field(1, ge=1, le=64)
    # The human service desk keeps its hours (routing policy: trading days 08:30-20:00 Beijing);
    # true keeps it open around the clock, for a demo tried in the evening or on a weekend.
    desk_always_open: bool = False
    message_batch: int = Field(32, ge=1, le=512)
    # Messages a process lets wait; more are refused with 503 + Retry-After rather than queued
    # (about 10 s of work at the measured 150 messages/s per process).
    message_queue_limit: int = Field(1500, ge=1, le=1_000_000)
    # The day's jobs (docs/jobs.md). ``embedded``: the API process runs the schedule; ``off``: it
    # does not (a ``brokercare scheduler`` process does). Unset: ``brokercare serve`` runs it, an
    # app built any other way (tests, ``uvicorn brokercare.api:create_app``) does not.
    scheduler: Literal["embedded", "off"] | None = None
    # The outbox dispatcher (docs/outbox.md). ``embedded``: the API process sends; ``off``: it does
    # not (``brokercare outbox dispatch`` processes do). Unset: as for ``scheduler``.
    dispatcher: Literal["embedded", "off"] | None = None
    # ``json``: one JSON object per log line, with the job run or event it belongs to (for a log
    # shipper); ``text``: for a person at a terminal.
    log_format: Literal["text", "json"] = "text"
    # When set, ``GET /metrics`` wants ``Authorization: Bearer <token>`` (Prometheus'
    # ``authorization`` scrape setting); unset, it is open to whoever reaches the port.
    metrics_token: str | None = None
    # Another schedule than the shipped ``core/data/schedule.yaml``.
    schedule_file: Path | None = None
    # Further modules with a ``JOBS`` mapping (a broker's own jobs), comma-separated.
    job_modules: str = ""
    # A run whose process stopped beating its heartbeat this long ago is taken over (once).
    job_lease_s: float = Field(60.0, ge=1.0, le=3600.0)
    # Jobs a scheduler process runs at the same time.
    job_workers: int = Field(4, ge=1, le=64)
    # How far back a starting scheduler looks for runs missed while the platform was down (a
    # Spring Festival or National Day closure with its weekends is up to 10 days).
    job_catch_up_days: int = Field(14, ge=0, le=60)
    # Finished runs are kept this long (the weekly core.prune_job_history job deletes older ones).
    job_history_days: int = Field(90, ge=7, le=3650)

    # --- daily post-close reports (docs/engagement.md)
    # A .ttf/.ttc CJK font embedded in the PDFs; unset: the installed fonts-wqy-microhei (or Noto CJK).
    report_font: Path | None = None
    # The PDF renderer: reportlab (measured fastest) or weasyprint (prints the HTML page).
    report_pdf_renderer: Literal["reportlab", "weasyprint"] = "reportlab"
    # The monthly service-quality report (docs/quality.md) is e-mailed through the outbox to these
    # staff addresses, comma-separated; unset: it is only written to <data dir>/reports/quality.
    quality_report_to: str = ""

    # --- the outbox's channel gateways (see docs/outbox.md); an unset channel holds its messages
    # as pending and says so, it never pretends to send them.
    # The broker's SMS gateway: an HTTP JSON webhook (POST, Idempotency-Key header).
    sms_url: str | None = None
    sms_signature: str = "BrokerCare证券"  # the 【签名】 carriers require at the start of a text
    # smtp://user:pass@host:587 (STARTTLS when offered) or smtps://user:pass@host:465.
    smtp_url: str | None = None
    smtp_from: str = "BrokerCare证券 <service@brokercare.local>"
    # The WeChat Official Account API (customer-service messages); the account's AppID and
    # AppSecret enable the channel.
    wechat_api_base: str = "https://api.weixin.qq.com"
    wechat_appid: str | None = None
    wechat_secret: str | None = None
    # A template message (first / keyword1 / keyword2) for customers outside the 48-hour window in
    # which WeChat accepts customer-service messages; unset: such messages are dead (errcode 45015).
    wechat_template_id: str | None = None
    # The app's push gateway: an HTTP JSON webhook (POST, Idempotency-Key header).
    push_url: str | None = None
    # The custody banks' transfer gateway (银证转账; docs/transfers.md): an HTTP JSON API the broker's
    # bank front-end exposes. Unset: the sandbox bank inside the platform confirms every transfer
    # (the demo, a pilot without a bank link).
    bank_url: str | None = None
    # The ID-card OCR and face-match vendor's adapter, ``package.module:ClassName`` (unset: the
    # local fake of onboarding/id_verification.py, which reads only its own sample pictures).
    id_vendor: str | None = None
    # 中国结算's account system for the 一码通 and SH/SZ securities accounts applied for at the end of
    # an opening, ``package.module:ClassName`` (unset: the local fake of onboarding/csdc.py).
    csdc_adapter: str | None = None
    bank_timeout_s: float = Field(8.0, gt=0)
    # Dispatcher: a message is tried at most this often before it is dead-lettered; retries wait
    # backoff_s * 2^(attempt-1) (at most backoff_max_s), half of it random (jitter).
    outbox_max_attempts: int = Field(8, ge=1, le=100)
    outbox_backoff_s: float = Field(5.0, gt=0)
    outbox_backoff_max_s: float = Field(3600.0, gt=0)
    # A claimed message not settled within the lease (a dispatcher died mid-send) is claimed again.
    outbox_lease_s: float = Field(120.0, gt=0)
    outbox_timeout_s: float = Field(10.0, gt=0)  # one request to a gateway
    outbox_concurrency: int = Field(64, ge=1, le=1024)  # requests in flight per dispatcher
    outbox_batch: int = Field(500, ge=1, le=10_000)
    # Quiet hours ("21:00-08:00", Beijing time) for customers who set none; empty: none.
    outbox_quiet_hours: str | None = None
    # Messages per second each dispatcher process sends on a channel; 0: as fast as it can.
    sms_rate_per_s: float = Field(0.0, ge=0)
    email_rate_per_s: float = Field(0.0, ge=0)
    wechat_rate_per_s: float = Field(0.0, ge=0)
    push_rate_per_s: float = Field(0.0, ge=0)

    def step_up_roles_set(self) -> frozenset[str]:
        return frozenset(r.strip() for r in self.step_up_roles.split(",") if r.strip())

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        return f"sqlite:///{(self.data_dir / 'brokercare.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget cached settings (tests change the environment between cases)."""
    get_settings.cache_clear()
