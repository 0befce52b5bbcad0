"""Who sees a customer's ID number, phone, address and bank card whole, and the ledger trail."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from tests.relationships import serve

from brokercare.core.errors import PermissionDenied, ValidationFailed
from brokercare.customers.service import customer_pii
from brokercare.ledger.models import LedgerEntry
from brokercare.security.crypto import blind_index
from brokercare.security.policy import cleared, data_class_of, may_reveal

from .conftest import login


def pii_reads(session) -> list[dict]:
    rows = session.scalars(select(LedgerEntry).where(LedgerEntry.kind == "pii.read").order_by(LedgerEntry.id))
    return [json.loads(e.body)["data"] for e in rows]


def test_agent_sees_masked_compliance_sees_whole_and_it_is_logged(session, brokerage):
    zhang, users = brokerage["zhang"], brokerage["users"]
    masked = customer_pii(session, users["agent"], zhang)
    assert masked["id_number"] == "110***********1234"
    assert masked["phone"] == "138****5678"
    assert masked["name"] == "张*"
    assert masked["address"] == "北京市朝阳区****"
    assert masked["bank_cards"][0]["card"] == "622202*********1234"
    assert set(masked["masked_fields"]) == {"name", "id_number", "phone", "address", "bank_cards"}
    assert pii_reads(session) == []  # nothing whole, nothing to log

    whole = customer_pii(session, users["compliance"], zhang, reason="反洗钱复核")
    assert whole["id_number"] == "110105199003071234"
    assert whole["bank_cards"][0]["card"] == "6222021234567891234"
    [read] = pii_reads(session)
    assert read["user_id"] == users["compliance"].id and read["customer_id"] == zhang.id
    assert set(read["fields"]) == {"name", "id_number", "phone", "address", "bank_cards"}
    assert read["reason"] == "反洗钱复核"
    assert read["value_hmacs"]["id_number"] == blind_index("110105199003071234")
    body = session.scalar(select(LedgerEntry.body).where(LedgerEntry.kind == "pii.read"))
    assert "110105199003071234" not in body and "13812345678" not in body and "张伟" not in body


def test_reveal_on_request_is_by_role(session, brokerage):
    zhang, users = brokerage["zhang"], brokerage["users"]
    cm = customer_pii(session, users["customer_manager"], zhang)
    assert cm["phone"] == "13812345678" and cm["id_number"] == "110***********1234"
    cm_reveal = customer_pii(session, users["customer_manager"], zhang, reveal=True, reason="开户资料复核")
    assert cm_reveal["id_number"] == "110105199003071234"
    assert pii_reads(session)[-1]["revealed_on_request"] is True

    lead = customer_pii(session, users["team_lead"], zhang, reveal=True)
    assert lead["phone"] == "13812345678" and lead["id_number"] == "110***********1234"

    with pytest.raises(PermissionDenied):
        customer_pii(session, users["agent"], zhang, reveal=True)
    admin = customer_pii(session, users["admin"], zhang)
    assert admin["id_number"] == "110***********1234" and admin["phone"] == "138****5678"


def test_customer_sees_own_data_but_not_another_customers(session, brokerage):
    zhang, li, users = brokerage["zhang"], brokerage["li"], brokerage["users"]
    own = customer_pii(session, users["zhang"], zhang)
    assert own["id_number"] == "110105199003071234" and own["masked_fields"] == []
    with pytest.raises(PermissionDenied, match="本人"):
        customer_pii(session, users["zhang"], li)
    assert pii_reads(session) == []  # reading one's own data is not an access to log


def test_api_masks_by_role_and_customers_cannot_read_others(client, session, brokerage):
    zid, lid = brokerage["zhang"].id, brokerage["li"].id
    serve(session, brokerage["users"]["agent"], brokerage["zhang"].id)  # agent01 serves 张伟's conversation
    agent = client.get(f"/api/v1/security/customers/{zid}/pii", headers=login(client, "agent01"))
    assert agent.status_code == 200 and agent.json()["id_number"] == "110***********1234"
    comp = client.get(f"/api/v1/security/customers/{zid}/pii?reason=反洗钱复核", headers=login(client, "compliance01"))
    assert comp.json()["id_number"] == "110105199003071234"
    assert client.get(f"/api/v1/security/customers/{zid}/pii?reveal=true",
                      headers=login(client, "agent01")).status_code == 403

    zhang = login(client, "zhangwei")
    assert client.get(f"/api/v1/security/customers/{zid}/pii", headers=zhang).json()["phone"] == "13812345678"
    other = client.get(f"/api/v1/security/customers/{lid}/pii", headers=zhang)
    assert other.status_code == 403 and other.json()["detail"] == "您只能查看本人的信息。"
    assert client.get("/api/v1/security/customers/999999/pii", headers=zhang).status_code == 403
    # Staff without a relationship learn nothing either, not even whether the customer exists.
    assert client.get("/api/v1/security/customers/999999/pii", headers=login(client, "agent01")).status_code == 403

    with_ledger = client.get("/api/v1/ledger/checkpoint", headers=login(client, "compliance01"))
    assert with_ledger.status_code == 200 and with_ledger.json()["tree_size"] >= 1
    assert client.get("/api/v1/ledger/checkpoint", headers=login(client, "agent01")).status_code == 403


def test_data_classes_and_clearance():
    assert data_class_of("id_number") == 4 and data_class_of("bank_card_enc") == 4
    assert data_class_of("phone") == 3 and data_class_of("aum") == 3 and data_class_of("holding_count") == 3
    assert data_class_of("tier") == 2 and data_class_of("symbol") == 1
    assert data_class_of("avg_session_minutes") == 2  # unknown behavioural features default to internal
    assert cleared("agent", 2) and not cleared("agent", 3) and not cleared("agent", 4)
    assert all(cleared("compliance", c) for c in (1, 2, 3, 4))
    assert may_reveal("risk", 4) and not cleared("risk", 4)
    with pytest.raises(ValidationFailed):
        cleared("trader", 1)
    with pytest.raises(ValidationFailed):
        cleared("agent", 5)
