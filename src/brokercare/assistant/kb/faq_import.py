"""FAQ import: a broker's own questions and answers from CSV or Markdown into ``kb_entries``.

The same question imported again (same normalised wording) replaces its answer; an entry the file
does not name stays as it was. A file that cannot be read gets one clear error before anything is
written. An imported question that means the same as another entry in other words is reported
(``ImportResult.duplicates``, :mod:`brokercare.assistant.kb.duplicates`), not refused.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.assistant.kb.corpus import starter_faq
from brokercare.assistant.kb.duplicates import find_duplicates
from brokercare.assistant.kb.store import entries_changed, question_key
from brokercare.assistant.kb.training import get_matcher
from brokercare.assistant.models import KbEntry
from brokercare.assistant.taxonomy import intents
from brokercare.core.database import utcnow
from brokercare.core.errors import ValidationFailed

MAX_IMPORT_BYTES = 20 * 1024 * 1024


@dataclass
class ImportResult:
    added: int
    updated: int
    skipped: int
    errors: list[str]
    duplicates: list[str] = field(default_factory=list)  # warnings: same meaning, other wording


def parse_faq_file(path: Path) -> list[tuple[str, str, str | None]]:
    """Entries of a CSV (``question,answer[,intent]``) or Markdown FAQ; a clear error for anything else.

    Markdown: each question is a heading (``#``..``####``) or a ``Q:``/``问：`` line; the answer
    is the text up to the next question.
    """
    if not path.exists():
        raise ValidationFailed(f"file not found: {path}")
    if path.stat().st_size > MAX_IMPORT_BYTES:
        raise ValidationFailed(f"{path.name} is larger than {MAX_IMPORT_BYTES // 1024 // 1024} MB")
    try:
        raw = path.read_text("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed(f"{path.name} is not UTF-8 text") from exc
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _parse_csv(raw, path.name)
    if suffix in (".md", ".markdown"):
        return _parse_markdown(raw, path.name)
    raise ValidationFailed(f"{path.name}: unsupported file type {suffix or '(none)'}; use .csv or .md")


def _parse_csv(raw: str, name: str) -> list[tuple[str, str, str | None]]:
    reader = csv.DictReader(io.StringIO(raw))
    cols = [c.strip().lower() for c in (reader.fieldnames or [])]
    if "question" not in cols or "answer" not in cols:
        raise ValidationFailed(f"{name}: expected a CSV header question,answer[,intent]")
    out = []
    for i, row in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        q, a = row.get("question", ""), row.get("answer", "")
        if not q and not a:
            continue
        if not q or not a:
            raise ValidationFailed(f"{name}, line {i}: both question and answer are required")
        out.append((q, a, row.get("intent") or None))
    return out


_MD_QUESTION = re.compile(r"^\s*(?:#{1,4}\s+(?P<h>.+?)\s*#*\s*$|(?:Q|q|问)\s*[:：]\s*(?P<q>.+))$")
_MD_ANSWER_PREFIX = re.compile(r"^\s*(?:A|a|答)\s*[:：]\s*")


def _parse_markdown(raw: str, name: str) -> list[tuple[str, str, str | None]]:
    out, question, lines = [], None, []

    def flush() -> None:
        if question is not None:
            answer = "\n".join(lines).strip()
            if answer:
                out.append((question, answer, None))

    for line in raw.splitlines():
        m = _MD_QUESTION.match(line)
        if m:
            flush()
            question, lines = (m.group("h") or m.group("q")).strip(), []
            continue
        if question is not None:
            lines.append(_MD_ANSWER_PREFIX.sub("", line))
    flush()
    if not out:
        raise ValidationFailed(f"{name}: no question/answer pairs found (use headings or Q:/A: lines)")
    return out


def import_entries(session: Session, entries: list[tuple[str, str, str | None]], *, source: str) -> ImportResult:
    """Upsert entries by normalised question, in the caller's transaction."""
    known = set(intents())
    added = updated = skipped = 0
    errors: list[str] = []
    existing = {e.question_key: e for e in session.scalars(select(KbEntry))}
    seen: set[str] = set()
    for q, a, intent in entries:
        if len(q) > 500:
            errors.append(f"question longer than 500 characters: {q[:30]}…")
            skipped += 1
            continue
        if intent and intent not in known:
            errors.append(f"unknown intent {intent!r} for {q[:30]}; stored without intent")
            intent = None
        key = question_key(q)
        if not key or key in seen:
            skipped += 1
            continue
        seen.add(key)
        entry = existing.get(key)
        if entry is None:
            session.add(KbEntry(question=q, question_key=key, answer=a, intent=intent, source=source))
            added += 1
        elif (entry.answer, entry.intent, entry.active) != (a, intent, True):
            entry.answer, entry.intent, entry.active, entry.source = a, intent, True, source
            entry.updated_at = utcnow()
            updated += 1
        else:
            skipped += 1
    session.flush()
    entries_changed()  # this process sees its own import at once
    changed = [q for q, _a, _i in entries if question_key(q) in seen]
    others = [(e.question, "knowledge base") for e in existing.values() if e.active and e.question_key not in seen]
    others += [(q, "starter FAQ") for q, _a, _i in starter_faq() if question_key(q) not in seen]
    duplicates = [d.warning() for d in find_duplicates(list(dict.fromkeys(changed)), others, get_matcher())]
    return ImportResult(added, updated, skipped, errors, duplicates)
