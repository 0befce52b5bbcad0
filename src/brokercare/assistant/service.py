"""The assistant's service contract: ``analyze(text)`` and ``reply(session, customer_id, text)``.

``analyze`` is pure (no database): the service hub calls it on every incoming message and routes on
its intents, emotion and intensity. ``reply`` adds the knowledge base, the customer's own data via
read-only tools, the optional LLM and the compliance guard. The intent taxonomy (labels, their
Chinese names, the skill queue of each) is published here too.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass

import numpy as np
from sqlalchemy.orm import Session

from brokercare.assistant import gaps, guard, llm, pool, replies, tools
from brokercare.assistant.analysis import MAX_TEXT, Analysis, analyze, analyze_many, clean_text
from brokercare.assistant.encoder import get_encoder
from brokercare.assistant.guard import GuardVerdict
from brokercare.assistant.kb import KnowledgeBase, knowledge_base
from brokercare.assistant.pool import LOW_CSAT, DeskSignal
from brokercare.assistant.taxonomy import about_investing, describe, intents, skill_of
from brokercare.core.errors import NotFound
from brokercare.market import service as market

__all__ = ["LOW_CONFIDENCE", "LOW_CSAT", "MAX_TEXT", "SAFE_FALLBACK", "Analysis", "DeskSignal", "Reply", "analyze",
           "analyze_many", "describe", "embed", "embedding_model", "intents", "learn", "prefetched", "reply", "skill_of"]


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
        return replies.handoff_reason_zh(self.handoff_reason, self.analysis.intent)

    def as_dict(self) -> dict:
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


def prefetched(session: Session, customer_ids: list[int]) -> AbstractContextManager[None]:
    """Context in which :func:`reply` for these customers reads their accounts and risk
    assessment from one read for all of them (a batch of messages answered together)."""
    return tools.prefetched(session, customer_ids)


def reply(session: Session, customer_id: int | None, text: str, *, channel: str = "app",
          analysis: Analysis | None = None, on_behalf: bool = False) -> Reply:
    """Answer one customer message: analysis, knowledge base, the customer's data, guard, hand-off.

    ``customer_id=None`` is a sender not (yet) identified — a prospect on WeChat, an unknown email
    address: they get the knowledge base's answers, and questions about an account are met with
    a request to log in or verify, never with anyone's data. ``analysis``: the message's analysis
    when the caller already has it (the service hub routes on it first), so it is not run twice.
    ``on_behalf``: staff ask for the customer (they checked the relationship): the reply reads the
    customer's data but never moves their money.
    """
    customer = tools.customer_of(session, customer_id) if customer_id is not None else None
    if customer_id is not None and customer is None:
        raise NotFound(f"客户 {customer_id} 不存在")
    if analysis is None or analysis.text != clean_text(text):
        analysis = analyze(text)
    draft = _draft(session, customer_id, analysis, knowledge_base(session), may_transact=not on_behalf)
    opening = replies.opening(analysis)
    templated = "\n".join(part for part in (opening, draft.text) if part)
    context = _guard_context(session, customer, customer_id, analysis)
    final, drafted_by = _checked(templated, draft, analysis, context)
    handoff, reason = _handoff(draft, final, analysis)
    return Reply(final.text, draft.sources, final, handoff, analysis, reason, drafted_by)


def _draft(session: Session, customer_id: int | None, analysis: Analysis, kb: KnowledgeBase, *,
           may_transact: bool = True) -> replies.Draft:
    """The templated answer; an attempt (a tip, a promise, another customer's data …) gets a plain
    refusal with what can be done instead, not an answer to whatever else the message seemed about."""
    attempts = guard.inspect_request(analysis.text)
    if not attempts:
        return replies.compose(session, customer_id, analysis, kb, may_transact=may_transact)
    kinds = list(dict.fromkeys(a.kind for a in attempts))
    return replies.Draft("\n".join(guard.DECLINE[k] for k in kinds), [{"type": "guard", "declined": kinds}])


def _guard_context(session: Session, customer, customer_id: int | None, analysis: Analysis) -> guard.GuardContext:
    """What the guard checks a reply against: the customer's level, own accounts, named products."""
    level = tools.risk_level(session, customer_id) if customer is not None else None
    if customer is not None and customer.investor_type == "professional":
        level = "professional"
    own = {a.account_no for a in tools.accounts_of(session, customer_id)} if customer is not None else set()
    return guard.GuardContext(level, frozenset(own), _product_risks(session, analysis),
                              investing=about_investing(analysis.intent))


def _checked(templated: str, draft: replies.Draft, analysis: Analysis,
             context: guard.GuardContext) -> tuple[GuardVerdict, str]:
    """The guard's verdict on the reply to send and who drafted it: the LLM's draft when one is
    configured and passes, else the template; a template the guard rejects is replaced, never sent."""
    if llm.configured():
        knowledge = [s.get("question", "") for s in draft.sources if s.get("type") == "kb"]
        candidate = llm.draft(analysis.text, templated, knowledge=knowledge, facts=draft.facts,
                              emotion=analysis.emotion)
        if candidate:
            verdict = guard.check(candidate, context)
            if verdict.passed:
                return verdict, "llm"
    final = guard.check(templated, context)
    if not final.passed:
        final = guard.GuardVerdict(False, "block", SAFE_FALLBACK, final.violations)
    return final, "template"


def _handoff(draft: replies.Draft, final: GuardVerdict, analysis: Analysis) -> tuple[bool, str | None]:
    """Whether a person should take over, and why (a ``replies.HANDOFF_REASONS`` code)."""
    if not final.passed:
        return True, "compliance_block"
    if analysis.emotion == "angry" and analysis.intensity >= 0.7:
        return True, "angry_customer"
    if analysis.confidence < LOW_CONFIDENCE and analysis.intent not in ("chitchat", "out_of_scope"):
        return True, "low_confidence"
    return draft.handoff, draft.handoff_reason


def _product_risks(session: Session, analysis: Analysis) -> dict[str, str]:
    """Risk ratings of the products the message names, so the guard can check the reply against them."""
    found = market.instruments_by_symbol(session, [e.value for e in analysis.entities_of("stock")])
    return {i.name: i.risk_rating for i in found.values() if i.risk_rating}


def check_outgoing(text: str, *, risk_level: str | None = None,
                   product_risks: dict[str, str] | None = None) -> GuardVerdict:
    """The compliance guard on a message the broker sends unasked (a monthly commentary, a
    valuation warning): the rules every reply passes. ``rewrite`` returns the text with the risk
    wording added; ``block`` must not be sent."""
    return guard.check(text, guard.GuardContext(risk_level=risk_level, product_risks=dict(product_risks or {}),
                                                investing=True))


def learn(session: Session, signal: DeskSignal) -> int:
    """Take what the service desk saw into the assistant's labelled pool (in the caller's
    transaction): a wrong-intent mark with the right intent, an edited suggestion, a hand-off the
    knowledge base could not answer, a low CSAT. Returns the pool row's id. ``brokercare nlu
    retrain`` learns from the confirmed labels; ``brokercare kb gaps`` groups the unanswered."""
    return pool.record(session, signal).id


#: Who maintains the knowledge base: the desk's team leads and the administrators.
KNOWLEDGE_OWNERS = ("team_lead", "admin")


def faq_gaps(session: Session, *, days: int = 30, limit: int = 20) -> list[gaps.Gap]:
    """The questions of the last ``days`` days that were handed off because the knowledge base had
    no answer, grouped by meaning with the encoder, the most asked first: what the knowledge owner
    should write FAQ entries for."""
    return gaps.faq_gaps(session, days=days, limit=limit)


def embed(texts: list[str]) -> np.ndarray:
    """Unit-length sentence vectors (float32, one row per text) from the trained encoder: texts of
    the same meaning get a high dot product. A single text just encoded (the knowledge base's
    search of the same message) is not encoded again."""
    return get_encoder().encode(list(texts))


def embedding_model() -> str:
    """Names the encoder behind :func:`embed` (its weights' digest): vectors stored with another
    name were made by another model and must be re-embedded before they are compared."""
    return get_encoder().fingerprint
