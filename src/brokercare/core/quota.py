"""Counting uses in a fixed window, in the database, so every server process shares one limit.

One row per counted key (a member of staff's searches, an IP address's opening applications) in
the owning domain's own table, with ``window_start`` and ``used`` columns. Counting a use and
starting a new window are one atomic UPDATE: parallel requests, from other processes too, wait for
each other's row lock and none is lost; the row stays locked until the caller commits, so a use the
caller rolls back is not counted. The first use of a key inserts its row (a parallel first use
that made it first is counted on instead).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session


def count_use(session: Session, model: type, key: dict[str, Any], window: timedelta, now: datetime) -> int:
    """Count one use of ``key`` (the row's primary key columns and values) in ``model``'s table and
    return the uses in the current window, this one included; a window older than ``window``
    starts again at ``now``."""
    fresh = model.window_start <= now - window
    used = session.execute(
        update(model).where(*(getattr(model, column) == value for column, value in key.items()))
        .values(used=case((fresh, 1), else_=model.used + 1),
                window_start=case((fresh, now), else_=model.window_start))
        .returning(model.used)).scalar()
    if used is not None:
        return used
    try:
        with session.begin_nested():
            session.add(model(**key, window_start=now, used=1))
    except IntegrityError:  # a parallel first use made the row: count on it
        return count_use(session, model, key, window, now)
    return 1
