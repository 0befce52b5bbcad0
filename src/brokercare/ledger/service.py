"""Append to the tamper-evident ledger, prove inclusion and consistency, and verify everything.

Every entry is a leaf of an RFC 6962 Merkle tree. Its body (the exact bytes hashed) is canonical
JSON of its index, kind, subject, time and data; the row also stores the leaf hash, the tree head
after the entry, and an Ed25519 signature over that tree head. A signed checkpoint is stored every
:data:`CHECKPOINT_EVERY` entries and on demand.

``verify`` trusts nothing in the database: it recomputes every leaf and every tree head, checks every
signature with the key held outside the database, and names the first entry that does not hold.
Someone who rewrites a row and recomputes its hashes still cannot produce the signatures, so
edits, deletions, insertions and reorderings are all found, and located.

Personal data never enters the ledger in clear: :func:`append` refuses data that carries an ID
number, phone or bank-card number, or a field named like one; reference people by id and by hash.
"""

from __future__ import annotations

import json
import re
import weakref
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import Connection, Engine, Row, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from brokercare.core.database import utcnow
from brokercare.core.errors import NotFound, ValidationFailed
from brokercare.ledger import merkle, witness
from brokercare.ledger.models import LedgerCheckpoint, LedgerEntry, LedgerHead
from brokercare.ledger.signing import get_signer, key_id_of, tree_head_message, verify_signature

CHECKPOINT_EVERY = 256
KIND_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
_PII_KEYS = frozenset({
    "id_number", "id_no", "id_card", "phone", "mobile", "telephone", "bank_card", "card_no",
    "card_number", "address", "email", "password", "name", "customer_name", "real_name",
})
_ALNUM = "0-9A-Za-z"
_HEX_DIGEST = re.compile(r"^[0-9a-f]{32,128}$")
_PII_PATTERNS = (
    ("an ID number", re.compile(rf"(?<![{_ALNUM}])\d{{17}}[\dXx](?![{_ALNUM}])")),
    ("a mobile number", re.compile(rf"(?<![{_ALNUM}])(?:\+?86[- ]?)?1[3-9]\d{{9}}(?![{_ALNUM}])")),
    ("a bank card number", re.compile(rf"(?<![{_ALNUM}])\d{{16,19}}(?![{_ALNUM}])")),
)


def _timestamp(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return _timestamp(value) if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def canonical_json(obj: object) -> str:
    """Sorted keys, no spaces, UTF-8 kept as is: the same data always gives the same bytes."""
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=_json_default)


def _check_no_pii(value: object, path: str = "data") -> None:
    found = _pii_in(value)
    if found is not None:
        raise ValidationFailed(f"{path}{found[0]}{found[1]}")


# Every pattern above needs eleven digits in a row: a string without them is clean at one search.
_DIGIT_RUN = re.compile(r"\d{11}")


def _pii_in(value: object) -> tuple[str, str] | None:
    """Where in ``value`` personal data sits (the path below it, the complaint), or ``None``.
    Every routed message appends an entry, so the clean case is kept cheap: paths are spelt out
    only for the value that fails."""
    if isinstance(value, dict):
        for k, v in value.items():
            key = str(k).lower()
            if key in _PII_KEYS and not (isinstance(v, str) and _HEX_DIGEST.match(v)):
                return f".{k}", (": personal data goes into the ledger only as an id and a hash "
                                 f"(use e.g. '{key}_hash' or 'customer_id')")
            if (found := _pii_in(v)) is not None:
                return f".{k}{found[0]}", found[1]
    elif isinstance(value, (list, tuple, set, frozenset)):
        for i, v in enumerate(value):
            if (found := _pii_in(v)) is not None:
                return f"[{i}]{found[0]}", found[1]
    elif isinstance(value, str) and _DIGIT_RUN.search(value):
        for what, pattern in _PII_PATTERNS:
            if pattern.search(value):
                return "", f" looks like {what}: record an id and a hash instead"
    return None


_HEAD = LedgerHead.__table__
_ENTRIES = LedgerEntry.__table__
# Built once: appends are a hot path and these compile to cached SQL.
_LOCK = (update(_HEAD).where(_HEAD.c.id == 1).values(updated_at=bindparam("now"))
         .returning(_HEAD.c.size, _HEAD.c.compact_range))
