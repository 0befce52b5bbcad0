"""What a customer's message is about: intents, emotion and its intensity, entities.

Pure (no database): the service hub analyses every incoming message and routes on the result
before anyone replies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from brokercare.assistant import registry
from brokercare.assistant.classifier import Features
from brokercare.assistant.entities import Entity, extract
from brokercare.assistant.lexicon import get_lexicon
from brokercare.assistant.taxonomy import skill_of
from brokercare.core.errors import ValidationFailed

MAX_TEXT = 2000


@dataclass
class Analysis:
    text: str
    intents: list[tuple[str, float]]  # top-3, best first
    emotion: str
    intensity: float
    entities: list[Entity]
    emotion_scores: dict[str, float] = field(default_factory=dict)
    emotion_cues: list[str] = field(default_factory=list)
    model_versions: dict[str, str] = field(default_factory=dict)

    @property
    def intent(self) -> str:
        return self.intents[0][0]

    @property
    def confidence(self) -> float:
        return self.intents[0][1]

    def entities_of(self, kind: str) -> list[Entity]:
        return [e for e in self.entities if e.kind == kind]

    def as_dict(self) -> dict:
        return {
            "text": self.text,
            "intent": self.intent,
            "confidence": round(self.confidence, 4),
            "skill": skill_of(self.intent),
            "intents": [{"label": lab, "confidence": round(c, 4)} for lab, c in self.intents],
            "emotion": self.emotion,
            "intensity": self.intensity,
            "emotion_scores": self.emotion_scores,
            "entities": [e.as_dict() for e in self.entities],
            "model_versions": self.model_versions,
        }


def clean_text(text: str) -> str:
    """Strip; an empty message is an error. A very long one (a phone transcript) is analysed on its
    first ``MAX_TEXT`` characters so entity spans still index the original; the API itself refuses
    longer input with a 422."""
    if not isinstance(text, str):
        raise ValidationFailed("消息内容必须是文字")
    text = text.strip()
    if not text:
        raise ValidationFailed("消息内容不能为空")
    return text[:MAX_TEXT]


def analyze(text: str, *, today: date | None = None) -> Analysis:
    """Intents (top-3 with confidence), emotion and intensity, and entities of one message."""
    return analyze_many([text], today=today)[0]


def analyze_many(texts: list[str], *, today: date | None = None) -> list[Analysis]:
    """Vectorised :func:`analyze` for batches (the models classify the whole batch at once)."""
    cleaned = [clean_text(t) for t in texts]
    intent_model, intent_info = registry.load("intent")
    emotion_model, emotion_info = registry.load("emotion")
    lex = get_lexicon()
    feats = [Features.of(t) for t in cleaned]
    intents = intent_model.predict_proba(cleaned, features=feats)
    emotions = emotion_model.analyse_many(cleaned, features=feats)
    versions = {"intent": intent_info.version, "emotion": emotion_info.version}
    out = []
    for i, text in enumerate(cleaned):
        emo = emotions[i]
        out.append(
            Analysis(
                text=text,
                intents=intents.top(i, 3),
                emotion=emo.label,
                intensity=emo.intensity,
                entities=extract(text, lex, today=today),
                emotion_scores=emo.scores,
                emotion_cues=emo.cues,
                model_versions=versions,
            )
        )
    return out
