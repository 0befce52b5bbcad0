"""The month's service-quality KPIs at a large broker's scale (issue 18 item 6: ≤ 30 s for 1,000,000
customers and 5,000,000 messages on this machine).

A generated month (November 2026) is bulk-loaded into a fresh database: N customers with profiles
and tiers, 500 agents in 25 teams, conversations of 4 messages each (plus the week before and the
week after, which the repeat and re-contact rules read), 5 % of them with a ticket and two SLA
clocks, CSAT surveys after 60 % of the closed ones, complaint feedback, and a million holding
alerts in the outbox. Then ``quality.month_kpis`` — every KPI, overall and per channel, tier,
intent, team, agent and day — is timed (reads included), against a baseline in the same run: the
per-row Python loop the old ``service/kpis.py`` ran, over the month's conversations alone
(containment without re-contacts, the median first response).

    nice -n 10 .venv/bin/python bench/bench_quality.py [--customers 1000000 --messages 5000000] [--url URL]

The machine is shared: report its load with the numbers (bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from datetime import datetime

import numpy as np
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from brokercare.core.bulkload import fast_sqlite_load, insert_columns
from brokercare.core.calendar import SHANGHAI
from brokercare.core.database import Base, make_engine, set_engine
from brokercare.core.domains import load_all_models
from brokercare.quality import service as quality
from brokercare.service.models import (
    Conversation,  # the baseline reads the table as the old code did
)

MONTH = "2026-11"
START = np.datetime64("2026-10-31T16:00:00", "us")  # 2026-11-01 00:00 Beijing, in UTC
DAY_US = 86_400_000_000
CHANNELS = np.array(["app", "web", "wechat", "phone", "email", "branch"], dtype=object)
INTENTS = np.array(["bank_transfer", "transfer_status", "password_reset", "margin_ratio", "ipo_subscribe",
                    "fund_trade", "market_quote", "complaint", "account_open", "commission_query"], dtype=object)
TIERS = np.array(["vip", "potential", "mass", "long_tail"], dtype=object)


def at(offset_us: np.ndarray) -> np.ndarray:
    return START + offset_us.astype("timedelta64[us]")


def later(base: np.ndarray, rng: np.random.Generator, mean_s: float, mask: np.ndarray) -> np.ndarray:
    """``base`` plus an exponential delay where ``mask``, NaT elsewhere."""
    out = base + (rng.exponential(mean_s, base.size) * 1e6).astype("timedelta64[us]")
    out[~mask] = np.datetime64("NaT")
    return out


def people(conn, n: int, rng: np.random.Generator) -> None:
    ids = np.arange(1, n + 1)
    now = np.full(n, np.datetime64("2026-10-01T00:00:00", "us"))
    insert_columns(conn, "customers", {
        "id": ids, "customer_no": [f"C{i:09d}" for i in ids], "name": ["客户"] * n, "gender": ["F"] * n,
        "birth_date": np.full(n, np.datetime64("1985-06-01", "D")), "id_number_enc": ["-"] * n,
        "id_number_hash": [f"h{i}" for i in ids], "phone_enc": ["-"] * n, "phone_hash": [f"p{i}" for i in ids],
        "phone_verified": np.ones(n, bool), "province": ["上海"] * n, "city": ["上海"] * n,
        "occupation": ["职员"] * n, "branch_code": ["SH01"] * n, "opened_on": np.full(n, np.datetime64("2019-01-02", "D")),
        "status": np.where(rng.random(n) < 0.03, "closed", "active").tolist(), "investor_type": ["ordinary"] * n,
        "created_at": now, "updated_at": now})
    insert_columns(conn, "customer_profiles", {
        "customer_id": ids, "aum": rng.integers(1_000, 90_000_000, n).astype(str).tolist(),
        "tier": TIERS[rng.choice(4, n, p=[0.01, 0.05, 0.3, 0.64])].tolist(), "high_net_worth": np.zeros(n, bool),
        "tags": ["[]"] * n, "features": ["{}"] * n, "computed_at": now})
    insert_columns(conn, "service_contacts", {"id": ids, "customer_id": ids, "kind": ["customer"] * n,
                                              "label": ["客户"] * n, "created_at": now, "last_seen_at": now})
    staff = np.arange(1, 526)
    insert_columns(conn, "users", {"id": staff, "username": [f"staff{i}" for i in staff],
                                   "display_name": [f"坐席{i}" for i in staff],
                                   "role": ["team_lead" if i <= 25 else "agent" for i in staff],
                                   "password_hash": ["x"] * staff.size, "active": np.ones(staff.size, bool),
                                   "created_at": now[:staff.size], "failed_logins": np.zeros(staff.size, int)})
    insert_columns(conn, "agent_profiles", {"user_id": staff, "skills": ["[]"] * staff.size,
                                            "max_concurrent": np.full(staff.size, 5),
                                            "team_lead_id": [None if i <= 25 else int((i - 26) % 25 + 1) for i in staff],
                                            "present": np.ones(staff.size, bool)})


def conversations(conn, n_customers: int, n_month: int, rng: np.random.Generator) -> dict:
    """The month's conversations and the margins' (a week before, a week after); returns the
    month's, for the messages, tickets and surveys."""
    n = int(n_month * 44 / 30)
    start = at(rng.integers(-7 * DAY_US, 37 * DAY_US, n))
    human = rng.random(n) < 0.3
    waiting = later(start, rng, 30, human)
    replied = later(waiting, rng, 240, human & (rng.random(n) < 0.95))
    closed = later(start, rng, 1_500, rng.random(n) < 0.97)
    agent = np.where(human, rng.integers(26, 526, n), 0)
    ids = np.arange(1, n + 1)
    contact = rng.integers(1, n_customers + 1, n)
    insert_columns(conn, "service_conversations", {
        "id": ids, "contact_id": contact, "customer_id": contact, "channel": CHANNELS[rng.integers(0, 6, n)].tolist(),
        "status": np.where(np.isnat(closed), "bot", "closed").tolist(), "priority": np.full(n, 5),
        "assigned_agent_id": [int(a) or None for a in agent], "waiting_since": waiting, "assigned_at": waiting,
        "first_human_response_at": replied, "last_intent": INTENTS[rng.integers(0, 10, n)].tolist(),
        "started_at": start, "last_message_at": start, "closed_at": closed})
    in_month = (start >= START) & (start < START + np.timedelta64(30 * DAY_US, "us"))
    return {"ids": ids[in_month], "contact": contact[in_month], "start": start[in_month],
            "closed": closed[in_month], "agent": agent[in_month]}