_READ_HEAD = select(_HEAD.c.size, _HEAD.c.compact_range).where(_HEAD.c.id == 1)
_INSERT_ENTRY = insert(_ENTRIES)
_ADVANCE = update(_HEAD).where(_HEAD.c.id == 1).values(
    size=bindparam("new_size"), compact_range=bindparam("nodes"), updated_at=bindparam("now"))


@dataclass(frozen=True)
class AppendedEntry:
    """What :func:`append` wrote: ``id`` (= ``index``) is the entry's position in the ledger."""

    id: int
    kind: str
    subject: str
    leaf_hash: str
    tree_root: str
    created_at: datetime

    @property
    def index(self) -> int:
        return self.id


def _lock_head(conn: Connection) -> tuple[int, str]:
    """Take the append lock (the head row) and return the head's size and compact range.

    The UPDATE comes first: on PostgreSQL it row-locks the head until commit; on SQLite it takes the
    database write lock. Either way the head it returns is the latest committed one and no other
    appender can interleave, so indexes are gap-free and every tree head is sequential.
    """
    now = utcnow()
    row = conn.execute(_LOCK, {"now": now}).first()
    if row is None:
        conn.execute(insert(_HEAD).values(id=1, size=0, compact_range="", updated_at=now))
        row = conn.execute(_READ_HEAD).one()
    return row.size, row.compact_range


def _compact(size: int, compact_range: str) -> merkle.CompactRange:
    nodes = [bytes.fromhex(h) for h in compact_range.split(",") if h]
    return merkle.CompactRange(size, nodes)


def _checked(kind: str, subject: str, data: dict) -> None:
    if not isinstance(kind, str) or not KIND_RE.match(kind) or len(kind) > 48:
        raise ValidationFailed(f"ledger kind {kind!r} must be dotted lower-case, e.g. 'ticket.state_changed'")
    if not isinstance(subject, str) or not subject.strip() or len(subject) > 96:
        raise ValidationFailed("ledger subject must be 1-96 characters, e.g. 'ticket:123'")
    if not isinstance(data, dict):
        raise ValidationFailed("ledger data must be a JSON object")
    _check_no_pii(data)
    _check_no_pii(subject, "subject")
    try:
        canonical_json(data)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(f"ledger data is not JSON-serialisable: {exc}") from exc


def append(session: Session, kind: str, subject: str, data: dict) -> AppendedEntry:
    """Append one entry in the caller's transaction; it becomes durable when the caller commits.

    ``kind`` is dotted (``ticket.state_changed``), ``subject`` names what it is about
    (``ticket:123``, ``customer:42``). Appends are serialised on the head row, so call this late
    in a transaction that does other work. Returns the entry written (``entry.id`` is its index).
    """
    return append_many(session, [(kind, subject, data)])[0]


def append_many(session: Session, entries: list[tuple[str, str, dict]]) -> list[AppendedEntry]:
    """Append ``(kind, subject, data)`` entries in order, in the caller's transaction, under one
    take of the head lock and one head update (a batch of routed messages commits together).

    Every entry is a leaf of its own with its own signed tree head, exactly as if appended one
    by one; all are checked before anything is written, so a refused entry writes none.
    """
    for kind, subject, data in entries:
        _checked(kind, subject, data)
    if not entries:
        return []
    signer = get_signer()
    session.flush()  # the caller's pending rows first: they precede the lock in this transaction
    conn = session.connection()
    size, compact_range = _lock_head(conn)
    tree = _compact(size, compact_range)
    now = utcnow()
    rows, written, checkpoints = [], [], []
    for index, (kind, subject, data) in enumerate(entries, start=size):
        body = canonical_json({"at": _timestamp(now), "data": data, "index": index, "kind": kind,
                               "subject": subject})
        leaf = merkle.leaf_hash(body.encode("utf-8"))
        tree.append(leaf)
        root_hex = tree.root().hex()
        rows.append({
            "id": index, "kind": kind, "subject": subject, "body": body, "leaf_hash": leaf.hex(),
            "tree_root": root_hex, "key_id": signer.key_id,
            "signature": signer.sign(tree_head_message(index + 1, root_hex)), "created_at": now,
        })
        written.append(AppendedEntry(index, kind, subject, leaf.hex(), root_hex, now))
        if (index + 1) % CHECKPOINT_EVERY == 0:
            checkpoints.append((index + 1, root_hex))
    conn.execute(_INSERT_ENTRY, rows)
    conn.execute(_ADVANCE, {"new_size": size + len(rows), "nodes": ",".join(n.hex() for n in tree.nodes),
                            "now": now})
    for tree_size, root_hex in checkpoints:
        _store_checkpoint(session, tree_size, root_hex)
    return written


