"""The custody bank's side of a 银证转账: one interface, an HTTP adapter for the broker's bank
front-end, and a sandbox bank for the demo and a pilot without a bank link.

The HTTP protocol (docs/transfers.md): ``POST {url}/transfers`` with the transfer number as the
``Idempotency-Key`` (a bank that sees it twice answers the first result) and
``GET {url}/transfers/{transfer_no}`` to ask what became of one. The bank answers
``{"status": "confirmed"|"rejected"|"processing", "bank_ref": ..., "message": ...}``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol

import httpx

from brokercare.core.settings import Settings, get_settings

Status = Literal["confirmed", "rejected", "processing", "unknown"]


@dataclass(frozen=True)
class BankRequest:
    transfer_no: str
    direction: str  # in: bank → securities account; out: securities account → bank
    amount: Decimal
    account_no: str
    bank_name: str | None
    card_no: str | None


@dataclass(frozen=True)
class BankAnswer:
    """``unknown``: no answer (timeout, connection lost) — the bank may still have done it, so
    the transfer waits for a query or the day's statement, never for a second request."""

    status: Status
    bank_ref: str | None = None
    message: str | None = None


class BankGateway(Protocol):
    def submit(self, request: BankRequest) -> BankAnswer: ...

    def query(self, transfer_no: str) -> BankAnswer: ...


class HttpBank:
    def __init__(self, url: str, timeout: float) -> None:
        self.url = url.rstrip("/")
        self.client = httpx.Client(timeout=timeout)

    def _answer(self, response: httpx.Response) -> BankAnswer:
        if response.status_code == 404:
            return BankAnswer("rejected", message="银行没有这笔转账的记录")
        if response.status_code >= 500 or response.status_code in (408, 429):
            return BankAnswer("unknown", message=f"银行系统繁忙（HTTP {response.status_code}）")
        try:
            data = response.json()
        except ValueError:
            return BankAnswer("unknown", message="银行返回无法识别的应答")
        status = data.get("status")
        if status not in ("confirmed", "rejected", "processing"):
            return BankAnswer("unknown", message="银行返回无法识别的应答")
        return BankAnswer(status, data.get("bank_ref"), data.get("message"))

    def submit(self, request: BankRequest) -> BankAnswer:
        body = {"transfer_no": request.transfer_no, "direction": request.direction,
                "amount": str(request.amount), "account_no": request.account_no,
                "bank_name": request.bank_name, "card_no": request.card_no}
        try:
            response = self.client.post(f"{self.url}/transfers", json=body,
                                        headers={"Idempotency-Key": request.transfer_no})
        except httpx.HTTPError as exc:
            return BankAnswer("unknown", message=f"银行未及时应答（{type(exc).__name__}）")
        return self._answer(response)

    def query(self, transfer_no: str) -> BankAnswer:
        try:
            return self._answer(self.client.get(f"{self.url}/transfers/{transfer_no}"))
        except httpx.HTTPError as exc:
            return BankAnswer("unknown", message=f"银行未及时应答（{type(exc).__name__}）")


class SandboxBank:
    """Confirms every transfer at once and remembers it (one process). For the demo brokerage
    and a pilot without a bank link; ``BROKERCARE_BANK_URL`` replaces it."""

    _refs = itertools.count(1)

    def __init__(self) -> None:
        self.done: dict[str, BankAnswer] = {}

    def submit(self, request: BankRequest) -> BankAnswer:
        if request.transfer_no not in self.done:
            self.done[request.transfer_no] = BankAnswer("confirmed", f"SBX{next(self._refs):010d}")
        return self.done[request.transfer_no]

    def query(self, transfer_no: str) -> BankAnswer:
        return self.done.get(transfer_no, BankAnswer("rejected", message="银行没有这笔转账的记录"))


_sandbox = SandboxBank()


def bank_gateway(settings: Settings | None = None) -> BankGateway:
    settings = settings or get_settings()
    if settings.bank_url:
        return HttpBank(settings.bank_url, settings.bank_timeout_s)
    return _sandbox
