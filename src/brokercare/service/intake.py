"""Intake: an inbound message stored once in its sender's open thread, and messages taken in
batches.

:func:`ingest` stores a message (a channel's retry is recognised by its external id and comes
back as the earlier delivery); :func:`batchable` picks the messages of a batch that can share one
transaction; :class:`Intake` is the server's queue whose worker threads take whatever is waiting
as one batch (group commit).

A message costs the hub a transaction, a write lock, a ledger head update, a commit and a call of
the models; a batch of messages that arrived together shares each of those once
(:func:`brokercare.service.service.receive_many`). Nothing waits for a batch to fill: a
worker that frees up takes what is queued at that moment, so a lone message goes at once, alone,
and under load the batches grow with the queue — the latency stays about two batch times.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import anyio
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from brokercare.core.database import utcnow
from brokercare.core.errors import ValidationFailed
from brokercare.core.metrics import MESSAGES_WAITING
from brokercare.service.assistant import Analysis, analysis_record
from brokercare.service.channels import Inbound
from brokercare.service.contacts import resolve_contact
from brokercare.service.models import Contact, Conversation, Message
from brokercare.service.planner import Plan, plannable


class Intake:
    """Queue of ``items`` served by at most ``workers`` threads, each calling ``handle(batch)``
    with up to ``max_batch`` items and getting back one result (or exception) per item.

    At most ``limit`` items wait: beyond that :meth:`submit` raises ``full()`` at once (a 503 with
    Retry-After), because an overloaded server that queues without bound makes every customer
    wait, where refusing the excess keeps the answered ones fast and lets the client retry."""

    def __init__(self, handle: Callable[[list[Any]], list[Any]], *, workers: int, max_batch: int,
                 limit: int = 10_000, full: Callable[[], Exception] = lambda: OverflowError("intake full")) -> None:
        self.handle, self.workers, self.max_batch = handle, workers, max_batch
        self.limit, self.full = limit, full
        self._waiting: deque[tuple[Any, asyncio.Future]] = deque()
        self._running = 0
        self._tasks: set[asyncio.Task] = set()

    async def submit(self, item: Any) -> Any:
        """The result of ``item``'s batch for ``item``; its exception is raised here."""
        if len(self._waiting) >= self.limit:
            raise self.full()
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        MESSAGES_WAITING.inc()
        if self._running < self.workers:
            self._running += 1
            task = asyncio.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch = [self._waiting.popleft() for _ in range(min(self.max_batch, len(self._waiting)))]
                MESSAGES_WAITING.dec(len(batch))
                try:
                    results = await anyio.to_thread.run_sync(self.handle, [item for item, _ in batch])
                except Exception as exc:  # the whole batch failed: each sender hears it
                    results = [exc] * len(batch)
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():  # the client went away
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._running -= 1


# --- storing a message once ----------------------------------------------------------------------

@dataclass
class Ingested:
    conversation: Conversation
    messages: list[Message]
    duplicate: bool = False

    @property
    def first_customer_message(self) -> Message:
        return next(m for m in self.messages if m.sender == "customer")


def _open_conversation(session: Session, contact: Contact, channel: str, now: datetime) -> Conversation:
    conv = session.scalar(
        select(Conversation).where(Conversation.contact_id == contact.id, Conversation.status != "closed")
        .order_by(Conversation.id.desc()).limit(1)
    )
    if conv is None:
        conv = Conversation(contact_id=contact.id, customer_id=contact.customer_id, channel=channel,
                            status="bot", started_at=now, last_message_at=now)
        session.add(conv)
        session.flush()
    return conv