def _store_checkpoint(session: Session, size: int, root_hex: str) -> LedgerCheckpoint:
    signer = get_signer()
    signed_at = utcnow()
    cp = LedgerCheckpoint(
        tree_size=size, root_hash=root_hex, signed_at=signed_at, key_id=signer.key_id,
        public_key=signer.public_hex,
        signature=signer.sign(tree_head_message(size, root_hex, _timestamp(signed_at))),
    )
    session.add(cp)
    session.flush()
    witness.hold(session, checkpoint_dict(cp))
    return cp


def size(session: Session) -> int:
    """Entries in the ledger: one past the highest index (an index lookup; ``verify`` checks for gaps)."""
    top = session.scalar(select(func.max(_ENTRIES.c.id)))
    return 0 if top is None else top + 1


def get_entry(session: Session, index: int) -> LedgerEntry:
    entry = session.get(LedgerEntry, index)
    if entry is None:
        raise NotFound(f"ledger entry {index} does not exist")
    return entry


def _signed_head(session: Session, tree_size: int) -> LedgerEntry:
    """The entry closing a tree of ``tree_size``, whose signed tree head we vouch for."""
    if tree_size < 1:
        raise ValidationFailed("tree size must be at least 1")
    entry = session.get(LedgerEntry, tree_size - 1)
    if entry is None:
        raise NotFound(f"the ledger has fewer than {tree_size} entries")
    signer = get_signer()
    if not verify_signature(signer.public_raw, tree_head_message(tree_size, entry.tree_root), entry.signature):
        raise ValidationFailed(f"the tree head at size {tree_size} fails its signature: run `brokercare ledger verify`")
    return entry


def checkpoint_dict(cp: LedgerCheckpoint) -> dict:
    return {
        "tree_size": cp.tree_size, "root_hash": cp.root_hash, "signed_at": _timestamp(cp.signed_at),
        "key_id": cp.key_id, "public_key": cp.public_key, "signature": cp.signature,
        "algorithm": "Ed25519", "message": tree_head_message(cp.tree_size, cp.root_hash, _timestamp(cp.signed_at)).decode(),
    }


def checkpoint(session: Session, *, create: bool = True) -> LedgerCheckpoint | None:
    """The latest signed checkpoint; with ``create``, sign one for the current size if it is newer."""
    latest = session.scalars(select(LedgerCheckpoint).order_by(LedgerCheckpoint.tree_size.desc()).limit(1)).first()
    n = size(session)
    if create and n > 0 and (latest is None or latest.tree_size < n):
        head = _signed_head(session, n)
        latest = _store_checkpoint(session, n, head.tree_root)
    return latest


