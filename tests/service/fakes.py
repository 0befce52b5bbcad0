"""A scripted assistant for tests that are about routing, not about language understanding.

It answers with a fixed, recognisable text and asks for a human when told to, so the tests can
assert what the hub does with the assistant's answer; the real assistant is tested in its domain.
"""

from __future__ import annotations

import hashlib
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np

from brokercare.assistant.entities import Entity
from brokercare.assistant.service import Analysis


@dataclass
class ScriptedReply:
    text: str
    handoff: bool = False
    sources: list = field(default_factory=list)
    guard: dict = field(default_factory=dict)
    analysis: object = None
    declined: list = field(default_factory=list)  # kinds of request the guard refused
    handoff_reason: str | None = None


class ScriptedAssistant:
    def __init__(self, handoff_intents=()) -> None:
        self.handoff_texts: set[str] = set()
        self.declined_texts: set[str] = set()  # the guard refuses these (e.g. a stock tip)
        self.calls: list[tuple] = []
        self.batches: list[int] = []  # sizes of the batches analysed together
        self.script = {}

    def reply(self, session, customer_id, text, *, channel="app", analysis=None):
        self.calls.append((customer_id, text, channel))
        handoff = any(t in text for t in self.handoff_texts)
        if any(t in text for t in self.declined_texts):
            return ScriptedReply(text="抱歉，我不能替您决定买卖哪只股票。", handoff=handoff,
                                 sources=[{"type": "guard", "declined": ["stock_tip"]}], declined=["stock_tip"])
        return ScriptedReply(text=f"【AI】关于“{text[:10]}”的解答", handoff=handoff)

    #: For tests through the HTTP API: text fragment → (intent, confidence, emotion, intensity).
    script: dict[str, tuple] = {}

    def analyze(self, text):
        for fragment, (intent, conf, emotion, intensity) in self.script.items():
            if fragment in text:
                return scripted_analysis(((intent, conf),), emotion, intensity, text=text)
        return scripted_analysis((("out_of_scope", 0.2),), text=text)

    def analyze_many(self, texts):
        self.batches.append(len(texts))
        return [self.analyze(t) for t in texts]

    def prefetched(self, session, customer_ids):
        return nullcontext()

    def embed(self, texts):
        """Deterministic stand-in vectors: each character bigram hashed to one of 256 dimensions,
        counted and normalised, so texts sharing wording are close (no meaning beyond that)."""
        out = np.zeros((len(texts), 256), dtype=np.float32)
        for i, text in enumerate(texts):
            for a, b in zip(text, text[1:] or " ", strict=False):
                out[i, hashlib.blake2b(f"{a}{b}".encode(), digest_size=2).digest()[0]] += 1.0
            out[i] /= max(float(np.linalg.norm(out[i])), 1e-9)
        return out

    def embedding_model(self):
        return "scripted-bigram-hash-256"


def scripted_analysis(intents, emotion="calm", intensity=0.0, *, text="", entities=()) -> Analysis:
    """The assistant's :class:`Analysis` of a message, as a test scripts it."""
    return Analysis(text=text, intents=list(intents), emotion=emotion, intensity=intensity,
                    entities=[Entity(e["kind"], e.get("text", ""), 0, 0, e.get("symbol") or e.get("value"))
                              for e in entities])


def install(monkeypatch) -> ScriptedAssistant:
    from brokercare.service import assistant

    fake = ScriptedAssistant()
    monkeypatch.setattr(assistant, "_wired", [fake])
    return fake
