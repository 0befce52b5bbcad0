"""The custody bank's side of a 银证转账: one interface, an HTTP adapter for the broker's bank
front-end, and a sandbox bank for the demo and a pilot without a bank link; and which bank issued a
card, from the shipped BIN table (``data/bank_bins.csv``, its source in ``data/SOURCE.md``).

The HTTP protocol (docs/transfers.md): ``POST {url}/transfers`` with the transfer number as the
``Idempotency-Key`` (a bank that sees it twice answers the first result) and
``GET {url}/transfers/{transfer_no}`` to ask what became of one. The bank answers
``{"status": "confirmed"|"rejected"|"processing", "bank_ref": ..., "message": ...}``.
"""

from __future__ import annotations

import csv
import itertools
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Literal, Protocol

import httpx

from brokercare.core.identifiers import is_valid_card
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


# --- which bank issued a card (BIN) -------------------------------------------------------------

CARD_TYPES = {"DC": "借记卡", "CC": "信用卡", "SCC": "准贷记卡", "PC": "预付费卡"}


@dataclass(frozen=True)
class CardIssuer:
    """One row of the BIN table: the bank that issues cards starting ``bin`` of ``length`` digits."""

    bin: str
    length: int
    card_type: str  # DC debit, CC credit, SCC semi-credit, PC prepaid
    bank_code: str
    bank_name: str  # the issuer's full name
    short_name: str  # the name the transfer rules use (工商银行)


@lru_cache(maxsize=1)
def bin_table() -> dict[tuple[str, int], tuple[CardIssuer, ...]]:
    """The shipped BIN table by (bin, card length); a key with two issuers is ambiguous in the source."""
    text = resources.files("brokercare.accounts").joinpath("data/bank_bins.csv").read_text("utf-8")
    table: dict[tuple[str, int], tuple[CardIssuer, ...]] = {}
    for r in csv.DictReader(text.splitlines()):
        issuer = CardIssuer(r["bin"], int(r["card_length"]), r["card_type"], r["bank_code"], r["bank_name"],
                            r["short_name"])
        table[(issuer.bin, issuer.length)] = (*table.get((issuer.bin, issuer.length), ()), issuer)
    return table


@dataclass(frozen=True)
class CardCheck:
    """What the number of a card says: ``luhn_ok`` (ISO/IEC 7812 check digit) and the issuers whose
    BIN and length match (none: unknown BIN; two: the source is ambiguous)."""

    number: str
    luhn_ok: bool
    issuers: tuple[CardIssuer, ...]

    @property
    def issuer(self) -> CardIssuer | None:
        """The one issuer when the table names exactly one."""
        return self.issuers[0] if len(self.issuers) == 1 else None


def check_card(card_no: str) -> CardCheck:
    """Luhn and BIN of a card number (spaces and dashes allowed); the longest BIN that matches wins."""
    number = card_no.replace(" ", "").replace("-", "")
    luhn_ok = number.isdigit() and is_valid_card(number)
    table = bin_table()
    for width in range(10, 5, -1):
        found = table.get((number[:width], len(number)))
        if found:
            return CardCheck(number, luhn_ok, found)
    return CardCheck(number, luhn_ok, ())
