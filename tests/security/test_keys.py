"""Key rotation: every value stays readable before, during and after, with no downtime."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from brokercare.accounts.models import Account
from brokercare.cli import app
from brokercare.core.errors import Conflict
from brokercare.customers.models import Customer
from brokercare.security import crypto, keys

from .conftest import add_customer

CITIES = ["北京市海淀区中关村大街", "上海市浦东新区世纪大道", "深圳市南山区科技园", "杭州市西湖区文三路"]


def _make_customers(session, n: int) -> dict[int, tuple[str, str, str]]:
    expected = {}
    for i in range(n):
        id_number = f"1101051990{i:04d}123{i % 10}"
        phone = f"139{i:08d}"
        address = f"{CITIES[i % 4]}{i + 1}号"
        c = add_customer(session, no=f"C{i:07d}", name=f"客户{i}", id_number=id_number, phone=phone,
                         address=address, card=f"62220212345{i:08d}")
        expected[c.id] = (id_number, phone, address)
    session.commit()
    return expected


def _read_all(engine) -> dict[int, tuple[str, str, str]]:
    """What the API would read, through its own (cached) cipher in its own session."""
    with Session(engine) as s:
        cipher = crypto.get_cipher(s)
        return {c.id: (cipher.decrypt(c.id_number_enc), cipher.decrypt(c.phone_enc), cipher.decrypt(c.address_enc))
                for c in s.scalars(select(Customer))}


def test_rotation_keeps_every_value_readable(engine, session):
    expected = _make_customers(session, 25)
    cards_before = {a.id: crypto.get_cipher(session).decrypt(a.bank_card_enc) for a in session.scalars(select(Account))}
    assert {r["key_id"]: r["values"] for r in keys.key_status(session)} == {"k1": 25 * 4}

    mid_rotation: list[dict] = []

    def progress(column: str, done: int, total: int) -> None:
        # Between batches some values are under k2 and the rest still under k1: all must read.
        if column == "customers.id_number_enc" and 0 < done < total:
            mid_rotation.append(_read_all(engine))

    report = keys.rotate(engine, batch_size=10, progress=progress)
    assert report.new_key_id == "k2" and report.total == 100
    assert mid_rotation and all(snapshot == expected for snapshot in mid_rotation)
    assert _read_all(engine) == expected

    session.expire_all()
    status = {r["key_id"]: (r["status"], r["values"]) for r in keys.key_status(session)}
    assert status == {"k1": ("retired", 0), "k2": ("active", 100)}
    cipher = crypto.get_cipher(session, refresh=True)
    assert {a.id: cipher.decrypt(a.bank_card_enc) for a in session.scalars(select(Account))} == cards_before
    assert all(c.id_number_enc.startswith("k2$") for c in session.scalars(select(Customer)))

    assert keys.retire(session) == ["k1"]
    session.commit()
    crypto.forget_ciphers()
    assert _read_all(engine) == expected


def test_a_stale_process_reads_values_sealed_under_a_newer_key(engine, session):
    expected = _make_customers(session, 3)
    with Session(engine) as api_session:
        stale = crypto.get_cipher(api_session)  # the API process cached k1 only
    keys.rotate(engine, batch_size=2)
    assert "k2" not in stale.keys
    with Session(engine) as s:
        for c in s.scalars(select(Customer)):
            assert stale.decrypt(c.id_number_enc) == expected[c.id][0]  # reloads k2 on first sight
    assert "k2" in stale.keys


def test_retire_refuses_a_key_still_in_use(engine, session):
    _make_customers(session, 2)
    with Session(engine) as s:
        crypto.create_data_key(s)  # a new key, but nothing re-sealed yet
        s.commit()
    with pytest.raises(Conflict, match="still seals 8 values"):
        keys.retire_key(session, "k1")
    with pytest.raises(Conflict, match="active key"):
        keys.retire_key(session, "k2")
    assert keys.retire(session) == []


def test_keys_cli(engine, session):
    _make_customers(session, 4)
    runner = CliRunner()
    result = runner.invoke(app, ["keys", "rotate", "--batch-size", "3"])
    assert result.exit_code == 0, result.output
    assert "Rotated to k2" in result.output and "16 values re-sealed" in result.output
    status = runner.invoke(app, ["keys", "status"])
    assert "k2" in status.output and "16" in status.output
    retire = runner.invoke(app, ["keys", "retire"])
    assert "Dropped 1 key(s)" in retire.output


def test_users_cli(engine):
    runner = CliRunner()
    created = runner.invoke(app, ["users", "create", "--username", "wangfang", "--role", "advisor",
                                  "--display-name", "王芳", "--skills", "funds,trading", "--password-stdin"],
                            input="Advis0r2026\n")
    assert created.exit_code == 0, created.output
    bad = runner.invoke(app, ["users", "create", "--username", "wangfang2", "--role", "advisor",
                              "--password-stdin"], input="short\n")
    assert bad.exit_code == 1 and "至少 8 位" in bad.output
    listed = runner.invoke(app, ["users", "list"])
    assert "wangfang" in listed.output and "投资顾问" in listed.output and "1 users" in listed.output
