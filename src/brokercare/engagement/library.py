"""The investor-education library (seed 2.3.3, 2.5.2): articles, videos by link and quizzes
shipped as data (``data/content``), recommended to each customer from their profile, quizzes
graded with explanations, and each customer's completion kept (``engagement_content_progress``).

Recommendation reads the customers domain's profile (tier, tags such as 新开户 / 基金投资者 /
两融高风险, which follow from holdings and behaviour) and the customer's risk level; an item
written for other tiers or other risk levels is not offered. Among the rest, the anti-fraud and
compliance essentials come first until done, then items matching more of the customer's tags;
what the customer already finished goes last. Each recommendation carries its reason in words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import yaml
from markdown_it import MarkdownIt
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.core.database import utcnow
from brokercare.core.errors import NotFound, ValidationFailed
from brokercare.engagement.models import ContentProgress

KINDS = {"article": "文章", "video": "视频", "quiz": "测验"}
LEVELS = ("C1", "C2", "C3", "C4", "C5")


class Question(BaseModel):
    q: str
    options: list[str] = Field(min_length=2)
    answer: int
    explanation: str

    @model_validator(mode="after")
    def _answer_is_an_option(self) -> Question:
        if not 0 <= self.answer < len(self.options):
            raise ValueError(f"answer {self.answer} is not one of the {len(self.options)} options of {self.q!r}")
        return self


class Item(BaseModel):
    key: str = Field(pattern=r"^[a-z0-9-]{3,48}$")
    kind: str = Field(pattern="^(article|video|quiz)$")
    title: str
    summary: str
    topics: list[str] = Field(min_length=1)
    tiers: list[str] = []  # empty: every tier
    risk_levels: list[str] = []  # customers' levels it is written for; empty: everyone
    interests: list[str] = []  # profile tag keys
    minutes: int = Field(ge=1, le=60)
    essential: bool = False  # anti-fraud and compliance basics every customer should see
    url: str | None = None  # a video's page
    source: str | None = None
    sources: list[str] = []
    body: str = ""  # Markdown (articles, videos)
    after: str | None = None  # a quiz's article
    pass_mark: int | None = None
    questions: list[Question] = []

    @model_validator(mode="after")
    def _complete(self) -> Item:
        if self.kind == "video" and not (self.url or "").startswith("https://"):
            raise ValueError(f"video {self.key} needs an https url")
        if self.kind == "quiz" and (not self.questions or not self.pass_mark
                                    or not 1 <= self.pass_mark <= len(self.questions)):
            raise ValueError(f"quiz {self.key} needs questions and a pass mark between 1 and their number")
        if any(level not in LEVELS for level in self.risk_levels):
            raise ValueError(f"{self.key}: risk levels must be among {LEVELS}")
        return self

    @property
    def kind_label(self) -> str:
        return KINDS[self.kind]


@dataclass(frozen=True)
class Library:
    items: dict[str, Item]
    topics: dict[str, str]
    reasons: dict[str, str]  # profile tag -> why, in the customer's words
    recommend: int
    monthly_links: int

    def get(self, key: str) -> Item:
        if key not in self.items:
            raise NotFound("没有找到这篇投教内容。")
        return self.items[key]


def _front_matter(name: str, text: str) -> dict:
    if not text.startswith("---\n"):
        raise ValueError(f"{name}: expected YAML front matter")
    head, _, body = text[4:].partition("\n---\n")
    meta = yaml.safe_load(head)
    meta["body"] = body.strip()
    return meta


@lru_cache(maxsize=1)
def library() -> Library:
    """The shipped library, validated (an unknown topic or a quiz without its article fails)."""
    folder = resources.files("brokercare.engagement").joinpath("data/content")
    cfg = yaml.safe_load(folder.joinpath("library.yaml").read_text("utf-8"))
    items: dict[str, Item] = {}
    raw = [_front_matter(f.name, f.read_text("utf-8")) for f in sorted(folder.iterdir(), key=lambda f: f.name)
           if f.name.endswith(".md")]
    raw += [dict(q, kind="quiz") for q in yaml.safe_load(folder.joinpath("quizzes.yaml").read_text("utf-8"))]
    for entry in raw:
        item = Item.model_validate(entry)
        if item.key in items:
            raise ValueError(f"content key {item.key} appears twice")
        unknown = set(item.topics) - set(cfg["topics"])
        if unknown:
            raise ValueError(f"{item.key}: unknown topics {sorted(unknown)}")
        items[item.key] = item
    for item in items.values():
        if item.after is not None and item.after not in items:
            raise ValueError(f"quiz {item.key} follows unknown article {item.after}")
    return Library(items, cfg["topics"], dict(cfg["reasons"]), int(cfg["recommend"]), int(cfg["monthly_links"]))


_MD = MarkdownIt("commonmark", {"html": False}).enable("table")


def body_html(item: Item) -> str:
    """The item's text as HTML (shipped Markdown; raw HTML in it is not passed through)."""
    return _MD.render(item.body)


# --- recommendation ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Reader:
    """What recommendation knows of a customer: tier, risk level, profile tags (key → staff label)."""

    tier: str | None
    risk_level: str | None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Pick:
    item: Item
    reason: str
    state: str | None  # done, passed, failed, or None when not started


def suits(item: Item, reader: Reader) -> bool:
    """Whether the item is written for the customer's tier and risk level."""
    if item.tiers and reader.tier not in item.tiers:
        return False
    return not item.risk_levels or reader.risk_level in item.risk_levels


