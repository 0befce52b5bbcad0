"""The labelled pool: what the service desk teaches the assistant (issue 15, item 5).

The hub reports four kinds of signal through :func:`brokercare.assistant.service.learn`:

- ``wrong_intent`` — an agent marked the assistant's reading of a message wrong and picked the
  right intent: a confirmed label, by a named person, that ``brokercare nlu retrain`` trains on;
- ``agent_edit`` — the agent changed the suggested reply before sending it (the question, what the
  assistant would have said and what the agent said instead);
- ``no_kb_answer`` — the knowledge base had nothing and a person took over (the FAQ-gap list);
- ``low_csat`` — the customer scored the service 1 or 2 (the last question they asked).

Only confirmed labels train; the others carry the assistant's ``proposed_label`` until someone
confirms one (``brokercare nlu pool label``). Sentences that repeat the frozen evaluation sets are
never trained on, so a retrained model cannot score itself on what it learned.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from brokercare.assistant.models import NluFeedback
from brokercare.assistant.taxonomy import intents
from brokercare.core.database import utcnow
from brokercare.core.errors import NotFound, ValidationFailed

SOURCES = ("wrong_intent", "agent_edit", "no_kb_answer", "low_csat")
SOURCE_ZH = {"wrong_intent": "坐席纠正意图", "agent_edit": "坐席修改建议回复",
             "no_kb_answer": "知识库无答案转人工", "low_csat": "客户低分评价"}
#: CSAT scores (1–5) that count as a dissatisfied customer.
LOW_CSAT = 2


@dataclass(frozen=True)
class DeskSignal:
    """One thing the desk saw, as the hub reports it (texts are the stored, PII-masked ones)."""

    source: str
    text: str
    proposed_label: str | None = None
    label: str | None = None
    by_user_id: int | None = None
    conversation_id: int | None = None
    message_id: int | None = None
    suggested_reply: str | None = None
    sent_reply: str | None = None
    csat_score: int | None = None


def _key(signal: DeskSignal) -> str:
    """One row per message and kind of signal (per agent for marks and edits)."""
    digest = hashlib.sha256(signal.text.strip().encode()).hexdigest()[:16]
    ref = f"m{signal.message_id}" if signal.message_id is not None else f"t{digest}"
    who = f":u{signal.by_user_id}" if signal.source in ("wrong_intent", "agent_edit") else ""
    return f"{signal.source}:{ref}{who}"[:120]


def _check(signal: DeskSignal) -> str:
    if signal.source not in SOURCES:
        raise ValidationFailed(f"unknown feedback source {signal.source!r}; use one of: {', '.join(SOURCES)}")
    text = (signal.text or "").strip()
    if not text:
        raise ValidationFailed("the customer's message is empty")
    if signal.label is not None and signal.label not in intents():
        raise ValidationFailed(f"未知的意图 {signal.label!r}，请从意图列表中选择")
    if signal.source == "wrong_intent" and (signal.label is None or signal.by_user_id is None):
        raise ValidationFailed("a wrong-intent mark needs the right intent and the agent who chose it")
    return text[:2000]


def record(session: Session, signal: DeskSignal, *, now: datetime | None = None) -> NluFeedback:
    """Add the signal to the pool (in the caller's transaction); the same signal again updates its
    row — an agent who corrects a mark leaves one row with the newer label. One upsert: a hand-off
    reports here while its batch holds the hub's write gate."""
    text = _check(signal)
    now = now or utcnow()
    given = {"text": text, "proposed_label": signal.proposed_label, "labelled_by_id": signal.by_user_id}
    if signal.label is not None:
        given |= {"label": signal.label, "labelled_at": now}
    for field in ("conversation_id", "message_id", "suggested_reply", "sent_reply", "csat_score"):
        value = getattr(signal, field)
        if value is not None:
            given[field] = value[:4000] if isinstance(value, str) else value
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(NluFeedback).values(dedupe_key=_key(signal), source=signal.source, created_at=now, **given)
    table = NluFeedback.__table__.c
    # What the signal does not say keeps the row's earlier value (a later report without a
    # proposed label, or without the agent, leaves them as they were).
    stmt = stmt.on_conflict_do_update(index_elements=["dedupe_key"], set_={
        key: func.coalesce(stmt.excluded[key], table[key]) for key in given})
    with session.no_autoflush:  # the row stands alone; the caller's pending rows keep their one flush
        return session.scalars(stmt.returning(NluFeedback), execution_options={"populate_existing": True}).one()


def confirm_label(session: Session, row_id: int, label: str, *, by_user_id: int | None,
                  now: datetime | None = None) -> NluFeedback:
    """A person confirms (or corrects) the intent of a pooled sentence, so it can train."""
    row = session.get(NluFeedback, row_id)
    if row is None:
        raise NotFound(f"no pooled sentence {row_id}")
    if label not in intents():
        raise ValidationFailed(f"unknown intent {label!r}; `brokercare nlu pool intents` lists them")
    row.label, row.labelled_by_id, row.labelled_at = label, by_user_id, now or utcnow()
    session.flush()
    return row


def rows(session: Session, *, source: str | None = None, labelled: bool | None = None,
         since: datetime | None = None, limit: int = 200) -> list[NluFeedback]:
    stmt = select(NluFeedback)
    if source:
        stmt = stmt.where(NluFeedback.source == source)
    if labelled is not None:
        stmt = stmt.where(NluFeedback.label.is_not(None) if labelled else NluFeedback.label.is_(None))
    if since is not None:
        stmt = stmt.where(NluFeedback.created_at >= since)
    return list(session.scalars(stmt.order_by(NluFeedback.id.desc()).limit(limit)))


def counts(session: Session) -> dict[str, dict[str, int]]:
    """Rows per source: all, and those with a confirmed label."""
    out = {s: {"rows": 0, "labelled": 0} for s in SOURCES}
    stmt = select(NluFeedback.source, func.count(), func.count(NluFeedback.label)).group_by(NluFeedback.source)
    for source, n, labelled in session.execute(stmt):
        out.setdefault(source, {"rows": 0, "labelled": 0}).update(rows=n, labelled=labelled)
    return out


def labelled_examples(session: Session) -> list[tuple[str, str]]:
    """``(text, intent)`` of every confirmed label, oldest first; a sentence labelled twice keeps
    its newest label."""
    latest: dict[str, str] = {}
    stmt = (select(NluFeedback.text, NluFeedback.label).where(NluFeedback.label.is_not(None))
            .order_by(NluFeedback.labelled_at, NluFeedback.id))
    for text, label in session.execute(stmt):
        latest[text] = label
    return list(latest.items())


def unanswered_questions(session: Session, *, since: datetime | None = None,
                         limit: int = 5000) -> list[NluFeedback]:
    """Hand-offs the knowledge base could not answer, newest first."""
    return rows(session, source="no_kb_answer", since=since, limit=limit)
