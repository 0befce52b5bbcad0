"""Demo hook: a month of questions the desk handed off because the knowledge base had no answer,
as the hub's teaching records them (``no_kb_answer`` in the labelled pool), so the team lead's
知识库缺口 page and ``brokercare kb gaps`` open with what customers asked and the FAQ lacked."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from brokercare.assistant import pool
from brokercare.assistant.pool import DeskSignal
from brokercare.core.database import utcnow

#: Topics the starter FAQ does not cover, each in the wordings customers used (a handful of topics
#: asked again and again, a few asked once: the shape of a real desk's gaps).
UNANSWERED = [
    ["你们APP支持网格交易吗", "能不能设置网格条件单，自动高抛低吸", "有没有网格交易的功能，我想设个区间自动买卖",
     "网格条件单在APP哪里设置"],
    ["港股打新的暗盘在哪里能看到", "暗盘交易你们这边能参与吗", "港股新股上市前一天的暗盘怎么买卖"],
    ["我是香港居民，能在你们这里开A股账户吗", "台湾同胞可以在你们券商开户吗", "外籍人士能开证券账户吗"],
    ["别的券商的股票怎么转到你们这里来", "我想把另一家券商的持仓转托管过来，怎么办理"],
    ["你们能做国债期货吗", "国债期货在哪里开通"],
    ["科创板做市商制度对散户有什么影响"],
    ["北交所的股票能不能用融资买"],
]


def generate(engine: Engine, rng, summary) -> None:
    """Record each wording once, at a moment in the last 30 days (trading hours, Beijing time)."""
    now = utcnow()
    written = 0
    with Session(engine) as session:
        for wordings in UNANSWERED:
            for text in wordings:
                at = now - timedelta(days=float(rng.uniform(0.5, 30)), hours=float(rng.uniform(0, 6)))
                pool.record(session, DeskSignal("no_kb_answer", text), now=at)
                written += 1
        session.commit()
    summary.add("assistant_nlu_feedback", written)
