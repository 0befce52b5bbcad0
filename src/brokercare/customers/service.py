"""The customers domain's public face: customer reads, personal data as a caller may see it, the
profile and its one-customer refresh, and the assessed risk the advisory domain announces.

Other domains call these (never the tables): :func:`get_customer`, :func:`get_customers`,
:func:`get_profile`, :func:`search_customers`, :func:`tier_history`, :func:`tier_for`,
:func:`customer_pii`, batch reads for engines (:func:`open_customer_ids`,
:func:`customers_at_levels`, :func:`ids_by_customer_no`) and :func:`replace_assessed_risks` for a
bulk load of assessments. :func:`refresh_profile` recomputes one customer's profile with exactly
the code of the nightly batch (a one-customer partition) and is what the event handlers in
:mod:`brokercare.customers.handlers` run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import polars as pl
from pydantic import BaseModel
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from brokercare.core import bulkload
from brokercare.core.bulkimport import ImportSpec, lookup
from brokercare.core.bulkread import driver_rows, read_frame
from brokercare.core.bus import Event, EventBus, get_bus, register_event_type
from brokercare.core.errors import NotFound, ValidationFailed
from brokercare.customers import history_loading, loading
from brokercare.customers.config import Compiled, load_config
from brokercare.customers.engine import AsOf, compute_partition, decode_features, encode
from brokercare.customers.models import (
    BehaviourEvent,
    Customer,
    CustomerProfile,
    FamilyMember,
    LifeEvent,
    TierChange,
)
from brokercare.customers.pii import customer_pii as customer_pii
from brokercare.customers.registration import register_applicant as register_applicant
from brokercare.customers.registration import set_status as set_status
from brokercare.customers.risk import Assessed as Assessed
from brokercare.customers.risk import replace_assessed_risks as replace_assessed_risks
from brokercare.customers.search import TooManySearches as TooManySearches
from brokercare.customers.search import matched_by as matched_by
from brokercare.customers.search import search_customers as search_customers
from brokercare.customers.store import write_profiles

TIER_CHANGED = "customer.tier_changed"
#: Statuses batch engines leave out: closed accounts, and online applicants not (or never) opened.
NOT_OPEN = ("closed", "applying", "rejected")


class TierChanged(BaseModel):
    """Payload of ``customer.tier_changed``: AUM as exact decimal text in 元."""

    customer_id: int
    from_tier: str
    to_tier: str
    aum: str


register_event_type(TIER_CHANGED, TierChanged)


def get_customer(session: Session, customer_id: int) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"客户不存在（id={customer_id}）", extra={"customer_id": customer_id})
    return customer


def latest_life_event(session: Session, customer_id: int, *, since: date, kinds: Iterable[str]) -> str | None:
    """The kind of the customer's most recent life event of ``kinds`` after ``since`` (None: none)."""
    return session.scalar(
        select(LifeEvent.kind)
        .where(LifeEvent.customer_id == customer_id, LifeEvent.occurred_on > since, LifeEvent.kind.in_(list(kinds)))
        .order_by(LifeEvent.occurred_on.desc()).limit(1)
    )


def tier_for(aum: Decimal) -> str:
    """The service tier that net assets of ``aum`` 元 fall in under the broker's CDP configuration."""
    return load_config().config.tier_of(aum)


def get_customers(session: Session, customer_ids: list[int]) -> list[Customer]:
    """The records of many customers in one read (unknown ids are left out)."""
    return list(session.scalars(select(Customer).where(Customer.id.in_(list(customer_ids))))) if customer_ids else []


def all_customer_ids(session: Session) -> list[int]:
    """Every customer's id, ascending (demo history and jobs that walk the whole customer base)."""
    return list(session.scalars(select(Customer.id).order_by(Customer.id)))


def tiers_and_managers(session: Session, customer_ids: list[int]) -> dict[int, tuple[str, int | None]]:
    """The stored service tier and dedicated manager of each customer, in one indexed read for
    a batch: the service hub routes every message on them, and the full profile (144 decoded
    features) would cost far more. A customer with no stored profile yet gets the tier computed
    now, as :func:`get_profile` does; unknown ids are absent."""
    out = {}
    for cid, tier, manager_id in session.execute(
            select(Customer.id, CustomerProfile.tier, Customer.manager_id).select_from(Customer)
            .outerjoin(CustomerProfile, CustomerProfile.customer_id == Customer.id)
            .where(Customer.id.in_(list(customer_ids)))):
        out[cid] = (tier or get_profile(session, cid).tier, manager_id)
    return out


