"""The assistant's service contract: ``analyze(text)`` and ``reply(session, customer_id, text)``.

``analyze`` is pure (no database): the service hub calls it on every incoming message and routes on
its intents, emotion and intensity. ``reply`` adds the knowledge base, the customer's own data via
read-only tools, the optional LLM and the compliance guard.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.orm import Session

from brokercare.assistant import registry
from brokercare.assistant.classifier import Features
from brokercare.assistant.entities import Entity, extract
from brokercare.assistant.guard import GuardVerdict
from brokercare.assistant.lexicon import get_lexicon
from brokercare.core.errors import NotFound, ValidationFailed

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
        from brokercare.assistant.taxonomy import skill_of

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


def _clean(text: str) -> str:
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
    cleaned = [_clean(t) for t in texts]
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


@dataclass
class Reply:
    text: str
    sources: list[dict]
    guard: GuardVerdict
    handoff: bool
    analysis: Analysis
    handoff_reason: str | None = None
    drafted_by: str = "template"  # template or llm

    @property
    def declined(self) -> list[str]:
        """The kinds of request the guard declined in the message (``stock_tip``, …), if any."""
        return [k for s in self.sources if s.get("type") == "guard" for k in s.get("declined", ())]

    @property
    def handoff_reason_zh(self) -> str | None:
        from brokercare.assistant.replies import handoff_reason_zh

        return handoff_reason_zh(self.handoff_reason, self.analysis.intent)

    def as_dict(self) -> dict:
        from brokercare.assistant.taxonomy import skill_of

        return {
            "text": self.text,
            "sources": self.sources,
            "guard": self.guard.as_dict(),
            "handoff": self.handoff,
            "handoff_reason": self.handoff_reason,
            "handoff_reason_zh": self.handoff_reason_zh,
            "skill": skill_of(self.analysis.intent),
            "drafted_by": self.drafted_by,
            "analysis": self.analysis.as_dict(),
        }


#: Below this confidence the assistant answers but also offers a human.
LOW_CONFIDENCE = 0.45
SAFE_FALLBACK = "这个问题我需要请专业的同事来回答，已经为您转接人工服务，请稍候。"


def prefetched(session: Session, customer_ids: list[int]):  # noqa: ANN201
    """Context in which :func:`reply` for these customers reads their accounts and risk
    assessment from one read for all of them (a batch of messages answered together)."""
    from brokercare.assistant import tools

    return tools.prefetched(session, customer_ids)


def reply(session: Session, customer_id: int | None, text: str, *, channel: str = "app",
          analysis: Analysis | None = None) -> Reply:
    """Answer one customer message: analysis, knowledge base, the customer's data, guard, hand-off.

    ``customer_id=None`` is a sender not (yet) identified — a prospect on WeChat, an unknown email
    address: they get the knowledge base's answers, and questions about an account are met with
    a request to log in or verify, never with anyone's data. ``analysis``: the message's analysis
    when the caller already has it (the service hub routes on it first), so it is not run twice.
    """
    from brokercare.assistant import guard, llm, replies, tools
    from brokercare.assistant.kb import knowledge_base

    customer = tools.customer_of(session, customer_id) if customer_id is not None else None
    if customer_id is not None and customer is None:
        raise NotFound(f"客户 {customer_id} 不存在")
    if analysis is None or analysis.text != _clean(text):
        analysis = analyze(text)
    kb = knowledge_base(session)
    attempts = guard.inspect_request(analysis.text)
    if attempts:
        # An attempt gets a plain refusal with what can be done instead, not an answer to
        # whatever else the message seemed to be about.
        kinds = list(dict.fromkeys(a.kind for a in attempts))
        draft = replies.Draft("\n".join(guard.DECLINE[k] for k in kinds), [{"type": "guard", "declined": kinds}])
    else:
        draft = replies.compose(session, customer_id, analysis, kb)
    opening = replies.opening(analysis)
    templated = "\n".join(part for part in (opening, draft.text) if part)

    level = tools.risk_level(session, customer_id) if customer is not None else None
    if customer is not None and customer.investor_type == "professional":
        level = "professional"
    own = {a.account_no for a in tools.accounts_of(session, customer_id)} if customer is not None else set()
    context = guard.GuardContext(level, frozenset(own), _product_risks(session, analysis))

    drafted_by, final = "template", None
    if llm.configured():
        knowledge = [s.get("question", "") for s in draft.sources if s.get("type") == "kb"]
        candidate = llm.draft(analysis.text, templated, knowledge=knowledge, facts=draft.facts,
                              emotion=analysis.emotion)
        if candidate:
            verdict = guard.check(candidate, context)
            if verdict.passed:
                drafted_by, final = "llm", verdict
    if final is None:
        final = guard.check(templated, context)
    if not final.passed:  # a templated reply the guard rejects is replaced, never sent
        final = guard.GuardVerdict(False, "block", SAFE_FALLBACK, final.violations)

    handoff, reason = draft.handoff, draft.handoff_reason
    if not final.passed:
        handoff, reason = True, "compliance_block"
    elif analysis.emotion == "angry" and analysis.intensity >= 0.7:
        handoff, reason = True, "angry_customer"
    elif analysis.confidence < LOW_CONFIDENCE and analysis.intent not in ("chitchat", "out_of_scope"):
        handoff, reason = True, "low_confidence"
    return Reply(final.text, draft.sources, final, handoff, analysis, reason, drafted_by)


def _product_risks(session: Session, analysis: Analysis) -> dict[str, str]:
    """Risk ratings of the products the message names, so the guard can check the reply against them."""
    from sqlalchemy import select

    from brokercare.market.models import Instrument

    symbols = [e.value for e in analysis.entities_of("stock")]
    if not symbols:
        return {}
    rows = session.execute(select(Instrument.name, Instrument.risk_rating).where(Instrument.symbol.in_(symbols))).all()
    return {name: risk for name, risk in rows if risk}
