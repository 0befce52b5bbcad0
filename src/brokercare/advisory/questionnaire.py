"""The risk-tolerance questionnaire: scoring, consistency checks, validity and re-assessment.

``evaluate(answers, round_=1)`` is pure: it validates the answers, looks for contradictions and
either returns the questions to ask again in plain words (round 1) or a C1–C5 result; a
contradiction that survives the second round is resolved with the configured conservative answer,
and the result says so. ``assess`` stores a result as a ``RiskAssessment`` in the caller's
transaction and, once the caller commits, announces it as ``risk.assessed`` (the customers domain
then updates the customer's current ``risk_level`` and profile).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from brokercare.advisory.events import RISK_ASSESSED
from brokercare.advisory.models import RiskAssessment
from brokercare.advisory.suitability import (
    LEVELS,
    current_assessment,
    level_name,
    local_today,
)
from brokercare.core.after_commit import publish_after_commit
from brokercare.core.bus import Event
from brokercare.core.errors import Conflict, ValidationFailed
from brokercare.customers.service import get_customer, latest_life_event

PATH = Path(__file__).parent / "data" / "questionnaire.yaml"


@lru_cache
def config() -> dict:
    with open(PATH, encoding="utf-8") as fh:
        cfg = yaml.safe_load(fh)
    ids = [q["id"] for q in cfg["questions"]]
    for rule in cfg["consistency"]:
        unknown = (set(rule["when"]) | set(rule["ask"]) | set(rule["conservative"])) - set(ids)
        if unknown:
            raise ValueError(f"consistency rule {rule['id']} names unknown questions {unknown}")
    return cfg


def questions() -> list[dict]:
    return config()["questions"]


@dataclass(frozen=True)
class Clarification:
    rule: str
    prompt: str  # the plain-words explanation shown to the customer
    questions: list[dict]  # the questions to answer again, with their plain wording


@dataclass
class Evaluation:
    status: str  # "needs_clarification" or "complete"
    clarifications: list[Clarification] = field(default_factory=list)
    score: int | None = None  # 0..100
    level: str | None = None
    level_name: str | None = None
    notes: list[str] = field(default_factory=list)
    answers: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "status": self.status,
            "clarifications": [c.__dict__ for c in self.clarifications],
            "score": self.score, "level": self.level, "level_name": self.level_name,
            "notes": self.notes, "answers": self.answers,
        }


def _validate(answers: dict) -> dict[str, str]:
    if not isinstance(answers, dict):
        raise ValidationFailed("问卷答案格式不正确。")
    by_id = {q["id"]: q for q in questions()}
    missing = [q["text"] for q in questions() if q["id"] not in answers]
    if missing:
        raise ValidationFailed("还有题目没有回答：" + "；".join(missing[:3]) + ("……" if len(missing) > 3 else ""),
                               extra={"missing": [q["id"] for q in questions() if q["id"] not in answers]})
    unknown = set(answers) - set(by_id)
    if unknown:
        raise ValidationFailed(f"问卷中没有这些题目：{', '.join(sorted(unknown))}")
    clean = {}
    for qid, value in answers.items():
        key = str(value).strip().upper()
        keys = [o["key"] for o in by_id[qid]["options"]]
        if key not in keys:
            raise ValidationFailed(f"“{by_id[qid]['text']}”的答案应为 {'/'.join(keys)} 之一。",
                                   extra={"question": qid})
        clean[qid] = key
    return clean


def contradictions(answers: dict[str, str]) -> list[dict]:
    return [
        rule for rule in config()["consistency"]
        if all(answers[q] in opts for q, opts in rule["when"].items())
    ]


def _plain(qid: str) -> dict:
    q = next(q for q in questions() if q["id"] == qid)
    return {"id": qid, "text": q["plain"], "options": [{"key": o["key"], "text": o["text"]} for o in q["options"]]}


def score(answers: dict[str, str]) -> int:
    total = maximum = 0
    for q in questions():
        scores = {o["key"]: o["score"] for o in q["options"]}
        total += scores[answers[q["id"]]]
        maximum += max(scores.values())
    return round(100 * total / maximum)


def band(points: int) -> str:
    level = "C1"
    for b in sorted(config()["bands"], key=lambda b: b["min"]):
        if points >= b["min"]:
            level = b["level"]
    return level


def evaluate(answers: dict, *, round_: int = 1) -> Evaluation:
    clean = _validate(answers)
    found = contradictions(clean)
    notes: list[str] = []
    if found and round_ <= 1:
        return Evaluation(
            "needs_clarification",
            [Clarification(r["id"], "".join(r["prompt"].split()), [_plain(q) for q in r["ask"]]) for r in found],
            answers=clean,
        )
    for rule in found:  # second round and still contradictory: take the cautious reading
        for qid, key in rule["conservative"].items():
            clean[qid] = key
        notes.append(f"{rule['id']}: 两次回答仍有矛盾，按更稳健的答案计分")
    points = score(clean)
    level = band(points)
    for floor in config()["floors"]:
        if clean[floor["question"]] == floor["option"] and LEVELS.index(level) > LEVELS.index(floor["level"]):
            level = floor["level"]
            notes.append(f"{floor['question']}: {floor['reason']}，评级为{floor['level']}")
    return Evaluation("complete", score=points, level=level, level_name=level_name(level), notes=notes,
                      answers=clean)


def add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def valid_until(assessed_on: date) -> date:
    return add_months(assessed_on, config()["validity_months"])


@dataclass(frozen=True)
class Validity:
    level: str | None
    assessed_on: date | None
    valid_until: date | None
    status: str  # missing, valid, expiring, expired, reassess_suggested
    message: str


def validity(session: Session, customer_id: int, *, today: date | None = None) -> Validity:
    """Whether the customer's latest assessment is still valid, and what to tell them."""
    get_customer(session, customer_id)
    today = today or local_today()
    a = current_assessment(session, customer_id)
    if a is None:
        return Validity(None, None, None, "missing", "您还没有做过风险承受能力测评，购买产品前需要先完成测评。")
    if a.valid_until < today:
        return Validity(a.level, a.assessed_on, a.valid_until, "expired",
                        f"您的风险测评已于{a.valid_until:%Y年%m月%d日}到期，请重新测评后再购买产品。")
    days = (a.valid_until - today).days
    event = latest_life_event(session, customer_id, since=a.assessed_on, kinds=config()["reassess_on_events"])
    if event is not None:
        return Validity(a.level, a.assessed_on, a.valid_until, "reassess_suggested",
                        f"您在测评之后有了新的情况（{_EVENT_WORDS.get(event, event)}），收入、支出或投资期限可能已经变化，"
                        f"建议重新做一次风险测评。目前的结果（{level_name(a.level)}）仍有效至{a.valid_until:%Y年%m月%d日}。")
    if days <= config()["remind_days_before_expiry"]:
        return Validity(a.level, a.assessed_on, a.valid_until, "expiring",
                        f"您的风险测评将在{days}天后（{a.valid_until:%Y年%m月%d日}）到期，"
                        "建议您近期重新测评，以免影响购买。")
    return Validity(a.level, a.assessed_on, a.valid_until, "valid",
                    f"您的风险等级为{level_name(a.level)}，有效期至{a.valid_until:%Y年%m月%d日}。")