def assign_staff(session: Session, customer_id: int, *, manager_id: int | None = None,
                 advisor_id: int | None = None) -> Customer:
    """Make a member of staff the customer's dedicated manager or assigned advisor (flushed; the
    caller commits): the relationship the security policy lets them reach the customer by."""
    customer = get_customer(session, customer_id)
    if manager_id is not None:
        customer.manager_id = manager_id
    if advisor_id is not None:
        customer.advisor_id = advisor_id
    session.flush()
    return customer


def customer_id_by(session: Session, *, customer_id: int | None = None, wechat_openid: str | None = None,
                   phone_hash: str | None = None, email: str | None = None) -> int | None:
    """The customer a channel identity proves (the service hub's identity resolution): by id, by
    WeChat openid, by the blind index of a verified phone number, or by e-mail address (case
    does not matter); the lowest id where several match. ``None``: no such customer."""
    if customer_id is not None:
        where = Customer.id == customer_id
    elif wechat_openid is not None:
        where = Customer.wechat_openid == wechat_openid
    elif phone_hash is not None:
        where = (Customer.phone_hash == phone_hash) & Customer.phone_verified.is_(True)
    elif email is not None:
        where = func.lower(Customer.email) == email.lower()
    else:
        return None
    return session.scalar(select(Customer.id).where(where).order_by(Customer.id).limit(1))


def open_customer_ids(conn: Connection) -> list[int]:
    """Ids of every customer whose account is not closed, ascending (batch engines partition them)."""
    return [r[0] for r in driver_rows(conn, select(Customer.id).where(Customer.status.notin_(NOT_OPEN))
                                      .order_by(Customer.id))]


def tiers_frame(conn: Connection) -> pl.DataFrame:
    """Every customer's stored service tier (null before the first profile run) and whether the
    account is open, one row each: reports slice by tier and count customers per tier with it."""
    return read_frame(conn, select(Customer.id, CustomerProfile.tier, Customer.status.notin_(NOT_OPEN))
                      .select_from(Customer)
                      .outerjoin(CustomerProfile, CustomerProfile.customer_id == Customer.id),
                      {"customer_id": pl.Int64, "tier": pl.String, "open": pl.Boolean})


def report_recipients(conn: Connection, *, lo: int, hi: int) -> pl.DataFrame:
    """Customers ``lo..hi`` whose account is not closed: number, name, risk level (the latest
    valid assessment, C1–C5, null without one) and investor type, for batch reports."""
    return read_frame(conn, select(Customer.id, Customer.customer_no, Customer.name, Customer.risk_level,
                                   Customer.investor_type)
                      .where(Customer.id.between(lo, hi), Customer.status.notin_(NOT_OPEN)),
                      {"customer_id": pl.Int64, "customer_no": pl.String, "name": pl.String,
                       "risk_level": pl.String, "investor_type": pl.String})


def feature_names() -> frozenset[str]:
    """The names of every profile feature (the registry's), for rule engines to check theirs."""
    from brokercare.customers.features import FEATURES

    return frozenset(f.name for f in FEATURES)


def stored_profiles(conn: Connection, *, lo: int, hi: int) -> list[dict]:
    """Customers ``lo..hi`` whose account is not closed and whose profile is stored: id, name,
    birth date, opening date, dedicated manager, tier, life stage, tags and the decoded features —
    the batch read rule engines (engagement's leads and event triggers) walk at night."""
    rows = conn.execute(
        select(Customer.id, Customer.name, Customer.birth_date, Customer.opened_on, Customer.manager_id,
               CustomerProfile.tier, CustomerProfile.life_stage, CustomerProfile.tags, CustomerProfile.features)
        .join(CustomerProfile, CustomerProfile.customer_id == Customer.id)
        .where(Customer.id.between(lo, hi), Customer.status.notin_(NOT_OPEN)).order_by(Customer.id))
    out = []
    for r in rows:
        features = r.features if isinstance(r.features, dict) else json.loads(r.features)
        tags = r.tags if isinstance(r.tags, list) else json.loads(r.tags)
        out.append({"customer_id": r.id, "name": r.name, "birth_date": r.birth_date, "opened_on": r.opened_on,
                    "manager_id": r.manager_id, "tier": r.tier, "life_stage": r.life_stage, "tags": tags,
                    "features": decode_features(features)})
    return out