# Hashes of complete, aligned subtrees of at least CACHE_MIN leaves never change (the ledger only
# grows), so they are kept per database for the life of the process: after the first proof, a proof
# reads only the leaves of two 256-leaf blocks and O(log n) cached nodes, whatever the ledger size.
CACHE_MIN = 256
_node_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class _StoredTree:
    """MTH over ranges of the stored leaf hashes, loading leaves lazily by 256-leaf blocks."""

    def __init__(self, session: Session, tree_size: int) -> None:
        bind = session.get_bind()
        engine = bind if isinstance(bind, Engine) else bind.engine
        self.session = session
        self.size = tree_size
        self.nodes: dict[tuple[int, int], bytes] = _node_cache.setdefault(engine, {})
        self.leaves: dict[int, bytes] = {}
        self.blocks: set[int] = set()

    def _ensure(self, lo: int, hi: int) -> None:
        missing = [b for b in range(lo // CACHE_MIN, (hi - 1) // CACHE_MIN + 1) if b not in self.blocks]
        if not missing:
            return
        start, stop = missing[0] * CACHE_MIN, min((missing[-1] + 1) * CACHE_MIN, self.size)
        rows = self.session.execute(
            select(_ENTRIES.c.id, _ENTRIES.c.leaf_hash).where(_ENTRIES.c.id >= start, _ENTRIES.c.id < stop)
        ).all()
        if len(rows) != stop - start:
            raise ValidationFailed(f"the ledger is missing entries in {start}..{stop - 1}: run `brokercare ledger verify`")
        for i, h in rows:
            self.leaves[i] = bytes.fromhex(h)
        self.blocks.update(missing)

    def leaf(self, i: int) -> bytes:
        if i not in self.leaves:
            self._ensure(i, i + 1)
        return self.leaves[i]

    def mth(self, lo: int, hi: int) -> bytes:
        n = hi - lo
        if n == 0:
            return merkle.EMPTY_ROOT
        if n == 1:
            return self.leaf(lo)
        cacheable = n >= CACHE_MIN and n & (n - 1) == 0
        if cacheable and (lo, n) in self.nodes:
            return self.nodes[(lo, n)]
        if (cacheable and n <= 1 << 16) or n <= CACHE_MIN:
            self._ensure(lo, hi)  # computing it afresh: one query for the range, not one per block
        k = merkle.split_point(n)
        h = merkle.node_hash(self.mth(lo, lo + k), self.mth(lo + k, hi))
        if cacheable:
            self.nodes[(lo, n)] = h
        return h


def inclusion(session: Session, index: int, tree_size: int | None = None) -> dict:
    """The audit path of entry ``index`` in the tree of ``tree_size`` (default: the whole ledger)."""
    n = size(session)
    tree_size = n if tree_size is None else tree_size
    if tree_size > n:
        raise ValidationFailed(f"tree size {tree_size} exceeds the ledger size {n}")
    if not 0 <= index < tree_size:
        raise ValidationFailed(f"entry {index} is not in a tree of size {tree_size}")
    head = _signed_head(session, tree_size)
    tree = _StoredTree(session, tree_size)
    proof = merkle.inclusion_proof_from(index, tree_size, tree.mth)
    return {
        "index": index, "tree_size": tree_size, "leaf_hash": tree.leaf(index).hex(),
        "audit_path": [p.hex() for p in proof], "root_hash": head.tree_root,
        "signature": head.signature, "key_id": head.key_id,
        "signed_message": tree_head_message(tree_size, head.tree_root).decode(),
    }


def inclusion_holds(proof: dict, body: str | None = None) -> bool:
    """Check an :func:`inclusion` proof as an outside verifier would: the leaf is the hash of
    ``body`` (when given) and the audit path leads from it to the proof's signed root."""
    leaf = bytes.fromhex(proof["leaf_hash"])
    if body is not None and merkle.leaf_hash(body.encode("utf-8")) != leaf:
        return False
    return merkle.verify_inclusion(proof["index"], proof["tree_size"], leaf,
                                   [bytes.fromhex(p) for p in proof["audit_path"]], bytes.fromhex(proof["root_hash"]))


def consistency(session: Session, first: int, second: int) -> dict:
    """Proof that the ledger at size ``first`` is a prefix of the ledger at size ``second``."""
    n = size(session)
    if not 1 <= first <= second <= n:
        raise ValidationFailed(f"need 1 <= first <= second <= {n} (ledger size), got first={first} second={second}")
    h1, h2 = _signed_head(session, first), _signed_head(session, second)
    proof = merkle.consistency_proof_from(first, second, _StoredTree(session, second).mth)
    return {
        "first": first, "second": second, "first_root": h1.tree_root, "second_root": h2.tree_root,
        "proof": [p.hex() for p in proof],
        "first_signature": h1.signature, "second_signature": h2.signature, "key_id": h2.key_id,
    }



@dataclass
class VerifyReport:
    ok: bool
    size: int
    checkpoints: int
    root_hash: str
    first_bad_index: int | None = None
    problem: str | None = None  # edited, deleted, inserted, reordered, forged, truncated
    detail: str | None = None
    key_id: str | None = None
    issues: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _body_index(body: str) -> int | None:
    try:
        value = json.loads(body).get("index")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) else None


def _classify(session: Session, k: int, found: str, detail: str) -> tuple[int, str, str]:
    """Tell an edit from an insertion, a deletion or a reordering at the first bad index ``k``.

    Each body records the index it was signed at, so the rows from ``k`` on show where each came from:
    a permutation of ``k..`` is a reordering; the entry signed at ``k`` found one place later is an
    insertion; entries from further on pulled down is a deletion with renumbering.
    """
    rows = session.execute(select(LedgerEntry.id, LedgerEntry.body).where(LedgerEntry.id >= k).order_by(LedgerEntry.id)).all()
    signed = [_body_index(body) for _, body in rows]
    if not rows:
        return k, "edited", detail
    first = signed[0]
    if len(signed) > 1 and signed[1] == k and first != k + 1:
        return k, "inserted", f"entry {k} was inserted: the entry signed at {k} now sits at {k + 1}"
    if first != k and sorted(x for x in signed if x is not None) == list(range(k, k + len(rows))):
        where = signed.index(k) + k if k in signed else None
        return k, "reordered", (f"entry {k} holds the entry signed at {first}"
                                + (f"; the entry signed at {k} sits at {where}" if where is not None else "")
                                + ": rows were reordered")
    if first is not None and first > k:
        return k, "deleted", (f"entry {k} holds the entry signed at {first}: "
                              f"{first - k} entr{'y was' if first - k == 1 else 'ies were'} deleted and the rest renumbered")
    if found == "forged" and len(rows) == 1:
        return k, "edited", (f"entry {k} (the last) is not signed by the ledger key: "
                             "edited, or appended behind the ledger's back")
    if found == "forged":
        return k, "edited", f"entry {k} was changed after it was written (hashes recomputed, signature does not match)"
    return k, "edited", detail or f"entry {k} was changed after it was written"


def _first_unsigned(session: Session, lo: int, hi: int, trusted: bytes, trusted_id: str) -> int | None:
    """The first entry in ``[lo, hi)`` whose tree head is not signed by the trusted key."""
    rows = session.execute(
        select(_ENTRIES.c.id, _ENTRIES.c.tree_root, _ENTRIES.c.key_id, _ENTRIES.c.signature)
        .where(_ENTRIES.c.id >= lo, _ENTRIES.c.id < hi).order_by(_ENTRIES.c.id)
    )
    for row in rows:
        if row.key_id != trusted_id or not verify_signature(
            trusted, tree_head_message(row.id + 1, row.tree_root), row.signature
        ):
            return row.id
    return None


def verify(session: Session, *, public_key: bytes | None = None, full: bool = False,
           batch: int = 5000) -> VerifyReport:
    """Recompute every leaf and tree head, check signatures and checkpoints; name the first bad entry.

    Every entry's body, leaf hash and tree head are recomputed. Signatures: each signed checkpoint
    vouches for everything below it, so by default only the checkpoints and the entries after the
    last one are signature-checked, and when a checkpoint disagrees the entries since the previous
    one are checked one by one to find the first the key did not sign. ``full=True`` checks every
    entry's signature (the same verdict, slower; useful when checkpoints themselves are in doubt).
    """
    trusted = public_key or get_signer().public_raw
    trusted_id = key_id_of(trusted)
    issues: list[str] = []
    anchors = _trusted_checkpoints(session, trusted, trusted_id, issues)
    walk = _walk(session, anchors, trusted, trusted_id, issues, full=full, batch=batch)
    bad, expected, tree, verified_cps = walk.bad, walk.size, walk.tree, walk.checkpoints
    if bad is not None and bad[1] in ("misplaced", "forged", "edited"):
        bad = _classify(session, bad[0], bad[1], bad[2])
    if bad is None:
        bad = _truncation(session, anchors, expected, issues)

    report = VerifyReport(
        ok=bad is None and not issues, size=expected if bad is None else bad[0], checkpoints=verified_cps,
        root_hash=tree.root().hex(), key_id=trusted_id, issues=issues,
    )
    if bad is not None:
        report.first_bad_index, report.problem, report.detail = bad
    return report


def _trusted_checkpoints(session: Session, trusted: bytes, trusted_id: str, issues: list[str]) -> dict[int, str]:
    """Tree size → root of every checkpoint the trusted key signed (the others become issues)."""
    anchors: dict[int, str] = {}
    for cp in session.scalars(select(LedgerCheckpoint).order_by(LedgerCheckpoint.tree_size)):
        message = tree_head_message(cp.tree_size, cp.root_hash, _timestamp(cp.signed_at))
        if cp.key_id == trusted_id and verify_signature(trusted, message, cp.signature):
            anchors[cp.tree_size] = cp.root_hash
        else:
            issues.append(f"checkpoint at size {cp.tree_size} fails its signature (ignored as an anchor)")
    return anchors


@dataclass
class _Walked:
    tree: merkle.CompactRange
    size: int = 0  # entries that passed
    checkpoints: int = 0  # anchors the entries matched
    bad: tuple[int, str, str] | None = None  # (index, problem, detail) of the first bad entry


def _content_problem(row: Row, expected: int) -> tuple[tuple[int, str, str] | None, bytes | None]:
    """The first problem of one row by itself (gap, unreadable or moved body, changed content), or
    its leaf hash when it reads true."""
    if row.id != expected:
        return (expected, "deleted", f"entry {expected} is missing: the next entry present is {row.id}"), None
    try:
        body = json.loads(row.body)
        body_index = body["index"]
    except (ValueError, KeyError, TypeError):
        return (expected, "edited", f"entry {expected} has an unreadable body"), None
    if body_index != row.id:
        return (expected, "misplaced", ""), None
    leaf = merkle.leaf_hash(row.body.encode("utf-8"))
    if leaf.hex() != row.leaf_hash or body.get("kind") != row.kind or body.get("subject") != row.subject:
        return (expected, "edited", f"entry {expected} was changed after it was written (its hash no longer matches)"), None
    return None, leaf


def _walk(session: Session, anchors: dict[int, str], trusted: bytes, trusted_id: str, issues: list[str], *,
          full: bool, batch: int) -> _Walked:
    """Recompute the tree entry by entry, checking signatures past the last anchor (or all with
    ``full``) and each anchor on the way; stop at the first bad entry."""
    walked = _Walked(merkle.CompactRange())
    last_anchor = max(anchors, default=0)
    interval_start = 0
    cols = _ENTRIES.c
    stmt = (select(cols.id, cols.kind, cols.subject, cols.body, cols.leaf_hash, cols.tree_root, cols.key_id,
                   cols.signature).order_by(cols.id).execution_options(yield_per=batch))
    for row in session.execute(stmt):
        expected = walked.size
        walked.bad, leaf = _content_problem(row, expected)
        if walked.bad is not None:
            break
        walked.tree.append(leaf)
        root_hex = walked.tree.root().hex()
        if root_hex != row.tree_root or ((full or expected >= last_anchor) and (
                row.key_id != trusted_id
                or not verify_signature(trusted, tree_head_message(expected + 1, root_hex), row.signature))):
            # Self-consistent but not what the ledger key signed: rewritten with recomputed hashes,
            # or inserted; _classify looks at the rows around it to tell which.
            walked.bad = (expected, "forged", f"entry {expected} is not the entry the ledger signed")
            break
        walked.size = expected = expected + 1
        if expected in anchors:
            if anchors[expected] != root_hex:
                first = _first_unsigned(session, interval_start, expected, trusted, trusted_id)
                if first is None:
                    issues.append(f"checkpoint at size {expected} disagrees with entries that are all signed")
                    first = interval_start
                walked.bad = (first, "forged", f"entry {first} is not the entry the ledger signed")
                break
            walked.checkpoints += 1
            interval_start = expected
    return walked


def _truncation(session: Session, anchors: dict[int, str], size: int, issues: list[str]) -> tuple[int, str, str] | None:
    """Entries missing at the end: below a signed checkpoint, or below the head's count."""
    beyond = [n for n in anchors if n > size]
    head = session.get(LedgerHead, 1)
    if beyond:
        return (size, "truncated", f"a checkpoint signed at size {max(beyond)} but only {size} entries remain: "
                                   f"entries {size}..{max(beyond) - 1} were deleted")
    if head is not None and head.size > size:
        return size, "truncated", f"the ledger head counts {head.size} entries but only {size} remain"
    if head is not None and head.size < size:
        issues.append(f"the ledger head counts {head.size} entries, fewer than the {size} present")
    return None
