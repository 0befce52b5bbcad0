"""One ticket per case (issue 14 item 5): 一键建单 on a conversation that routing already gave a
ticket returns that ticket; on one without, the subject names the case, not the last "转人工"."""

from sqlalchemy import func, select

from brokercare.service import service as conv_svc
from brokercare.service.channels import Identity, from_json_message
from brokercare.service.models import Ticket

from .conftest import OPEN_HOURS
from .fakes import install, scripted_analysis


def write(session, customer, text, analysis, minutes=0):
    from datetime import timedelta

    msg = from_json_message("app", text, identities=[Identity("customer_id", str(customer.id), True)])
    got = conv_svc.ingest(session, msg, now=OPEN_HOURS + timedelta(minutes=minutes))
    out = conv_svc.process(session, got.first_customer_message.id, analysis=analysis,
                           now=OPEN_HOURS + timedelta(minutes=minutes))
    session.commit()
    return out


def test_a_complaints_ticket_is_reused_by_one_click(session, brokerage, monkeypatch):
    install(monkeypatch)
    out = write(session, brokerage.mass, "我要投诉，转账的钱三天了还没到账！",
                scripted_analysis((("complaint", 0.93),), "angry", 0.7))
    write(session, brokerage.mass, "转人工", scripted_analysis((("human_agent", 0.9),), "angry", 0.6), minutes=1)
    assert out.ticket is not None
    first, created = conv_svc.case_ticket(session, out.conversation, staff_id=brokerage.complaints_agent.id)
    again, created_again = conv_svc.case_ticket(session, out.conversation, staff_id=brokerage.complaints_agent.id)
    session.commit()
    assert first.id == again.id == out.ticket.id and not created and not created_again
    assert session.scalar(select(func.count(Ticket.id)).where(Ticket.conversation_id == out.conversation.id)) == 1


def test_a_new_cases_subject_is_what_the_customer_asked_about(session, brokerage, monkeypatch):
    install(monkeypatch)
    out = write(session, brokerage.mass, "融资融券的利率是多少？能不能便宜点",
                scripted_analysis((("margin_rate", 0.9),), "calm", 0.1))
    write(session, brokerage.mass, "转人工！", scripted_analysis((("human_agent", 0.9),), "anxious", 0.4), minutes=1)
    session.refresh(out.conversation)
    ticket, created = conv_svc.case_ticket(session, out.conversation, staff_id=brokerage.general_agent.id)
    session.commit()
    assert created and "融资融券的利率是多少" in ticket.subject and "转人工" not in ticket.subject
    assert ticket.assignee_id == brokerage.general_agent.id