def messages(conn, month: dict, per: int, rng: np.random.Generator) -> int:
    conv = np.repeat(month["ids"], per)
    n = conv.size
    texts = np.array(["昨天转出的钱怎么还没到账？", "好的，谢谢", "我的维持担保比例是多少？", "您好，正在为您查询"], dtype=object)
    insert_columns(conn, "service_messages", {
        "id": np.arange(1, n + 1), "conversation_id": conv, "contact_id": np.repeat(month["contact"], per),
        "direction": np.tile(np.array(["in", "out"], dtype=object), n // 2 + 1)[:n].tolist(),
        "sender": np.tile(np.array(["customer", "ai"], dtype=object), n // 2 + 1)[:n].tolist(),
        "channel": ["app"] * n, "text": texts[rng.integers(0, 4, n)].tolist(),
        "sent_at": np.repeat(month["start"], per), "created_at": np.repeat(month["start"], per)})
    return n


def tickets_and_surveys(conn, month: dict, rng: np.random.Generator) -> None:
    pick = rng.random(month["ids"].size) < 0.05
    n = int(pick.sum())
    ids = np.arange(1, n + 1)
    created = month["start"][pick]
    resolved = later(created, rng, 20 * 3600, rng.random(n) < 0.85)
    insert_columns(conn, "service_tickets", {
        "id": ids, "ticket_no": [f"T{i:010d}" for i in ids], "contact_id": month["contact"][pick],
        "customer_id": month["contact"][pick], "conversation_id": month["ids"][pick],
        "source": ["ai_unresolved"] * n, "category": INTENTS[rng.integers(0, 10, n)].tolist(),
        "department": ["trading"] * n, "priority": ["urgent"] * n, "status": ["open"] * n, "subject": ["跟进"] * n,
        "description": ["客户反映问题"] * n, "channel": ["app"] * n, "assignee_id": rng.integers(26, 526, n),
        "reopen_count": np.zeros(n, int), "created_at": created, "resolved_at": resolved, "updated_at": created})
    due = created + np.timedelta64(DAY_US, "us")
    for k, metric in enumerate(("first_response", "resolution")):
        met = later(created, rng, 10 * 3600, rng.random(n) < 0.9)
        insert_columns(conn, "service_sla_clocks", {
            "id": ids + k * n, "subject_kind": ["ticket"] * n, "subject_id": ids, "metric": [metric] * n,
            "policy": ["urgent"] * n, "started_at": created, "warn_at": created + np.timedelta64(DAY_US * 3 // 4, "us"),
            "due_at": due, "met_at": met})
    surveyed = ~np.isnat(month["closed"]) & (rng.random(month["ids"].size) < 0.6)
    m = int(surveyed.sum())
    answered = rng.random(m) < 0.35
    insert_columns(conn, "service_csat_surveys", {
        "id": np.arange(1, m + 1), "subject_kind": ["conversation"] * m, "subject_id": month["ids"][surveyed],
        "contact_id": month["contact"][surveyed], "customer_id": month["contact"][surveyed], "channel": ["app"] * m,
        "token": [f"t{i}" for i in range(m)], "agent_id": [int(a) or None for a in month["agent"][surveyed]],
        "sent_at": month["closed"][surveyed], "score": [int(s) if a else None for s, a in
                                                        zip(rng.integers(1, 6, m), answered, strict=True)]})


def alerts(conn, n: int, n_customers: int, rng: np.random.Generator) -> None:
    created = at(rng.integers(0, 30 * DAY_US, n))
    insert_columns(conn, "outbox_messages", {
        "id": np.arange(1, n + 1), "idempotency_key": [f"a{i}" for i in range(n)],
        "channel": np.array(["app", "sms", "wechat"], dtype=object)[rng.integers(0, 3, n)].tolist(),
        "kind": ["price_move"] * n, "urgent": np.zeros(n, bool), "customer_id": rng.integers(1, n_customers + 1, n),
        "body": ["您持有的股票 10 分钟内下跌 5%"] * n, "origin": ["monitoring"] * n,
        "state": np.array(["sent", "dead", "failed"], dtype=object)[rng.choice(3, n, p=[0.97, 0.02, 0.01])].tolist(),
        "attempts": np.ones(n, int), "next_attempt_at": created, "created_at": created})


def load(engine: Engine, n_customers: int, n_messages: int) -> dict:
    rng = np.random.default_rng(18)
    with engine.connect() as conn, fast_sqlite_load(conn, [t.name for t in Base.metadata.sorted_tables]):
        people(conn, n_customers, rng)
        month = conversations(conn, n_customers, n_messages // 4, rng)
        written = messages(conn, month, 4, rng)
        tickets_and_surveys(conn, month, rng)
        alerts(conn, 1_000_000 * n_customers // 1_000_000, n_customers, rng)
        conn.commit()
    return {"month_conversations": month["ids"].size, "messages": written}


def baseline(engine: Engine) -> float:
    """The old per-row loop (service/kpis.py before the quality domain) over the month's
    conversations: containment without re-contacts and the median first response."""
    start, end = quality.month_window(MONTH)
    t0 = time.perf_counter()
    with Session(engine) as session:
        contained, frt = 0, []
        for row in session.execute(select(Conversation.waiting_since, Conversation.first_human_response_at,
                                          Conversation.assigned_agent_id)
                                   .where(Conversation.started_at >= start, Conversation.started_at < end)):
            if row.waiting_since is None and row.assigned_agent_id is None:
                contained += 1
            if row.waiting_since and row.first_human_response_at:
                frt.append((row.first_human_response_at - row.waiting_since).total_seconds())
        statistics.median(frt)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--messages", type=int, default=5_000_000)
    ap.add_argument("--url", help="a database URL (default: a fresh SQLite file in a temporary directory)")
    args = ap.parse_args()
    load_all_models()
    tmp = tempfile.mkdtemp(prefix="bench-quality-")
    os.environ.setdefault("BROKERCARE_DATA_DIR", tmp)
    engine = make_engine(args.url or f"sqlite:///{tmp}/bench.db")
    try:
        run(engine, args)
    finally:
        engine.dispose()
        shutil.rmtree(tmp, ignore_errors=True)  # the generated database (gigabytes)


def run(engine: Engine, args: argparse.Namespace) -> None:
    Base.metadata.create_all(engine)
    set_engine(engine)
    t0 = time.perf_counter()
    sizes = load(engine, args.customers, args.messages)
    print(f"loaded {args.customers:,} customers, {sizes['month_conversations']:,} conversations and "
          f"{sizes['messages']:,} messages in November on {engine.dialect.name} in {time.perf_counter() - t0:.1f} s")
    as_of = datetime(2026, 12, 1, 8, tzinfo=SHANGHAI)
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        with Session(engine) as session:
            report = quality.month_kpis(session, MONTH, as_of=as_of)
        runs.append(time.perf_counter() - t0)
    loop = baseline(engine)
    o = report.overall
    print(f"month KPIs (every figure, 6 slicings): {min(runs):.2f} s best of 3 ({', '.join(f'{r:.2f}' for r in runs)})"
          f" — target ≤ 30 s")
    print(f"baseline per-row loop over the conversations alone: {loop:.2f} s; "
          f"ratio full KPI set / baseline = {min(runs) / loop:.2f}")
    print(f"figures: {o['conversations']:,} conversations, containment {o['ai_containment_rate']:.3f}, "
          f"FRT median {o['first_response_median_s']:.0f} s, {o['sla_breaches']:,} SLA breaches, "
          f"CSAT {o['csat_average']:.2f}, alerts delivered {o['alerts_delivery_rate']:.3f}")
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
