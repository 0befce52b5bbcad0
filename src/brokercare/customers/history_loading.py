"""Importing what a broker knows of its customers' lives and app use: behaviour events (logins
with IP and device, page views, searches, content reads), family members and life events.

The files name customers by ``customer_no``. None of these tables has a number of its own, so the
natural keys are what identifies a record in a back-office export: ``customer_no`` +
``occurred_at`` + ``kind`` for behaviour events (one event of a kind per customer and second),
``customer_no`` + ``relation`` + ``birth_year`` for family members, ``customer_no`` + ``kind`` +
``occurred_on`` for life events. The nightly profile computation reads all three.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta

from sqlalchemy import Connection

from brokercare.core.bulkimport import (
    Column,
    ImportSpec,
    Prepared,
    choice,
    lookup,
    parse_date,
    parse_datetime,
    pattern,
    text,
)
from brokercare.core.calendar import SHANGHAI
from brokercare.core.database import utcnow
from brokercare.customers.models import BehaviourEvent, Customer, FamilyMember, LifeEvent

CUSTOMER_NO = pattern(r"[0-9A-Za-z]{4,20}", "a customer number")
BEHAVIOUR = {"login": "login", "page_view": "page_view", "search": "search",
             "content_read": "content_read", "登录": "login", "浏览": "page_view",
             "页面浏览": "page_view", "搜索": "search", "阅读": "content_read", "资讯阅读": "content_read"}
CHANNEL = {"app": "app", "web": "web", "pc": "pc", "手机": "app", "网页": "web", "网上": "web",
           "电脑": "pc"}
RELATION = {"spouse": "spouse", "child": "child", "parent": "parent", "配偶": "spouse",
            "子女": "child", "儿子": "child", "女儿": "child", "父母": "parent", "父亲": "parent",
            "母亲": "parent"}
LIFE_EVENT = {k: k for k in ("marriage", "child_birth", "child_school", "house_purchase",
                             "job_change", "promotion", "relocation", "retirement")} | {
    "结婚": "marriage", "生育": "child_birth", "子女出生": "child_birth", "子女入学": "child_school",
    "购房": "house_purchase", "换工作": "job_change", "跳槽": "job_change", "升职": "promotion",
    "搬迁": "relocation", "迁居": "relocation", "退休": "retirement"}


def _ip(v: str) -> str:
    try:
        return str(ipaddress.ip_address(v.strip()))
    except ValueError:
        raise ValueError(f"{v!r} is not an IPv4 or IPv6 address") from None


def _whole(lo: int, hi: int, what: str):
    def parse(v: str) -> int:
        try:
            n = int(v.strip())
        except ValueError:
            raise ValueError(f"{v!r} is not {what}") from None
        if not lo <= n <= hi:
            raise ValueError(f"{v!r} is not {what} ({lo}-{hi})")
        return n
    return parse


def _owners(conn: Connection, parsed: dict[int, dict], errors: dict[int, str]) -> dict[str, int]:
    """Customer ids of the file's customer numbers; a number not stored is the row's error."""
    ids = lookup(conn, Customer.customer_no, Customer.id, (r["customer_no"] for r in parsed.values()))
    for row_no, r in parsed.items():
        if r["customer_no"] not in ids:
            errors[row_no] = f"customer {r['customer_no']} not found (import customers first)"
    return ids


# --- behaviour events ---------------------------------------------------------------------------

BEHAVIOUR_COLUMNS = [
    Column("customer_no", CUSTOMER_NO),
    Column("occurred_at", parse_datetime),
    Column("kind", choice(BEHAVIOUR, "behaviour kind")),
    Column("channel", choice(CHANNEL, "channel"), required=False, default="app"),
    Column("page", text(64), required=False),
    Column("query", text(120), required=False),
    Column("topic", text(32), required=False),
    Column("ip", _ip, required=False),
    Column("device_id", text(64), required=False),
    Column("geo_city", text(16), required=False),
    Column("duration_s", _whole(0, 86_400, "a duration in seconds"), required=False),
]

#: What each kind of event must carry to mean anything to the profile.
NEEDS = {"login": ("ip", "device_id"), "page_view": ("page",), "search": ("query",),
         "content_read": ("topic",)}


def _prepare_behaviour(conn: Connection, parsed: dict[int, dict]) -> Prepared:
    errors: dict[int, str] = {}
    ids = _owners(conn, parsed, errors)
    now, out = utcnow(), {}
    for row_no, r in parsed.items():
        missing = [c for c in NEEDS[r["kind"]] if not r[c]]
        if row_no in errors:
            continue
        if missing:
            errors[row_no] = f"a {r['kind']} needs {' and '.join(missing)}"
        elif r["occurred_at"] > now:
            errors[row_no] = "occurred_at is in the future"
        else:
            out[row_no] = {"customer_id": ids[r["customer_no"]], "occurred_at": r["occurred_at"],
                           "kind": r["kind"], "channel": r["channel"],
                           **{c: r[c] or None for c in ("page", "query", "topic", "ip", "device_id",
                                                       "geo_city")},
                           "duration_s": r["duration_s"]}
    return Prepared(out, errors)


def behaviour_events_spec() -> ImportSpec:
    return ImportSpec(
        kind="behaviour_events", table=BehaviourEvent.__table__, columns=BEHAVIOUR_COLUMNS,
        key=("customer_no", "occurred_at", "kind"), key_columns=("customer_id", "occurred_at", "kind"),
        prepare=_prepare_behaviour,
        compared=("channel", "page", "query", "topic", "ip", "device_id", "geo_city", "duration_s"),
    )


# --- family members and life events -------------------------------------------------------------

FAMILY_COLUMNS = [
    Column("customer_no", CUSTOMER_NO),
    Column("relation", choice(RELATION, "relation")),
    Column("birth_year", _whole(1900, 2100, "a birth year")),
]


def _prepare_family(conn: Connection, parsed: dict[int, dict]) -> Prepared:
    errors: dict[int, str] = {}
    ids = _owners(conn, parsed, errors)
    this_year, out = datetime.now(SHANGHAI).year, {}
    for row_no, r in parsed.items():
        if row_no in errors:
            continue
        if r["birth_year"] > this_year:
            errors[row_no] = "birth_year cannot be in the future"
        else:
            out[row_no] = {"customer_id": ids[r["customer_no"]], "relation": r["relation"],
                           "birth_year": r["birth_year"]}
    return Prepared(out, errors)


def family_members_spec() -> ImportSpec:
    return ImportSpec(
        kind="family_members", table=FamilyMember.__table__, columns=FAMILY_COLUMNS,
        key=("customer_no", "relation", "birth_year"),
        key_columns=("customer_id", "relation", "birth_year"), prepare=_prepare_family,
    )


LIFE_COLUMNS = [
    Column("customer_no", CUSTOMER_NO),
    Column("kind", choice(LIFE_EVENT, "life event")),
    Column("occurred_on", parse_date),
    Column("note", text(200), required=False),
]


def _prepare_life(conn: Connection, parsed: dict[int, dict]) -> Prepared:
    errors: dict[int, str] = {}
    ids = _owners(conn, parsed, errors)
    # a school place or a retirement is often known in advance: up to a year ahead is accepted
    horizon, out = datetime.now(SHANGHAI).date() + timedelta(days=366), {}
    for row_no, r in parsed.items():
        if row_no in errors:
            continue
        if r["occurred_on"] > horizon:
            errors[row_no] = "occurred_on is more than a year ahead"
        else:
            out[row_no] = {"customer_id": ids[r["customer_no"]], "kind": r["kind"],
                           "occurred_on": r["occurred_on"], "note": r["note"] or None}
    return Prepared(out, errors)


def life_events_spec() -> ImportSpec:
    return ImportSpec(
        kind="life_events", table=LifeEvent.__table__, columns=LIFE_COLUMNS,
        key=("customer_no", "kind", "occurred_on"), key_columns=("customer_id", "kind", "occurred_on"),
        prepare=_prepare_life, compared=("note",),
    )
