"""A customer with months of ordinary logins from 北京 on one phone and transfers to one card, a
risk officer's and the customer's logins, and addresses that the IP database places in real cities."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from brokercare.customers.models import Customer
from brokercare.risk import service
from brokercare.risk.places import ip_regions, locate
from brokercare.security.service import blind_index, create_user, get_cipher

PASSWORD = "Passw0rd2026"
START = datetime(2026, 9, 1, 1, 30, tzinfo=UTC)  # 09:30 in Beijing


def ips_in(province: str, city: str, n: int = 5) -> list[str]:
    """Real addresses that the IP database places in ``city``."""
    regions = ip_regions()
    segs = regions.segments_of(province, city)
    out = []
    for s in segs[:: max(1, len(segs) // n)][:n]:
        ip = ".".join(str(int(regions.starts[s]) >> k & 255) for k in (24, 16, 8, 0))
        assert locate(ip).city == city
        out.append(ip)
    return out


BEIJING_IPS = ips_in("北京", "北京市")
GUANGZHOU_IPS = ips_in("广东", "广州市")
SHANGHAI_IPS = ips_in("上海", "上海市")
PHONE = "iPhone15-7f3a9c21d0"
CARD = "card-icbc-7f3a"  # the bound card's token, as accounts would pass it


@pytest.fixture(autouse=True)
def _cheap_argon2():
    from argon2 import PasswordHasher

    from brokercare.security.auth import use_password_hasher

    previous = use_password_hasher(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    yield
    use_password_hasher(previous)


def add_customer(session, no: str, name: str, id_number: str, phone: str) -> Customer:
    cipher = get_cipher(session)
    c = Customer(customer_no=no, name=name, gender="F", birth_date=date(1986, 5, 12),
                 id_number_enc=cipher.encrypt(id_number), id_number_hash=blind_index(id_number),
                 phone_enc=cipher.encrypt(phone), phone_hash=blind_index(phone), province="北京",
                 city="北京", occupation="教师", branch_code="B001", opened_on=date(2019, 4, 1))
    session.add(c)
    session.flush()
    return c


@dataclass
class Desk:
    customer: Customer
    now: datetime  # just after the history


def history(session, customer_id: int, *, days: int = 40, start: datetime = START) -> datetime:
    """Two logins a day from 北京 on the same phone, and a ~2万 transfer to the same card weekly."""
    for d in range(days):
        day = start + timedelta(days=d)
        for k, hours in enumerate((0, 10)):  # 09:30 and 19:30 Beijing time
            service.assess_login(session, customer_id=customer_id, ip=BEIJING_IPS[(d + k) % len(BEIJING_IPS)],
                                 device_id=PHONE, at=day + timedelta(hours=hours))
        if d % 7 == 3:
            service.assess_transfer_out(session, customer_id=customer_id, amount=Decimal(18000 + 400 * (d % 5)),
                                        card_token=CARD, ip=BEIJING_IPS[0], device_id=PHONE,
                                        at=day + timedelta(hours=1))
    session.commit()
    return start + timedelta(days=days)


@pytest.fixture
def desk(session) -> Desk:
    wang = add_customer(session, "C0100001", "王芳", "110105198605123423", "13911112222")
    create_user(session, username="risk01", password=PASSWORD, role="risk", display_name="风控 赵敏")
    create_user(session, username="agent01", password=PASSWORD, role="agent", display_name="坐席 小刘")
    create_user(session, username="wangfang", password=PASSWORD, role="customer", display_name="王芳",
                customer_id=wang.id)
    session.commit()
    return Desk(wang, history(session, wang.id))


@pytest.fixture
def client(engine):
    from brokercare.api import create_app

    with TestClient(create_app()) as c:
        yield c


def token(client, username: str) -> dict:
    r = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}
