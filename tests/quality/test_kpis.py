"""Every KPI of a known month against hand-written SQL over the same tables, overall and per
channel, tier, intent, team, agent and day, on SQLite and PostgreSQL (docs/quality.md)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from tests.quality import dataset

from brokercare.core.errors import ValidationFailed
from brokercare.quality import service as quality

DIMS = ("channel", "tier", "intent", "team", "agent", "day")


def dialect_sql(dialect: str) -> dict[str, str]:
    """The few expressions that differ: seconds between two timestamps, a Beijing day, and the
    floor of a positive number (PostgreSQL's CAST rounds)."""
    if dialect == "sqlite":
        return {"secs": "((julianday({a}) - julianday({b})) * 86400.0)", "day": "date({a}, '+8 hours')",
                "floor": "CAST({a} AS INTEGER)"}
    return {"secs": "EXTRACT(EPOCH FROM ({a} - {b}))", "floor": "FLOOR({a})",
            "day": "to_char({a} AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD')"}


def param(session, moment: datetime):
    if session.get_bind().dialect.name == "sqlite":
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return moment


def bases(dialect: str) -> dict[str, str]:
    """One row per subject of each KPI family with its slice columns, in plain SQL."""
    d = dialect_sql(dialect)

    def secs(a: str, b: str) -> str:
        return d["secs"].format(a=a, b=b)

    def day(a: str) -> str:
        return d["day"].format(a=a)

    breach = "(k.breached_at IS NOT NULL OR k.met_at > k.due_at OR (k.met_at IS NULL AND k.due_at <= :as_of))"
    return {
        "conversations": f"""
            SELECT c.channel, p.tier, c.last_intent AS intent, a.team_lead_id AS team,
                   c.assigned_agent_id AS agent, {day('c.started_at')} AS day,
                   CASE WHEN c.waiting_since IS NOT NULL OR c.assigned_agent_id IS NOT NULL THEN 1 ELSE 0 END AS human,
                   CASE WHEN c.closed_at IS NOT NULL THEN 1 ELSE 0 END AS closed,
                   CASE WHEN c.closed_at IS NOT NULL AND c.waiting_since IS NULL AND c.assigned_agent_id IS NULL
                         AND NOT EXISTS (SELECT 1 FROM service_tickets t WHERE t.conversation_id = c.id)
                         AND NOT EXISTS (SELECT 1 FROM service_conversations n WHERE n.contact_id = c.contact_id
                                         AND n.started_at > c.closed_at
                                         AND {secs('n.started_at', 'c.closed_at')} <= 86400)
                        THEN 1 ELSE 0 END AS contained,
                   CASE WHEN EXISTS (SELECT 1 FROM service_conversations q WHERE q.contact_id = c.contact_id
                                     AND q.started_at < c.started_at
                                     AND {secs('c.started_at', 'q.started_at')} <= 7 * 86400)
                        THEN 1 ELSE 0 END AS repeat7,
                   {secs('c.first_human_response_at', 'c.waiting_since')} AS x
            FROM service_conversations c
            LEFT JOIN customer_profiles p ON p.customer_id = c.customer_id
            LEFT JOIN agent_profiles a ON a.user_id = c.assigned_agent_id
            WHERE c.started_at >= :start AND c.started_at < :end""",
        "tickets": f"""
            SELECT t.channel, p.tier, t.category AS intent, a.team_lead_id AS team, t.assignee_id AS agent,
                   {day('t.resolved_at')} AS day, {secs('t.resolved_at', 't.created_at')} / 3600.0 AS x,
                   CASE WHEN t.reopen_count > 0 THEN 1 ELSE 0 END AS reopened
            FROM service_tickets t
            LEFT JOIN customer_profiles p ON p.customer_id = t.customer_id
            LEFT JOIN agent_profiles a ON a.user_id = t.assignee_id
            WHERE t.resolved_at >= :start AND t.resolved_at < :end""",
        "sla": f"""
            SELECT COALESCE(t.channel, f.channel) AS channel, p.tier, COALESCE(t.category, f.category) AS intent,
                   a.team_lead_id AS team, COALESCE(t.assignee_id, f.answered_by_id) AS agent,
                   {day('k.due_at')} AS day,
                   CASE WHEN {breach} THEN 1 ELSE 0 END AS breach,
                   CASE WHEN NOT {breach} AND k.met_at IS NOT NULL AND k.met_at >= k.warn_at THEN 1 ELSE 0 END AS near
            FROM service_sla_clocks k
            LEFT JOIN service_tickets t ON k.subject_kind = 'ticket' AND t.id = k.subject_id
            LEFT JOIN service_feedback f ON k.subject_kind = 'feedback' AND f.id = k.subject_id
            LEFT JOIN customer_profiles p ON p.customer_id = COALESCE(t.customer_id, f.customer_id)
            LEFT JOIN agent_profiles a ON a.user_id = COALESCE(t.assignee_id, f.answered_by_id)
            WHERE k.due_at >= :start AND k.due_at < :end""",
        "csat": f"""
            SELECT s.channel, p.tier, COALESCE(c.last_intent, t.category) AS intent, a.team_lead_id AS team,
                   s.agent_id AS agent, {day('s.sent_at')} AS day, s.score
            FROM service_csat_surveys s
            LEFT JOIN service_conversations c ON s.subject_kind = 'conversation' AND c.id = s.subject_id
            LEFT JOIN service_tickets t ON s.subject_kind = 'ticket' AND t.id = s.subject_id
            LEFT JOIN customer_profiles p ON p.customer_id = s.customer_id
            LEFT JOIN agent_profiles a ON a.user_id = s.agent_id
            WHERE s.sent_at >= :start AND s.sent_at < :end""",
        "complaints": f"""
            SELECT u.channel, p.tier, u.intent, u.day FROM (
              SELECT customer_id, channel, category AS intent, {day('created_at')} AS day FROM service_tickets
              WHERE created_at >= :start AND created_at < :end AND (category = 'complaint' OR source = 'complaint')
              UNION ALL
              SELECT customer_id, channel, category, {day('created_at')} FROM service_feedback
              WHERE kind = 'complaint' AND ticket_id IS NULL AND created_at >= :start AND created_at < :end) u
            LEFT JOIN customer_profiles p ON p.customer_id = u.customer_id""",
        "alerts": f"""
            SELECT channel, {day('created_at')} AS day, state FROM outbox_messages
            WHERE origin = 'monitoring' AND created_at >= :start AND created_at < :end""",
    }


# family -> (its slice dimensions, aggregate SQL over the base "b" grouped by the key "k")
AGGREGATES = {
    "conversations": (DIMS, {"conversations": "COUNT(*)", "handed_off": "SUM(human)", "closed": "SUM(closed)",
                             "ai_contained": "SUM(contained)", "repeat_contacts": "SUM(repeat7)",
                             "ai_containment_rate": "1.0 * SUM(contained) / NULLIF(SUM(closed), 0)",
                             "repeat_contact_rate": "1.0 * SUM(repeat7) / COUNT(*)"}),
    "tickets": (DIMS, {"tickets_resolved": "COUNT(*)", "tickets_reopened": "SUM(reopened)",
                       "reopen_rate": "1.0 * SUM(reopened) / COUNT(*)"}),
    "sla": (DIMS, {"sla_clocks": "COUNT(*)", "sla_breaches": "SUM(breach)", "sla_near_breaches": "SUM(near)",
                   "sla_breach_rate": "1.0 * SUM(breach) / COUNT(*)"}),
    "csat": (DIMS, {"csat_sent": "COUNT(*)", "csat_responses": "COUNT(score)", "csat_average": "AVG(1.0 * score)",
                    "csat_response_rate": "1.0 * COUNT(score) / COUNT(*)",
                    "csat_satisfied_rate": "1.0 * SUM(CASE WHEN score >= 4 THEN 1 ELSE 0 END) / NULLIF(COUNT(score), 0)"}),
    "complaints": (("channel", "tier", "intent", "day"), {"complaints": "COUNT(*)"}),
    "alerts": (("channel", "day"), {
        "alerts_queued": "COUNT(*)", "alerts_delivered": "SUM(CASE WHEN state = 'sent' THEN 1 ELSE 0 END)",
        "alerts_failed": "SUM(CASE WHEN state = 'dead' THEN 1 ELSE 0 END)",
        "alerts_delivery_rate": "1.0 * SUM(CASE WHEN state = 'sent' THEN 1 ELSE 0 END) / "
                                "NULLIF(SUM(CASE WHEN state IN ('sent', 'dead') THEN 1 ELSE 0 END), 0)"}),
}
#: Interpolated percentiles in SQL: the row at floor(q·(n−1)) plus the fraction of the step to the next.
PERCENTILES = {"conversations": {"first_response_median_s": 0.5, "first_response_p90_s": 0.9},
               "tickets": {"resolution_median_h": 0.5, "resolution_p90_h": 0.9}}


def _key(value) -> str | None:
    return None if value is None else str(value)


def sql_figures(session, family: str, dim: str | None, params: dict) -> dict[str | None, dict]:
    base = bases(session.get_bind().dialect.name)[family]
    key = dim or "0"
    dims, aggregates = AGGREGATES[family]
    cols = ", ".join(f"{expr} AS {name}" for name, expr in aggregates.items())
    rows = session.execute(text(f"SELECT k, {cols} FROM (SELECT {key} AS k, b.* FROM ({base}) b) g GROUP BY k"),
                           params).mappings()
    out = {(_key(r["k"]) if dim else None): dict(r) for r in rows}
    for name, q in PERCENTILES.get(family, {}).items():
        ranked = f"""SELECT k, x, ROW_NUMBER() OVER (PARTITION BY k ORDER BY x) AS rn,
                            COUNT(*) OVER (PARTITION BY k) AS n, LEAD(x) OVER (PARTITION BY k ORDER BY x) AS nx
                     FROM (SELECT {key} AS k, x FROM ({base}) b WHERE x IS NOT NULL) v"""
        pos = f"((n - 1) * {q})"
        below = dialect_sql(session.get_bind().dialect.name)["floor"].format(a=pos)
        for r in session.execute(text(f"""
                SELECT k, x + ({pos} - {below}) * (COALESCE(nx, x) - x) AS value
                FROM ({ranked}) r WHERE rn = {below} + 1"""), params):
            out.setdefault(_key(r.k) if dim else None, {})[name] = r.value
    return out


def customers_sql(session, dim: str | None) -> dict[str | None, int]:
    rows = session.execute(text("""SELECT p.tier, COUNT(*) FROM customers c
                                   LEFT JOIN customer_profiles p ON p.customer_id = c.id
                                   WHERE c.status != 'closed' GROUP BY p.tier""")).all()
    if dim == "tier":
        return {tier: n for tier, n in rows}
    return {None: sum(n for _, n in rows)}


def assert_close(actual, expected, what: str) -> None:
    if expected is None or actual is None:
        assert actual == expected or (expected is None and actual == 0), f"{what}: {actual} != {expected}"
    else:
        assert actual == pytest.approx(float(expected), rel=1e-6, abs=1e-3), f"{what}: {actual} != {expected}"


@pytest.fixture
def report(session):
    dataset.build(session)
    return quality.month_kpis(session, dataset.MONTH, as_of=dataset.AS_OF)


def test_every_figure_matches_hand_written_sql(session, report):
    start, end = quality.month_window(dataset.MONTH)
    params = {"start": param(session, start), "end": param(session, end), "as_of": param(session, dataset.AS_OF)}
    checked = 0
    for dim in (None, *DIMS):
        rows = ({None: report.overall} if dim is None
                else {k: r for k, r in zip(report.slices[dim]["key"], report.slices[dim].iter_rows(named=True),
                                           strict=True)})
        for family, (dims, _) in AGGREGATES.items():
            if dim is not None and dim not in dims:
                continue
            expected = sql_figures(session, family, dim, params)
            assert set(expected) <= set(rows), f"{family} by {dim}: slices {set(expected) - set(rows)} missing"
            for key, figures in expected.items():
                for name, value in figures.items():
                    if name != "k":
                        assert_close(rows[key][name], value, f"{name} of {family} by {dim}={key}")
                        checked += 1
        customers = customers_sql(session, dim)
        complaints = sql_figures(session, "complaints", dim, params) if dim in (None, "tier") else {}
        for key, n in complaints.items():
            assert_close(rows[key]["complaints_per_10k"], n["complaints"] / customers[key] * 10_000,
                         f"complaints per 10,000 by {dim}={key}")
    assert checked > 300


def test_the_known_month_reads_as_the_desk_lived_it(report):
    o = report.overall
    # Nine conversations began in November, Beijing time: the one at 00:30 on 1 December did not,
    # the one at 00:30 on 1 November did (16:30 UTC the day before).
    assert o["conversations"] == 9
    # Contained: 王芳's late-night market question and her password reset. 张伟's transfer question
    # is not (he was back within 24 h), nor the visitor's open chat.
    assert (o["ai_contained"], o["closed"]) == (2, 8)
    assert o["first_response_median_s"] == pytest.approx(600.0)  # 180, 600, 3600, 120, 1200 s
    assert o["repeat_contacts"] == 3  # 张伟 twice, 王芳 once
    assert o["resolution_median_h"] == pytest.approx(24.0)  # 72 h, 6 h, 24 h
    assert (o["sla_breaches"], o["sla_near_breaches"]) == (2, 1)  # the forced liquidation, the phone complaint
    assert (o["csat_sent"], o["csat_responses"], o["csat_average"]) == (5, 4, pytest.approx(3.5))
    assert o["complaints"] == 2 and o["complaints_per_10k"] == pytest.approx(4000.0)  # 5 open customers
    assert (o["alerts_queued"], o["alerts_delivered"], o["alerts_failed"]) == (6, 3, 1)


def test_every_slice_is_labelled_in_chinese(report):
    labels = {dim: list(report.slices[dim]["label"]) for dim in DIMS}
    assert set(labels["tier"]) == {"VIP 客户", "潜力客户", "大众客户", "长尾客户", "未识别客户"}
    assert {"周组长组", "吴组长组", "未分组"} == set(labels["team"])
    assert {"王敏", "陈洁", "李经理", "未转人工"} == set(labels["agent"])
    assert "维持担保比例" in labels["intent"] and "11月20日" in labels["day"]
    for dim, names in labels.items():
        assert all(name and not name.isascii() or name in ("APP",) for name in names), (dim, names)


def test_a_month_that_is_not_one_is_refused(session):
    with pytest.raises(ValidationFailed, match="2026-11"):
        quality.month_kpis(session, "2026-13")
