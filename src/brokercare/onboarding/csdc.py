"""The shareholder accounts applied for at the end of an opening (中国结算 一码通 and the Shanghai
and Shenzhen A-share securities accounts): one interface, and a local fake for the demo, the tests
and a pilot without a CSDC connection.

China Securities Depository and Clearing (中国结算, CSDC) keeps one unified account (一码通账户,
12 digits) per investor and, under it, a securities account per market: Shanghai A-shares (an
``A`` and 9 digits for individuals) and Shenzhen A-shares (10 digits). A broker applies for them
through CSDC's account system once the investor's identity is verified; an investor who already
has one 一码通 gets the same one back, and CSDC refuses what its rules do not allow (e.g. more than
three A-share accounts in one market, an identity its check cannot confirm).

A broker's adapter implements :class:`ShareholderRegistry` and is named by
``BROKERCARE_CSDC_ADAPTER=package.module:ClassName`` (built with no arguments). Applying must be
idempotent by ``application_no`` on the adapter's side, so an application retried after the
platform's own transaction failed gets the same accounts. Anything the adapter raises — a refusal
(:class:`Refused`) or a technical failure — sends the opening to the back office's review queue
(:func:`brokercare.onboarding.journey.issue_account`), never to a 500.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from brokercare.core.settings import get_settings
from brokercare.onboarding.id_verification import adapter


@dataclass(frozen=True)
class HolderRequest:
    application_no: str
    name: str
    id_number: str
    branch_code: str


@dataclass(frozen=True)
class ShareholderAccounts:
    one_code: str  # 一码通账户号码
    sh: str  # 上海证券账户 (A 股)
    sz: str  # 深圳证券账户 (A 股)


class Refused(Exception):
    """CSDC declined the application; the message (Chinese) is what the back office reads."""


class ShareholderRegistry(Protocol):
    def apply(self, request: HolderRequest) -> ShareholderAccounts: ...


def _digits(seed: str, n: int) -> str:
    """``n`` decimal digits derived from ``seed`` (stable: the same seed gives the same digits)."""
    value = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big")
    return str(value % 10**n).zfill(n)


class LocalFakeRegistry:
    """Issues well-formed numbers derived from the ID number, so an investor keeps one 一码通
    however often they apply (as CSDC does) and a retried application gets the same accounts.
    It never calls CSDC: numbers from it identify nobody at the exchanges."""

    def apply(self, request: HolderRequest) -> ShareholderAccounts:
        person = f"csdc-fake:{request.id_number}"
        return ShareholderAccounts(one_code="18" + _digits(person, 10), sh="A" + _digits(person + ":SH", 9),
                                   sz="0" + _digits(person + ":SZ", 9))


def shareholder_registry() -> ShareholderRegistry:
    """The configured adapter (``BROKERCARE_CSDC_ADAPTER``), else the local fake."""
    return adapter(get_settings().csdc_adapter, LocalFakeRegistry)
