"""Log lines for processes left running unattended.

``BROKERCARE_LOG_FORMAT=json`` writes one JSON object per line (python-json-logger) for a log
shipper; ``text`` (the default) is for a person at a terminal. Either way each line carries the
job run or event it was written for (``job``, ``run_id``, ``event_id``, ``event_type``), set by
:func:`log_context` where the scheduler runs a job and the bus hands an event to a handler.
"""

from __future__ import annotations

import logging
import logging.config
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

from brokercare.core.settings import get_settings

_context: ContextVar[dict[str, object] | None] = ContextVar("brokercare_log_context", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Attach ``fields`` to every line logged inside the block (in this thread or task)."""
    token = _context.set({**(_context.get() or {}),
                          **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        fields = _context.get() or {}
        for key, value in fields.items():
            setattr(record, key, value)
        record.context = " ".join(f"{k}={v}" for k, v in fields.items())
        return True


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = getattr(record, "context", "")
        return f"{line} [{context}]" if context else line


def dict_config(level: int = logging.INFO) -> dict:
    """The logging configuration of a long-running command, as ``logging.config.dictConfig``
    takes it — and as uvicorn takes it, so each of its worker processes logs alike."""
    if get_settings().log_format == "json":
        formatter = {"()": JsonFormatter, "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
                     "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
                     "reserved_attrs": [*_RESERVED, "context"]}
    else:
        formatter = {"()": _TextFormatter, "fmt": TEXT_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}},
        "formatters": {"brokercare": formatter},
        "handlers": {"stream": {"class": "logging.StreamHandler", "formatter": "brokercare",
                                "filters": ["context"]}},
        "root": {"level": logging.getLevelName(level), "handlers": ["stream"]},
        "loggers": {"apscheduler": {"level": "WARNING"},
                    "uvicorn": {"handlers": [], "propagate": True},
                    "uvicorn.access": {"handlers": [], "propagate": True},
                    "uvicorn.error": {"handlers": [], "propagate": True}},
    }


def configure(level: int = logging.INFO) -> None:
    """Set up logging for a long-running command (scheduler, workers, dispatcher)."""
    logging.config.dictConfig(dict_config(level))


_RESERVED = list(logging.makeLogRecord({}).__dict__)
