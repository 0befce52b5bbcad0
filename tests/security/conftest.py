"""A customer with encrypted personal data and a bank card, and logins for several roles."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from brokercare.accounts.models import Account
from brokercare.api import create_app
from brokercare.customers.models import Customer
from brokercare.security.auth import use_password_hasher
from brokercare.security.crypto import blind_index, get_cipher
from brokercare.security.service import create_user

PASSWORD = "Passw0rd2026"


@pytest.fixture(autouse=True)
def _cheap_argon2():
    """Still argon2id, at a cost that keeps the suite quick (production keeps the RFC 9106 profile)."""


    previous = use_password_hasher(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    yield
    use_password_hasher(previous)


def add_customer(session, *, no: str, name: str, id_number: str, phone: str, address: str,
                 card: str | None = "6222021234567891234") -> Customer:
    cipher = get_cipher(session)
    c = Customer(
        customer_no=no, name=name, gender="M", birth_date=date(1990, 3, 7),
        id_number_enc=cipher.encrypt(id_number), id_number_hash=blind_index(id_number),
        phone_enc=cipher.encrypt(phone), phone_hash=blind_index(phone),
        address_enc=cipher.encrypt(address), province="北京", city="北京", occupation="工程师",
        branch_code="B001", opened_on=date(2020, 1, 2),
    )
    session.add(c)
    session.flush()
    if card:
        session.add(Account(
            account_no=f"A{no}", customer_id=c.id, kind="cash", opened_on=date(2020, 1, 2),
            branch_code="B001", commission_rate=Decimal("0.00025"), cash_balance=Decimal("1000.00"),
            bank_name="工商银行", bank_card_enc=cipher.encrypt(card), bank_card_hash=blind_index(card),
        ))
    session.flush()
    return c


@pytest.fixture
def brokerage(session):
    """Two customers, a login for each, and a staff login for every role."""
    zhang = add_customer(session, no="C0000001", name="张伟", id_number="110105199003071234",
                         phone="13812345678", address="北京市朝阳区建国路88号")
    li = add_customer(session, no="C0000002", name="李娜", id_number="310104198507152345",
                      phone="13987654321", address="上海市徐汇区漕溪北路1号", card="6217001234567890123")
    users = {}
    for role in ("agent", "advisor", "customer_manager", "risk", "compliance", "admin", "team_lead"):
        users[role] = create_user(session, username=f"{role}01", password=PASSWORD, role=role,
                                  display_name=f"{role} 一号")
    users["zhang"] = create_user(session, username="zhangwei", password=PASSWORD, role="customer",
                                 display_name="张伟", customer_id=zhang.id)
    users["li"] = create_user(session, username="lina", password=PASSWORD, role="customer",
                              display_name="李娜", customer_id=li.id)
    session.commit()
    return {"zhang": zhang, "li": li, "users": users}


@pytest.fixture
def client(engine):
    with TestClient(create_app()) as c:
        yield c


def login(client, username: str, password: str = PASSWORD) -> dict:
    r = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}

