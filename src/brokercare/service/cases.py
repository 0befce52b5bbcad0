"""Resolved cases, searchable by meaning: what the hand-off summary shows as 相似案例.

When a ticket is resolved, the customer's problem (its subject and description) becomes a sentence
vector from the assistant's encoder (through the hub's :mod:`~brokercare.service.assistant` port;
the hub never imports the assistant's internals) and is stored with the ticket number, subject and
resolution — masked when written, so the summary can never show another customer's name or phone.
A reopened ticket stops being a case until it is resolved again. ``brokercare service cases
reindex`` builds the vectors of tickets resolved before (or with another encoder).

The search runs while a hand-off is planned, not under the write gate: at most one encode of the
message (none when the knowledge-base search just encoded it, none when no case could match), and
one matrix-vector product over the recent cases of the intent's skill group (the same category
ranked first), from a per-process index that picks up only the rows changed since it last looked,
at most once a second.

Threshold: cosine ≥ :data:`SIMILARITY_MIN` (0.85), chosen on the encoder's held-out calibration
splits (ATEC 5 %, customer-service questions of real users; LCQMC dev 25 %), never on the tests:
there 0.85 keeps 77 % (ATEC) and 88 % (LCQMC) of same-meaning pairs while 0.3 % and 0.1 % of
random pairs pass; the F1-best cut (0.87–0.88) is a paraphrase decision, and a case with the same
kind of problem in the same skill group is a hint worth a little less strictness.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from brokercare.customers import service as customers
from brokercare.security.service import mask_name, redact_typed_pii
from brokercare.service import assistant as hub_assistant
from brokercare.service.assistant import Analysis, intent_skill
from brokercare.service.models import CaseVector, Ticket

#: Cosine at or above which a resolved case counts as similar (see the module docstring).
SIMILARITY_MIN = 0.85
#: The summary shows at most this many cases.
SHOWN = 3
#: The index holds the most recent resolved cases only (a year of a large desk's margin cases).
MAX_CASES = 20_000
#: What a summary shows of a resolution (the rest is in the ticket).
RESOLUTION_CHARS = 60
#: A process asks the database whether cases changed at most this often.
RECHECK_S = 1.0
#: Rows written by a transaction that committed late (its ``indexed_at`` before what a process
#: saw) are still picked up: each refresh re-reads this much before its mark.
OVERLAP = timedelta(seconds=10)
#: And the whole index is read again this often (trims it to the recent cases, catches the rest).
RELOAD_S = 600.0
RESOLVED_STATES = ("resolved", "closed")
_PREFIX = re.compile(r"^[^：:]{1,16}[：:]")


@dataclass(frozen=True)
class SimilarCase:
    ticket_no: str
    subject: str
    resolution: str
    similarity: float

    def as_dict(self) -> dict:
        return {"ticket_no": self.ticket_no, "subject": self.subject, "resolution": self.resolution,
                "similarity": round(self.similarity, 3)}


def problem_text(subject: str, description: str) -> str:
    """The customer's problem as the encoder reads it: the subject without its category prefix
    ("维持担保比例：…", written by routing) and the description unless it only repeats it. The
    encoder reads the first 64 characters, so the customer's own words come first."""
    about = _PREFIX.sub("", subject or "", count=1).strip()
    description = (description or "").strip()
    if not about:
        return description
    if description.startswith(about.rstrip("…")):
        return description
    return f"{about}。{description}" if description else about


def _masked(text: str, names: Iterable[str]) -> str:
    """Typed ID, card and phone numbers masked, the customer's name masked (``张**``)."""
    text = redact_typed_pii(text or "").text
    for name in names:
        if name and len(name) >= 2:
            text = text.replace(name, mask_name(name))
    return text


def _cut(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n] + "…"


def _names(session: Session, customer_ids: Iterable[int | None]) -> dict[int, str]:
    ids = sorted({c for c in customer_ids if c is not None})
    return {c.id: c.name for c in customers.get_customers(session, ids)} if ids else {}


def _row(ticket: Ticket, vector: np.ndarray, model: str, name: str | None) -> dict:
    names = [name] if name else []
    return {
        "contact_id": ticket.contact_id, "ticket_no": ticket.ticket_no, "category": ticket.category,
        "subject": _masked(ticket.subject, names)[:120],
        "resolution": _cut(_masked(ticket.resolution or "", names), RESOLUTION_CHARS * 2),
        "vector": np.asarray(vector, dtype="<f2").tobytes(), "encoder": model, "active": True,
        "resolved_at": ticket.resolved_at or ticket.updated_at, "indexed_at": datetime.now(UTC),
    }


