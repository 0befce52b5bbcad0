"""Fixtures for the outbox: real local gateways, channels configured to reach them, customers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy.orm import Session, sessionmaker
from tests.outbox.gateways import HttpGateway, SmtpServer

from brokercare.core.settings import reset_settings
from brokercare.customers.models import Customer
from brokercare.security.service import blind_index, get_cipher

PEOPLE = [
    # name, phone, e-mail, WeChat openid
    ("王建国", "13812345678", "wangjianguo@163.com", "oWx1a2b3c4d5e6f7g8h9i0jklmn"),
    ("李晓梅", "13923456789", "lixiaomei@qq.com", "oWx9z8y7x6w5v4u3t2s1r0qponm"),
    ("陈志强", "15034567890", None, None),
]


@dataclass
class Person:
    id: int
    customer_no: str
    name: str
    phone: str
    email: str | None
    openid: str | None


@pytest.fixture
def people(session: Session) -> list[Person]:
    cipher = get_cipher(session)
    out = []
    for n, (name, phone, email, openid) in enumerate(PEOPLE, start=1):
        c = Customer(customer_no=f"C{n:08d}", name=name, gender="M", birth_date=date(1978, 5, 4),
                     id_number_enc=cipher.encrypt(f"11010519780504{n:04d}"),
                     id_number_hash=blind_index(f"11010519780504{n:04d}"),
                     phone_enc=cipher.encrypt(phone), phone_hash=blind_index(phone), email=email,
                     wechat_openid=openid, province="上海", city="上海", occupation="教师",
                     branch_code="SH01", opened_on=date(2019, 3, 1))
        session.add(c)
        session.flush()
        out.append(Person(c.id, c.customer_no, name, phone, email, openid))
    session.commit()
    return out


@pytest.fixture
def sessions(engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@pytest.fixture
def gateway() -> Iterator[HttpGateway]:
    gw = HttpGateway()
    yield gw
    gw.close()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    yield server
    server.stop()


@pytest.fixture
def channels(gateway, monkeypatch) -> HttpGateway:
    """SMS, push and WeChat pointed at the local gateway; short backoff. The timeout leaves room
    for a machine shared with other work; the gateway's 'hang' answers come later still."""
    env = {
        "BROKERCARE_SMS_URL": f"{gateway.url}/sms",
        "BROKERCARE_PUSH_URL": f"{gateway.url}/push",
        "BROKERCARE_WECHAT_API_BASE": gateway.url,
        "BROKERCARE_WECHAT_APPID": "wx-test-app",
        "BROKERCARE_WECHAT_SECRET": "wx-test-secret",
        "BROKERCARE_OUTBOX_TIMEOUT_S": "2",
        "BROKERCARE_OUTBOX_CONCURRENCY": "16",
        "BROKERCARE_OUTBOX_BACKOFF_S": "0.05",
        "BROKERCARE_OUTBOX_BACKOFF_MAX_S": "0.2",
        "BROKERCARE_OUTBOX_MAX_ATTEMPTS": "4",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    reset_settings()
    return gateway