def customers_at_levels(session: Session, levels: Iterable[str]) -> list[tuple[int, str]]:
    """``(id, risk level)`` of the customers whose current risk level is one of ``levels``, by id."""
    return [(r.id, r.risk_level) for r in session.execute(
        select(Customer.id, Customer.risk_level).where(Customer.risk_level.in_(list(levels))).order_by(Customer.id))]


def ids_by_customer_no(conn: Connection, customer_nos: Iterable[str]) -> dict[str, int]:
    """Customer number → id for the numbers that exist (imports resolve a file's owners in bulk)."""
    return lookup(conn, Customer.customer_no, Customer.id, customer_nos)


def get_customer_by_no(session: Session, customer_no: str) -> Customer:
    customer = session.scalar(select(Customer).where(Customer.customer_no == customer_no.strip()))
    if customer is None:
        raise NotFound(f"客户号不存在：{customer_no}", extra={"customer_no": customer_no})
    return customer


#: The tables a bulk load of column frames writes (the demo brokerage), parents first.
FRAME_TABLES = (Customer.__tablename__, FamilyMember.__tablename__, LifeEvent.__tablename__,
                BehaviourEvent.__tablename__)


def load_frames(conn: Connection, frames: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """Write column frames (``{table: {column: values}}``, ids included) into the customers'
    tables; personal data arrives encrypted, with its blind indexes. Rows written per table."""
    return bulkload.load_frames(conn, FRAME_TABLES, frames)


def id_number_hashes(session: Session) -> set[str]:
    """The blind indexes of every stored identity number (a bulk load keeps numbers unique)."""
    return set(session.scalars(select(Customer.id_number_hash)))


IMPORT_KINDS = ("customers", "behaviour_events", "family_members", "life_events")


def import_spec(kind: str = "customers") -> ImportSpec:
    """How ``brokercare import KIND FILE`` reads, checks and writes one of ``IMPORT_KINDS``."""
    specs = {"customers": loading.spec, "behaviour_events": history_loading.behaviour_events_spec,
             "family_members": history_loading.family_members_spec,
             "life_events": history_loading.life_events_spec}
    if kind not in specs:
        raise ValidationFailed(f"{kind!r}: expected one of {', '.join(IMPORT_KINDS)}")
    return specs[kind]()




@dataclass(frozen=True)
class Tag:
    key: str
    label: str
    description: str


@dataclass(frozen=True)
class Profile:
    customer_id: int
    aum: Decimal
    tier: str
    tier_label: str
    high_net_worth: bool
    life_stage: str | None
    tags: list[Tag]
    features: dict
    computed_at: datetime | None
    stored: bool


def _tags(keys: list[str], compiled: Compiled) -> list[Tag]:
    by_key = {t.key: t for t in compiled.config.tags}
    return [Tag(k, by_key[k].label if k in by_key else k, by_key[k].description if k in by_key else "")
            for k in keys]


def _profile_from_row(row: CustomerProfile, compiled: Compiled) -> Profile:
    features = row.features if isinstance(row.features, dict) else json.loads(row.features)
    tags = row.tags if isinstance(row.tags, list) else json.loads(row.tags)
    return Profile(
        customer_id=row.customer_id, aum=Decimal(row.aum).quantize(Decimal("0.01")), tier=row.tier,
        tier_label=compiled.config.tier_label(row.tier), high_net_worth=bool(row.high_net_worth),
        life_stage=row.life_stage, tags=_tags(tags, compiled), features=decode_features(features),
        computed_at=row.computed_at, stored=True,
    )


def get_profile(session: Session, customer_id: int) -> Profile:
    """The stored profile; a customer without one yet gets it computed now (not stored)."""
    get_customer(session, customer_id)
    compiled = load_config()
    row = session.get(CustomerProfile, customer_id)
    if row is not None:
        return _profile_from_row(row, compiled)
    as_of = AsOf.now()
    classified = compute_partition(session.connection(), customer_id, customer_id, as_of, compiled)
    rec = encode(classified).row(0, named=True)
    return Profile(
        customer_id=customer_id, aum=Decimal(rec["aum"]), tier=rec["tier"],
        tier_label=compiled.config.tier_label(rec["tier"]), high_net_worth=rec["high_net_worth"],
        life_stage=rec["life_stage"], tags=_tags(json.loads(rec["tags"]), compiled),
        features=decode_features(json.loads(rec["features"])), computed_at=as_of.at, stored=False,
    )


@dataclass(frozen=True)
class TierMove:
    customer_id: int
    from_tier: str | None
    to_tier: str
    aum: str


def refresh_profile(
    session: Session, customer_id: int, *, as_of: AsOf | None = None
) -> tuple[Profile, TierMove | None]:
    """Recompute and store one customer's profile in the caller's transaction.

    Returns the profile and, when the tier changed, the move (the caller publishes
    ``customer.tier_changed`` after committing: see :func:`publish_tier_move`).
    """
    get_customer(session, customer_id)
    compiled = load_config()
    as_of = as_of or AsOf.now()
    conn = session.connection()
    encoded = encode(compute_partition(conn, customer_id, customer_id, as_of, compiled))
    changes = write_profiles(conn, encoded, as_of.at)
    session.expire_all()
    move = None
    if changes.height:
        ch = changes.row(0, named=True)
        move = TierMove(customer_id, ch["from_tier"], ch["to_tier"], ch["aum"])
    return get_profile(session, customer_id), move


def publish_tier_move(move: TierMove) -> None:
    """Announce a tier change (first profiles are not changes and are not announced)."""
    if move.from_tier is None:
        return
    get_bus().publish(Event(
        type=TIER_CHANGED, customer_id=move.customer_id,
        payload={"customer_id": move.customer_id, "from_tier": move.from_tier,
                 "to_tier": move.to_tier, "aum": move.aum},
    ))


def subscribe_handlers(bus: EventBus | None = None) -> None:
    """Subscribe this domain's event handlers (profile refresh, assessed risk) to ``bus``: the API
    does it at start-up, and a command that publishes on the in-process bus does it first."""
    # The handlers call this module: imported when subscribing, they cannot close a load-time cycle.
    from brokercare.customers import handlers

    handlers.subscribe(bus)


def tier_history(session: Session, customer_id: int) -> list[TierChange]:
    get_customer(session, customer_id)
    return list(session.scalars(
        select(TierChange).where(TierChange.customer_id == customer_id)
        .order_by(TierChange.changed_at, TierChange.id)
    ).all())


def login_summary(conn: Connection, *, start: datetime, end: datetime) -> pl.DataFrame:
    """App and web use of ``[start, end)`` per customer: logins, every event (logins, page views,
    searches, reads) and the latest event — the service-quality domain's churn features; one
    grouped query, nothing after ``end`` is read."""
    return read_frame(conn, select(BehaviourEvent.customer_id, func.count().filter(BehaviourEvent.kind == "login"),
                                   func.count(), func.max(BehaviourEvent.occurred_at))
                      .where(BehaviourEvent.occurred_at >= start, BehaviourEvent.occurred_at < end)
                      .group_by(BehaviourEvent.customer_id),
                      {"customer_id": pl.Int64, "logins": pl.Int64, "visits": pl.Int64,
                       "last_visit_at": pl.Datetime("us", "UTC")})


def managers_frame(conn: Connection, *, manager_id: int | None = None) -> pl.DataFrame:
    """Every customer's dedicated manager (null without one) and whether the account is open; or
    only the customers of ``manager_id``."""
    stmt = select(Customer.id, Customer.manager_id, Customer.status != "closed")
    if manager_id is not None:
        stmt = stmt.where(Customer.manager_id == manager_id)
    return read_frame(conn, stmt, {"customer_id": pl.Int64, "manager_id": pl.Int64, "open": pl.Boolean})