def _store(session: Session, ticket_id: int, values: dict) -> None:
    row = session.get(CaseVector, ticket_id)
    if row is None:
        session.add(CaseVector(ticket_id=ticket_id, **values))
    else:
        for k, v in values.items():
            setattr(row, k, v)


def case_resolved(session: Session, ticket: Ticket) -> bool:
    """Make a just-resolved ticket a searchable case (in the caller's transaction). ``False``:
    the process runs without an assistant, so there is no vector; ``cases reindex`` makes it later."""
    got = hub_assistant.embed([problem_text(ticket.subject, ticket.description)])
    if got is None:
        return False
    vectors, model = got
    _store(session, ticket.id, _row(ticket, vectors[0], model, _names(session, [ticket.customer_id]).get(
        ticket.customer_id)))
    cases_changed()
    return True


def case_reopened(session: Session, ticket_id: int) -> None:
    """A reopened ticket is no longer a resolved case (its row stays, inactive, until resolved again)."""
    row = session.get(CaseVector, ticket_id)
    if row is not None and row.active:
        row.active, row.indexed_at = False, datetime.now(UTC)
        cases_changed()


@dataclass
class Reindexed:
    embedded: int = 0
    current: int = 0  # already had a vector of this encoder
    dropped: int = 0  # rows of tickets no longer resolved


def reindex(session: Session, *, everything: bool = False, batch: int = 256,
            progress: Callable[[int, int], None] | None = None) -> Reindexed:
    """(Re)build the vectors of resolved and closed tickets: those without one, or made by another
    encoder (``everything``: all of them); rows of tickets since reopened are deactivated. Commits
    nothing: the caller's transaction. ``progress(done, total)`` after each batch."""
    model = hub_assistant.embedding_model()
    if model is None:
        raise RuntimeError("no assistant is wired into this process: cannot embed cases")
    out = Reindexed()
    have = {t: enc for t, enc in session.execute(select(CaseVector.ticket_id, CaseVector.encoder).where(
        CaseVector.active.is_(True)))}
    resolved = list(session.scalars(select(Ticket.id).where(
        Ticket.status.in_(RESOLVED_STATES), Ticket.resolution.is_not(None)).order_by(Ticket.id)))
    keep = set(resolved)
    for ticket_id in have.keys() - keep:
        case_reopened(session, ticket_id)
        out.dropped += 1
    todo = [t for t in resolved if everything or have.get(t) != model]
    out.current = len(resolved) - len(todo)
    for start in range(0, len(todo), batch):
        chunk = list(session.scalars(select(Ticket).where(Ticket.id.in_(todo[start:start + batch])).order_by(Ticket.id)))
        vectors = hub_assistant.embed([problem_text(t.subject, t.description) for t in chunk])[0]
        names = _names(session, [t.customer_id for t in chunk])
        for ticket, vector in zip(chunk, vectors, strict=True):
            _store(session, ticket.id, _row(ticket, vector, model, names.get(ticket.customer_id)))
        session.flush()
        out.embedded += len(chunk)
        if progress is not None:
            progress(out.embedded, len(todo))
    cases_changed()
    return out


# -- the per-process index ----------------------------------------------------------------------


@dataclass
class _Group:
    """The cases of one skill group as one matrix (rows of unit length) and what to show of each."""

    vectors: np.ndarray
    categories: np.ndarray
    shown: list[tuple[str, str, str]]  # ticket_no, subject, resolution


@dataclass
class CaseIndex:
    model: str
    cases: dict[int, tuple] = field(default_factory=dict)  # ticket_id → (group, category, shown, vector, resolved_at)
    groups: dict[str, _Group] = field(default_factory=dict)  # built on first search after a change
    mark: datetime | None = None  # the newest indexed_at seen
    checked: float = 0.0
    loaded: float = 0.0

    def apply(self, rows: Iterable) -> None:
        touched = set()
        for r in rows:
            old = self.cases.pop(r.ticket_id, None)
            if old is not None:
                touched.add(old[0])
            if r.active and r.encoder == self.model:
                vector = np.frombuffer(r.vector, dtype="<f2").astype(np.float32)
                vector /= max(float(np.linalg.norm(vector)), 1e-9)
                group = group_of(r.category)
                self.cases[r.ticket_id] = (group, r.category, (r.ticket_no, r.subject, r.resolution), vector,
                                           r.resolved_at)
                touched.add(group)
            if self.mark is None or r.indexed_at > self.mark:
                self.mark = r.indexed_at
        if len(self.cases) > MAX_CASES * 1.1:  # keep the recent ones
            keep = sorted(self.cases, key=lambda t: self.cases[t][4], reverse=True)[:MAX_CASES]
            self.cases = {t: self.cases[t] for t in keep}
            touched = set(self.groups)
        for group in touched:
            self.groups.pop(group, None)

    def group(self, name: str) -> _Group | None:
        got = self.groups.get(name)
        if got is None:
            members = [c for c in self.cases.values() if c[0] == name]
            if not members:
                return None
            got = _Group(np.stack([c[3] for c in members]), np.array([c[1] for c in members]),
                         [c[2] for c in members])
            self.groups[name] = got
        return got


