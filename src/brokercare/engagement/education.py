"""The education library and the communities as a customer meets them: their profile read
through the customers service (never its tables), turned into a :class:`library.Reader`; and the
long tail's monthly education message built from each customer's own recommendations.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from brokercare.core.errors import NotFound
from brokercare.customers.service import (
    get_customer,
    get_profile,
    report_recipients,
    stored_profiles,
)
from brokercare.engagement import communities, library


def reader_of(session: Session, customer_id: int) -> library.Reader:
    """Tier, risk level and profile tags of one customer (the stored profile, or one computed now)."""
    customer = get_customer(session, customer_id)
    profile = get_profile(session, customer_id)
    return library.Reader(profile.tier, customer.risk_level, {t.key: t.label for t in profile.tags})


@dataclass(frozen=True)
class LearnPage:
    picks: list[library.Pick]
    completion: library.Completion
    reader: library.Reader


def learn_page(session: Session, customer_id: int) -> LearnPage:
    """The customer's library: every item written for them, recommended first, and their completion."""
    reader = reader_of(session, customer_id)
    picks = library.recommend(reader, library.progress_of(session, customer_id))
    return LearnPage(picks, library.completion(session, customer_id, reader), reader)


def open_item(session: Session, customer_id: int, key: str) -> tuple[library.Item, str | None]:
    """One item for the customer, with their state on it; an item written for another tier or
    risk level is not shown (404, as if absent)."""
    item = library.library().get(key)
    if not library.suits(item, reader_of(session, customer_id)):
        raise NotFound("没有找到这篇投教内容。")
    return item, library.progress_of(session, customer_id).get(key)


@dataclass(frozen=True)
class CommunityCard:
    community: communities.Community
    host: str
    members: int
    joined: bool
    matched: list[str]  # why it suits the customer, in their words


def community_cards(session: Session, customer_id: int) -> list[CommunityCard]:
    """Every community for the customer, those matching their interests first."""
    reader = reader_of(session, customer_id)
    mine = communities.memberships(session, customer_id)
    counts = communities.member_counts(session)
    hosts = communities.hosts(session)
    return [CommunityCard(c, hosts[c.key], counts.get(c.key, 0), c.key in mine, library.reasons_for(matched, reader))
            for c, matched in communities.suggested(set(reader.tags), reader.tier)]


def post(session: Session, customer_id: int, key: str, body: str, parent_id: int | None = None):
    """A member's post or reply, through the guard (flushed)."""
    customer = get_customer(session, customer_id)
    return communities.post_as_customer(session, customer_id=customer_id, name=customer.name,
                                        risk_level=customer.risk_level, key=key, body=body, parent_id=parent_id)


def monthly_links(session: Session, ids: set[int], lo: int, hi: int) -> dict[int, list[library.Item]]:
    """For each of ``ids`` (customers ``lo..hi``), this month's education links: their top
    recommendations not finished yet (the long tail's tier service)."""
    lib = library.library()
    conn = session.connection()
    levels = dict(report_recipients(conn, lo=lo, hi=hi).select("customer_id", "risk_level").iter_rows())
    done = library.progress_many(session, sorted(ids))
    out: dict[int, list[library.Item]] = {}
    for profile in stored_profiles(conn, lo=lo, hi=hi):
        cid = profile["customer_id"]
        if cid not in ids:
            continue
        reader = library.Reader(profile["tier"], levels.get(cid), {t: t for t in profile["tags"]})
        finished = dict.fromkeys(done.get(cid, ()), "done")
        picks = [p.item for p in library.recommend(reader, finished) if p.state is None]
        out[cid] = picks[:lib.monthly_links]
    return out