def reasons_for(tags: list[str], reader: Reader) -> list[str]:
    """The customer's-words reasons of those of ``tags`` the customer has (staff-only tags left out)."""
    said = library().reasons
    return [said[t] for t in tags if t in reader.tags and t in said]


def _reason(item: Item, reader: Reader) -> str:
    matched = reasons_for(item.interests, reader)
    if matched:
        return "推荐理由：" + "，".join(matched[:2])
    if item.essential:
        return "每位投资者都应了解的防骗与合规常识"
    return "为您精选的" + "、".join(library().topics[t] for t in item.topics[:2]) + "内容"


def recommend(reader: Reader, progress: dict[str, str], *, limit: int | None = None) -> list[Pick]:
    """The items for this customer, best first: unfinished essentials, then by matching tags
    (ties: shorter first, then the library's order), a quiz after its article until that is
    read; finished items last."""
    lib = library()
    order = {k: n for n, k in enumerate(lib.items)}

    def rank(item: Item) -> tuple:
        finished = progress.get(item.key) in ("done", "passed")
        matches = sum(t in reader.tags for t in item.interests)
        waiting = item.after is not None and progress.get(item.after) not in ("done", "passed")  # read first
        return (finished, not (item.essential and not finished), waiting, -matches, item.minutes, order[item.key])

    chosen = sorted((i for i in lib.items.values() if suits(i, reader)), key=rank)
    picks = [Pick(i, _reason(i, reader), progress.get(i.key)) for i in chosen]
    return picks[:limit] if limit else picks


# --- progress and quizzes ---------------------------------------------------------------------

def progress_of(session: Session, customer_id: int) -> dict[str, str]:
    """item key → state (done, passed, failed) for one customer."""
    return dict(session.execute(select(ContentProgress.item, ContentProgress.state)
                                .where(ContentProgress.customer_id == customer_id)).all())


def progress_many(session: Session, customer_ids: list[int]) -> dict[int, set[str]]:
    """customer → the items they finished (read, watched or quiz passed), for the batch jobs."""
    out: dict[int, set[str]] = {}
    for k in range(0, len(customer_ids), 900):
        part = customer_ids[k:k + 900]
        for cid, item in session.execute(select(ContentProgress.customer_id, ContentProgress.item).where(
                ContentProgress.customer_id.in_(part), ContentProgress.state.in_(("done", "passed")))):
            out.setdefault(cid, set()).add(item)
    return out


def _row(session: Session, customer_id: int, item: Item) -> ContentProgress:
    row = session.scalar(select(ContentProgress).where(ContentProgress.customer_id == customer_id,
                                                       ContentProgress.item == item.key))
    if row is None:
        row = ContentProgress(customer_id=customer_id, item=item.key, kind=item.kind, state="started", attempts=0)
        session.add(row)
    return row


def mark_done(session: Session, customer_id: int, key: str) -> ContentProgress:
    """The customer read the article or watched the video (idempotent; flushed)."""
    item = library().get(key)
    if item.kind == "quiz":
        raise ValidationFailed("测验需要作答后才算完成。")
    row = _row(session, customer_id, item)
    if row.state != "done":
        row.state, row.completed_at = "done", utcnow()
    session.flush()
    return row


@dataclass(frozen=True)
class Marked:
    question: str
    chosen: str | None
    correct: str
    right: bool
    explanation: str


@dataclass(frozen=True)
class Graded:
    key: str
    title: str
    score: int
    total: int
    pass_mark: int
    passed: bool
    questions: list[Marked]
    best_score: int
    attempts: int


def grade(session: Session, customer_id: int, key: str, answers: dict[int, int]) -> Graded:
    """Mark a quiz attempt: each question right or wrong with its explanation; the best attempt
    decides passed/failed (a later worse attempt does not undo a pass). Flushed."""
    item = library().get(key)
    if item.kind != "quiz":
        raise ValidationFailed("这不是测验，无需作答。")
    missing = [n + 1 for n in range(len(item.questions)) if n not in answers]
    if missing:
        raise ValidationFailed("请回答全部题目（未作答：第" + "、".join(map(str, missing)) + "题）。")
    marked = []
    for n, q in enumerate(item.questions):
        choice = answers[n]
        if not 0 <= choice < len(q.options):
            raise ValidationFailed(f"第{n + 1}题的选项不存在，请重新选择。")
        marked.append(Marked(q.q, q.options[choice], q.options[q.answer], choice == q.answer, q.explanation))
    score = sum(m.right for m in marked)
    row = _row(session, customer_id, item)
    row.attempts += 1
    row.last_answers = {str(k): v for k, v in sorted(answers.items())}
    row.best_score = max(score, row.best_score or 0)
    passed = row.best_score >= item.pass_mark
    if passed and row.state != "passed":
        row.completed_at = utcnow()
    row.state = "passed" if passed else "failed"
    session.flush()
    return Graded(item.key, item.title, score, len(marked), item.pass_mark, score >= item.pass_mark, marked,
                  row.best_score, row.attempts)


@dataclass(frozen=True)
class Completion:
    finished: int
    total: int  # items written for this customer
    essentials_finished: int
    essentials: int
    quizzes_passed: int


def completion(session: Session, customer_id: int, reader: Reader) -> Completion:
    """How much of the library written for this customer they finished (the customer's page,
    the manager's view and the tier services' education links use it)."""
    states = progress_of(session, customer_id)
    mine = [i for i in library().items.values() if suits(i, reader)]
    done = [i for i in mine if states.get(i.key) in ("done", "passed")]
    return Completion(len(done), len(mine), sum(i.essential for i in done), sum(i.essential for i in mine),
                      sum(i.kind == "quiz" for i in done))
