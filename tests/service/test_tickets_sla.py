"""Tickets through their life, SLA clocks on the trading calendar, warnings and escalation."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from brokercare.core.errors import Conflict, ValidationFailed
from brokercare.outbox.models import OutboxMessage
from brokercare.service import sla, tickets
from brokercare.service.models import Contact, CsatSurvey, SlaClock, StaffNotice, TicketEvent

from .conftest import OPEN_HOURS


@pytest.fixture
def contact(session, brokerage):
    c = Contact(customer_id=brokerage.mass.id, kind="customer", label="张伟")
    session.add(c)
    session.commit()
    return c


def new_ticket(session, contact, brokerage, priority="urgent", now=OPEN_HOURS, **kw):
    t = tickets.create_ticket(
        session, contact_id=contact.id, subject="银证转账未到账", description="9月14日转入5万元，至今未到账。",
        category="transfer_status", priority=priority, source="staff", channel="wechat",
        created_by_id=brokerage.general_agent.id, now=now, **kw)
    session.commit()
    return t


def test_the_full_life_of_a_ticket(session, contact, brokerage):
    t = new_ticket(session, contact, brokerage)
    agent = brokerage.general_agent.id
    assert t.ticket_no.startswith("TK20260915") and t.department == "trading"
    tickets.transition(session, t.id, "in_progress", actor_id=agent, now=OPEN_HOURS + timedelta(hours=1))
    tickets.transition(session, t.id, "waiting_on_customer", actor_id=agent, note="请提供银行流水截图",
                       now=OPEN_HOURS + timedelta(hours=2))
    tickets.transition(session, t.id, "in_progress", actor_id=agent, now=OPEN_HOURS + timedelta(hours=5))
    tickets.transition(session, t.id, "resolved", actor_id=agent, note="银行端延迟，款项已于今日到账。",
                       now=OPEN_HOURS + timedelta(hours=6))
    tickets.transition(session, t.id, "closed", actor_id=agent, now=OPEN_HOURS + timedelta(hours=30))
    session.commit()
    states = [e.to_status for e in tickets.events_of(session, t.id) if e.to_status]
    assert states == ["open", "in_progress", "waiting_on_customer", "in_progress", "resolved", "closed"]
    assert t.assignee_id == agent and t.first_responded_at == OPEN_HOURS + timedelta(hours=2)
    from brokercare.ledger.models import LedgerEntry

    ledgered = session.scalars(select(LedgerEntry).where(LedgerEntry.subject == f"ticket:{t.id}")
                               .order_by(LedgerEntry.id)).all()
    assert [e.kind for e in ledgered] == ["ticket.state_changed"] * 6
    # closing asked for CSAT on WeChat, the channel the ticket came from
    survey = session.scalar(select(CsatSurvey).where(CsatSurvey.subject_kind == "ticket"))
    assert survey.channel == "wechat"
    assert session.scalar(select(OutboxMessage.body).where(OutboxMessage.kind == "csat_request")).count(t.ticket_no) == 1
    # the customer was waiting 3 hours: the resolution clock was paused for them
    res = next(c for c in sla.clocks_of(session, "ticket", t.id) if c.metric == "resolution")
    assert res.due_at == OPEN_HOURS + timedelta(hours=27) and res.met_at is not None


def test_invalid_transitions_are_refused_with_the_allowed_ones(session, contact, brokerage):
    t = new_ticket(session, contact, brokerage)
    with pytest.raises(Conflict) as err:
        tickets.transition(session, t.id, "closed", actor_id=1)
    assert "cannot go from open to closed" in err.value.detail and "resolved" in err.value.detail
    with pytest.raises(ValidationFailed):
        tickets.transition(session, t.id, "resolved", actor_id=1)  # no resolution note
    with pytest.raises(ValidationFailed):
        tickets.transition(session, t.id, "escalated", actor_id=1)
    session.rollback()
    assert session.scalar(select(func.count(TicketEvent.id)).where(TicketEvent.ticket_id == t.id)) == 1


def test_reopen_restarts_the_resolution_clock(session, contact, brokerage):
    t = new_ticket(session, contact, brokerage)
    tickets.transition(session, t.id, "resolved", actor_id=1, note="已处理", now=OPEN_HOURS + timedelta(hours=1))
    reopened_at = OPEN_HOURS + timedelta(hours=3)
    tickets.transition(session, t.id, "open", actor_id=1, note="客户反馈仍未到账", now=reopened_at)
    session.commit()
    assert t.reopen_count == 1 and t.status == "open" and t.resolved_at is None
    res = next(c for c in sla.clocks_of(session, "ticket", t.id) if c.metric == "resolution")
    assert res.started_at == reopened_at and res.met_at is None


def test_general_sla_counts_three_working_days_on_the_exchange_calendar(session, contact, brokerage):
    # Opened Wednesday 2026-09-30 16:00 Beijing, the eve of the National Day holiday: the three
    # working days are counted on trading days only, so the deadline lands after the holiday.
    opened = datetime(2026, 9, 30, 8, 0, tzinfo=UTC)
    t = new_ticket(session, contact, brokerage, priority="general", now=opened)
    clock = sla.clocks_of(session, "ticket", t.id)[0]
    assert clock.metric == "first_response"
    local = clock.due_at.astimezone(sla._shanghai())
    assert local.date() > datetime(2026, 10, 8).date()
    from brokercare.core.calendar import add_working_hours

    assert clock.due_at == add_working_hours(opened, 24)
    assert len(sla.clocks_of(session, "ticket", t.id)) == 1


def test_sla_job_warns_then_escalates_to_the_team_lead_once(session, contact, brokerage):
    t = new_ticket(session, contact, brokerage, priority="urgent")
    tickets.assign(session, t.id, brokerage.general_agent.id, actor_id=brokerage.lead.id)
    session.commit()
    assert sla.run_sla_check(session, OPEN_HOURS + timedelta(hours=10)).warned == 0
    at_warn = sla.run_sla_check(session, OPEN_HOURS + timedelta(hours=19))
    assert at_warn.warned == 2 and at_warn.breached == 0  # first response and resolution
    again = sla.run_sla_check(session, OPEN_HOURS + timedelta(hours=20))
    assert again.warned == 0
    warn = session.scalars(select(StaffNotice).where(StaffNotice.kind == "sla_warning")).all()
    assert {w.user_id for w in warn} == {brokerage.general_agent.id}
    breach = sla.run_sla_check(session, OPEN_HOURS + timedelta(hours=25))
    assert breach.breached == 2 and breach.escalated == 2
    assert sla.run_sla_check(session, OPEN_HOURS + timedelta(hours=26)).breached == 0
    session.commit()
    notices = session.scalars(select(StaffNotice).where(StaffNotice.kind == "sla_breach")).all()
    assert brokerage.lead.id in {n.user_id for n in notices}
    assert "已升级给组长" in notices[0].body
    kinds = [e.kind for e in tickets.events_of(session, t.id)]
    assert kinds.count("sla_breach") == 2 and "escalated" in kinds
    clock = session.scalar(select(SlaClock).where(SlaClock.subject_id == t.id, SlaClock.metric == "resolution"))
    assert clock.escalated_to_id == brokerage.lead.id


def test_met_and_paused_clocks_never_breach(session, contact, brokerage):
    t = new_ticket(session, contact, brokerage, priority="urgent")
    tickets.respond(session, t.id, actor_id=brokerage.general_agent.id, text="已收到，正在联系银行核查。",
                    now=OPEN_HOURS + timedelta(hours=1))
    tickets.transition(session, t.id, "waiting_on_customer", actor_id=1, now=OPEN_HOURS + timedelta(hours=2))
    session.commit()
    result = sla.run_sla_check(session, OPEN_HOURS + timedelta(days=3))
    assert result.breached == 0 and result.warned == 0
    reply = session.scalar(select(OutboxMessage).where(OutboxMessage.kind == "ticket_reply"))
    assert reply.channel == "wechat" and t.ticket_no in reply.body


def test_emergency_clock_is_fifteen_minutes(session, contact, brokerage):
    new_ticket(session, contact, brokerage, priority="emergency")
    result = sla.run_sla_check(session, OPEN_HOURS + timedelta(minutes=16))
    assert result.breached == 1 and any("首次响应" in n for n in result.notices)
