"""A scripted assistant for tests that are about routing, not about language understanding.

It answers with a fixed, recognisable text and asks for a human when told to, so the tests can
assert what the hub does with the assistant's answer; the real assistant is tested in its domain.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ScriptedReply:
    text: str
    handoff: bool = False
    sources: list = field(default_factory=list)
    guard: dict = field(default_factory=dict)
    analysis: object = None


class ScriptedAssistant:
    def __init__(self, handoff_intents=()) -> None:
        self.handoff_texts: set[str] = set()
        self.calls: list[tuple] = []

    def reply(self, session, customer_id, text, *, channel="app"):
        self.calls.append((customer_id, text, channel))
        handoff = any(t in text for t in self.handoff_texts)
        return ScriptedReply(text=f"【AI】关于“{text[:10]}”的解答", handoff=handoff)

    def analyze(self, text):
        raise AssertionError("tests pass their analysis explicitly")


def install(monkeypatch) -> ScriptedAssistant:
    from brokercare.service import peers

    fake = ScriptedAssistant()
    monkeypatch.setattr(peers, "assistant", lambda: fake)
    return fake