_COLUMNS = (CaseVector.ticket_id, CaseVector.ticket_no, CaseVector.category, CaseVector.subject,
            CaseVector.resolution, CaseVector.vector, CaseVector.encoder, CaseVector.active,
            CaseVector.resolved_at, CaseVector.indexed_at)
_indexes: dict[str, CaseIndex] = {}
_lock = threading.Lock()


def group_of(category: str) -> str:
    """Cases are compared within the skill group of their intent (维持担保比例 and 追保与平仓 are
    one margin desk's problems, and a customer's wording often sits between the two intents)."""
    return intent_skill(category) or category


def case_index(session: Session, model: str) -> CaseIndex:
    """This process's index of the database's recent resolved cases for ``model``'s vectors,
    brought up to date at most once a second (only the rows changed since are read)."""
    key = f"{session.get_bind().url}|{model}"
    with _lock:
        index = _indexes.get(key)
        now = time.monotonic()
        if index is not None and now - index.checked < RECHECK_S:
            return index
        if index is None or now - index.loaded > RELOAD_S:
            index = CaseIndex(model, loaded=now)
            index.apply(session.execute(select(*_COLUMNS).where(CaseVector.active.is_(True)).order_by(
                CaseVector.resolved_at.desc()).limit(MAX_CASES)))
            index.mark = session.scalar(select(func.max(CaseVector.indexed_at)))
            _indexes.clear()  # one database per process; an old one's index is not kept
            _indexes[key] = index
        else:
            newest = session.scalar(select(func.max(CaseVector.indexed_at)))
            if newest is not None and (index.mark is None or newest > index.mark):
                since = (index.mark or newest) - OVERLAP
                index.apply(session.execute(select(*_COLUMNS).where(CaseVector.indexed_at > since)))
        index.checked = time.monotonic()
        return index


def cases_changed() -> None:
    """This process wrote cases: its next search looks at the database again."""
    for index in _indexes.values():
        index.checked = 0.0


def similar_cases(session: Session, analysis: Analysis, text: str, *, exclude: Iterable[str] = ()) -> list[SimilarCase]:
    """Up to :data:`SHOWN` resolved cases like the customer's message ``text`` (its analysis gives
    the intent): in the intent's skill group, cosine ≥ :data:`SIMILARITY_MIN`, the same category
    first and then by similarity; ``exclude``: ticket numbers left out (the customer's open ones)."""
    model = hub_assistant.embedding_model()
    if model is None:
        return []
    group = case_index(session, model).group(group_of(analysis.intent))
    if group is None:  # nothing to compare with: no encode
        return []
    query = hub_assistant.embed([analysis.text or text])[0][0]
    scores = group.vectors @ query
    # The same category first: a cosine is at most 1, so +1 ranks every such case above the rest.
    rank = np.where(scores >= SIMILARITY_MIN, scores + (group.categories == analysis.intent), -np.inf)
    skip = set(exclude)
    k = min(SHOWN + len(skip), len(rank))
    top = np.argpartition(-rank, k - 1)[:k]
    order = [j for j in top[np.argsort(-rank[top], kind="stable")] if rank[j] > -np.inf]
    out = []
    for j in order:
        ticket_no, subject, resolution = group.shown[j]
        if ticket_no in skip:
            continue
        out.append(SimilarCase(ticket_no, subject, _cut(resolution, RESOLUTION_CHARS), float(scores[j])))
        if len(out) == SHOWN:
            break
    return out


def similar_line(similar: list[dict]) -> str:
    """The summary's sentence about them: 相似案例：TK…「…」→ 处理：…；…。"""
    return "相似案例：" + "；".join(f"{c['ticket_no']}「{c['subject']}」→ 处理：{c['resolution'].rstrip('。')}"
                                  for c in similar) + "。"
