"""The assistant as the service hub needs it: a typed port, wired in by the composition root.

The hub routes on the assistant's :class:`~brokercare.assistant.service.Analysis` and hands the
customer's message to it for a reply; which assistant answers is decided where the process is
assembled (``api.create_app``, the ``brokercare`` command, the routing worker), so the hub's code
names the contract, not a module found at run time, and a test puts its scripted assistant in the
same place. Intent names and skills come from the assistant's taxonomy, never re-parsed here.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

import numpy as np
from sqlalchemy.orm import Session

from brokercare.assistant.service import LOW_CSAT, Analysis, DeskSignal, describe, intents, skill_of

__all__ = ["LOW_CSAT", "Analysis", "Assistant", "AssistantReply", "DeskSignal", "analysis_record", "current",
           "embed", "embedding_model", "intent_choices", "intent_name", "intent_skill", "placeholder", "teach", "wire"]


class AssistantReply(Protocol):
    """What the hub reads of an answer: the text, whether a person should take over, and why."""

    text: str
    handoff: bool
    handoff_reason: str | None

    @property
    def declined(self) -> list[str]: ...


class Assistant(Protocol):
    """The assistant's service contract (``brokercare.assistant.service`` implements it)."""

    def analyze(self, text: str) -> Analysis: ...

    def analyze_many(self, texts: list[str]) -> list[Analysis]: ...

    def reply(self, session: Session, customer_id: int | None, text: str, *, channel: str = "app",
              analysis: Analysis | None = None) -> AssistantReply: ...

    def prefetched(self, session: Session, customer_ids: list[int]) -> AbstractContextManager[None]: ...

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 sentence vectors, one row per text; a dot product is a cosine."""
        ...

    def embedding_model(self) -> str:
        """The name (version and digest) of the model behind :meth:`embed`."""
        ...


_wired: list[Assistant] = []


def wire(assistant: Assistant | None, *, replace: bool = True) -> None:
    """Make ``assistant`` the hub's assistant for this process (``None``: run without one — every
    message then goes to a person); ``replace=False`` keeps one wired before (an embedding
    application's or a test's own)."""
    if replace or not _wired:
        _wired[:] = [assistant] if assistant is not None else []


def current() -> Assistant | None:
    """The wired assistant, or ``None`` when the process was assembled without one."""
    return _wired[0] if _wired else None


def embed(texts: list[str]) -> tuple[np.ndarray, str] | None:
    """The wired assistant's sentence vectors of ``texts`` and the name of the model that made
    them; ``None`` while the process has no assistant (no similar-case search then)."""
    assistant = current()
    if assistant is None:
        return None
    return assistant.embed(texts), assistant.embedding_model()


def embedding_model() -> str | None:
    assistant = current()
    return assistant.embedding_model() if assistant is not None else None


def placeholder(intent: str, confidence: float = 0.0) -> Analysis:
    """The analysis of a message no model looked at (no assistant, a CSAT answer)."""
    return Analysis(text="", intents=[(intent, confidence)], emotion="calm", intensity=0.0, entities=[])


def symbols(analysis: Analysis) -> list[str]:
    """Stock or fund symbols the message names (``600519.SH``), in order, once each."""
    out: list[str] = []
    for e in analysis.entities:
        if e.kind in ("stock", "fund", "symbol") and e.value and e.value not in out:
            out.append(str(e.value))
    return out


def analysis_record(analysis: Analysis) -> dict:
    """The analysis as stored with the message (JSON: intents with rounded confidences)."""
    return {
        "intents": [[label, round(float(c), 4)] for label, c in analysis.intents],
        "emotion": analysis.emotion,
        "intensity": round(float(analysis.intensity), 4),
        "entities": [_plain(e.as_dict()) for e in analysis.entities],
    }


def _plain(d: dict) -> dict:
    return {k: (v if isinstance(v, str | int | float | bool | type(None)) else str(v)) for k, v in d.items()}


def intent_name(intent: str) -> str:
    """The intent's short Chinese name (the label itself for one the taxonomy does not know)."""
    return describe(intent)


def intent_skill(intent: str) -> str | None:
    """The human skill queue the taxonomy gives the intent."""
    return skill_of(intent)


def intent_choices() -> list[tuple[str, str]]:
    """``(label, Chinese name)`` of every intent in the assistant's taxonomy, for an agent's pick."""
    return [(label, describe(label)) for label in intents()]


def teach(session: Session, signal: DeskSignal) -> int | None:
    """Report what the desk saw to the wired assistant's labelled pool (``learn``), in the caller's
    transaction; ``None`` when the process runs without an assistant or with one that does not
    learn (a test's scripted one)."""
    learn = getattr(current(), "learn", None)
    return learn(session, signal) if learn is not None else None