def ingest(session: Session, inbound: Inbound, *, now: datetime | None = None,
           planned: Plan | None = None, analysis: Analysis | None = None,
           checked: bool = False, flush: bool = True) -> Ingested:
    """Store an inbound message once (a channel's retry is recognised by its external id) in the
    sender's open thread; ``planned``: the contact and thread were already read for the plan;
    ``analysis``: stored with the message in the same write; ``flush=False``: the caller flushes
    a whole batch of messages at once (and meets a racing duplicate there).

    A delivery seen before (same channel and external id) comes back marked ``duplicate``. Two
    deliveries racing each other meet at the unique constraint: the loser's transaction is rolled
    back whole and :class:`AlreadyDelivered` raised (no savepoint per message for that rare race),
    so call this first in a transaction, as :func:`receive` does (``checked``: it already looked
    for an earlier delivery)."""
    now = now or utcnow()
    if not checked and (seen := delivered(session, inbound)) is not None:
        return seen
    if not inbound.customer_text:
        raise ValidationFailed("消息内容不能为空")
    if planned is not None:
        contact, conv = planned.contact, planned.conversation
        if now - contact.last_seen_at > timedelta(minutes=5):
            contact.last_seen_at = now
        if conv is None:
            conv = _open_conversation(session, contact, inbound.channel, now)
    else:
        contact = resolve_contact(session, inbound.identities, display_name=inbound.display_name, now=now)
        conv = _open_conversation(session, contact, inbound.channel, now)
    conv.channel = inbound.channel
    conv.last_message_at = now
    conv.customer_id = contact.customer_id
    if analysis is not None:
        conv.last_intent, conv.last_emotion = analysis.intent, analysis.emotion
    stored = []
    first_customer = next(i for i, p in enumerate(inbound.parts) if p.speaker == "customer")
    for i, part in enumerate(inbound.parts):
        ext = None
        if inbound.external_id:
            ext = inbound.external_id if i == 0 else f"{inbound.external_id}#{i}"
        is_customer = part.speaker == "customer"
        meta = dict(inbound.meta) if i == first_customer else {}
        if inbound.subject and i == first_customer:
            meta["subject"] = inbound.subject
        stored.append(Message(
            conversation_id=conv.id, contact_id=contact.id, direction="in" if is_customer else "out",
            sender="customer" if is_customer else "agent", channel=inbound.channel, external_id=ext,
            text=part.text, text_enc=part.original_enc, meta=meta or None, sent_at=part.at,
            created_at=now, analysis=analysis_record(analysis) if analysis is not None and i == first_customer else None,
        ))
    session.add_all(stored)
    if not flush:
        return Ingested(conv, stored)
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        if inbound.external_id and delivered(session, inbound) is not None:
            raise AlreadyDelivered(inbound.external_id) from exc
        raise
    return Ingested(conv, stored)


class AlreadyDelivered(Exception):
    """A channel delivered a message again (a retry, or the same push twice at once)."""


def delivered(session: Session, inbound: Inbound) -> Ingested | None:
    """The stored message (and its parts) of an earlier delivery of ``inbound``, if any."""
    if not inbound.external_id:
        return None
    existing = session.scalar(select(Message).where(
        Message.channel == inbound.channel, Message.external_id == inbound.external_id))
    if existing is None:
        return None
    conv = session.get(Conversation, existing.conversation_id)
    msgs = list(session.scalars(select(Message).where(
        Message.conversation_id == conv.id, Message.channel == inbound.channel,
        Message.external_id.like(inbound.external_id + "%")).order_by(Message.id)))
    return Ingested(conv, msgs, duplicate=True)


def batchable(session: Session, inbounds: list[Inbound]) -> list[int]:
    """Indexes of the messages that can share the batch's transaction: plannable, not a delivery
    seen before, at most one per customer (the next one must see the first one's thread)."""
    customers: set[int] = set()
    picked = []
    for i, inbound in enumerate(inbounds):
        customer_id = plannable(inbound)
        if customer_id is None or customer_id in customers or not inbound.customer_text:
            continue
        customers.add(customer_id)
        picked.append(i)
    deliveries = Counter((inbounds[i].channel, inbounds[i].external_id) for i in picked
                         if inbounds[i].external_id)
    if deliveries:
        seen = set(session.execute(select(Message.channel, Message.external_id).where(
            Message.channel.in_({c for c, _ in deliveries}),
            Message.external_id.in_({e for _, e in deliveries}))).all())
        picked = [i for i in picked if not inbounds[i].external_id or (
            (key := (inbounds[i].channel, inbounds[i].external_id)) not in seen and deliveries[key] == 1)]
    return picked