_EVENT_WORDS = {"retirement": "退休", "job_change": "工作变动", "house_purchase": "购房", "child_birth": "孩子出生",
                "marriage": "结婚"}


def assess(session: Session, customer_id: int, answers: dict, *, round_: int = 1, channel: str = "app",
           today: date | None = None) -> Evaluation:
    """Evaluate and, when complete, store the assessment and the customer's current level.

    Nothing is written when clarification is needed or the input is invalid. The daily attempt
    limit stops a customer retaking the test until it gives the answer they want. The customer's
    current level follows from the ``risk.assessed`` event published once the caller commits.
    """
    customer = get_customer(session, customer_id)
    today = today or local_today()
    result = evaluate(answers, round_=round_)
    if result.status != "complete":
        return result
    attempts = session.scalar(
        select(func.count()).select_from(RiskAssessment)
        .where(RiskAssessment.customer_id == customer_id, RiskAssessment.assessed_on == today)
    )
    if attempts >= config()["max_attempts_per_day"]:
        raise Conflict(f"今天的测评次数已达上限（{config()['max_attempts_per_day']}次），请明天再试。")
    born = customer.birth_date
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    declared = result.answers["age"]
    expected = next((o["key"] for o in _age_bands() if o["lo"] <= age <= o["hi"]), None)
    if expected is None:
        raise ValidationFailed("按开户资料您未满18周岁，暂时不能参加风险测评。")
    if declared != expected:
        raise ValidationFailed(
            f"您选择的年龄段与开户资料不一致（按开户资料您今年{age}岁），请重新选择年龄这一题。",
            extra={"question": "age", "expected": expected},
        )
    stored = {**result.answers, "_version": str(config()["version"]), "_score": result.score}
    if result.notes:
        stored["_notes"] = result.notes
    row = RiskAssessment(customer_id=customer_id, level=result.level, score=result.score, assessed_on=today,
                         valid_until=valid_until(today), channel=channel[:12], answers=stored)
    with session.begin_nested():
        session.add(row)
        session.flush()
    publish_after_commit(session, Event(type=RISK_ASSESSED, customer_id=customer_id, payload={
        "customer_id": customer_id, "assessment_id": row.id, "level": row.level, "score": row.score,
        "assessed_on": row.assessed_on.isoformat(), "valid_until": row.valid_until.isoformat(),
        "channel": row.channel,
    }))
    return result


def _age_bands() -> list[dict]:
    bands = []
    for o in next(q for q in questions() if q["id"] == "age")["options"]:
        text = o["text"].replace("岁", "")
        if "以上" in text:
            lo, hi = int(text.replace("以上", "")) + 1, 200
        else:
            lo, hi = (int(x) for x in text.split("–"))
        bands.append({"key": o["key"], "lo": lo, "hi": hi})
    return bands
