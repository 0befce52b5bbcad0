"""Importing customers from a broker's own files (``brokercare import customers FILE``).

Identity number, phone and address arrive in clear and are stored only encrypted, with the blind
indexes the platform looks customers up by. The natural key is ``customer_no``.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from brokercare.core.bulkimport import (
    Column,
    ImportSpec,
    Prepared,
    choice,
    decimal,
    lookup,
    parse_date,
    pattern,
    text,
)
from brokercare.core.database import utcnow
from brokercare.core.identifiers import is_valid_id_number, normalise_mobile
from brokercare.customers.models import Customer
from brokercare.security.service import blind_index_many, ensure_data_key, get_cipher

GENDER = {"m": "M", "f": "F", "男": "M", "女": "F", "male": "M", "female": "F"}
MARITAL = {"single": "single", "married": "married", "divorced": "divorced", "widowed": "widowed",
           "未婚": "single", "已婚": "married", "离异": "divorced", "丧偶": "widowed"}
RISK = {f"c{i}": f"C{i}" for i in range(1, 6)}
INVESTOR = {"ordinary": "ordinary", "professional": "professional", "普通": "ordinary",
            "专业": "professional", "普通投资者": "ordinary", "专业投资者": "professional"}
STATUS = {"active": "active", "dormant": "dormant", "closed": "closed", "正常": "active",
          "休眠": "dormant", "销户": "closed"}


def _id_number(v: str) -> str:
    n = v.strip().upper()
    if not is_valid_id_number(n, on=date.today()):
        raise ValueError("not a valid 18-digit identity number (format, birth date or check digit)")
    return n


COLUMNS = [
    Column("customer_no", pattern(r"[0-9A-Za-z]{4,20}", "a customer number (4-20 letters or digits)")),
    Column("name", text(32)),
    Column("gender", choice(GENDER, "gender")),
    Column("birth_date", parse_date),
    Column("id_number", _id_number),
    Column("phone", normalise_mobile),
    Column("address", text(200), required=False),
    Column("email", pattern(r"[^@\s]+@[^@\s]+\.[^@\s]+", "an e-mail address"), required=False),
    Column("province", text(16)),
    Column("city", text(16)),
    Column("occupation", text(32)),
    Column("education", text(16), required=False),
    Column("annual_income", decimal(min_value=0), required=False),
    Column("marital_status", choice(MARITAL, "marital status"), required=False),
    Column("branch_code", pattern(r"[0-9A-Za-z]{2,8}", "a branch code")),
    Column("opened_on", parse_date),
    Column("risk_level", choice(RISK, "risk level"), required=False),
    Column("investor_type", choice(INVESTOR, "investor type"), required=False, default="ordinary"),
    Column("status", choice(STATUS, "status"), required=False, default="active"),
]


def _prepare(conn: Connection, parsed: dict[int, dict]) -> Prepared:
    with Session(bind=conn) as session:
        cipher = get_cipher(session)
    errors: dict[int, str] = {}
    today = date.today()
    for row_no, r in parsed.items():
        n = r["id_number"]
        if n[6:14] != r["birth_date"].strftime("%Y%m%d"):
            errors[row_no] = "id_number does not match birth_date"
        elif int(n[16]) % 2 != (1 if r["gender"] == "M" else 0):
            errors[row_no] = "id_number does not match gender (17th digit odd for men, even for women)"
        elif r["birth_date"] > today or r["opened_on"] > today:
            errors[row_no] = "birth_date and opened_on cannot be in the future"
        elif r["opened_on"] < r["birth_date"]:
            errors[row_no] = "opened_on is before birth_date"
    rows = {k: v for k, v in parsed.items() if k not in errors}
    # one identity number belongs to one customer number, in the file and in the database
    hashes = dict(zip(rows, blind_index_many([r["id_number"] for r in rows.values()]), strict=True))
    owner = lookup(conn, Customer.id_number_hash, Customer.customer_no, hashes.values())
    first: dict[str, int] = {}
    for row_no, h in hashes.items():
        no = rows[row_no]["customer_no"]
        if owner.get(h, no) != no:
            errors[row_no] = f"id_number already belongs to customer {owner[h]}"
        elif h in first:
            errors[row_no] = f"id_number repeated in the file (first at row {first[h]})"
        else:
            first[h] = row_no
    rows = {k: v for k, v in rows.items() if k not in errors}
    order = list(rows)
    enc = cipher.encrypt_many([rows[k]["id_number"] for k in order] + [rows[k]["phone"] for k in order]
                              + [rows[k]["address"] for k in order])
    phone_h = blind_index_many([rows[k]["phone"] for k in order])
    n, now = len(order), utcnow()
    out = {}
    for i, row_no in enumerate(order):
        r = rows[row_no]
        out[row_no] = {
            "customer_no": r["customer_no"], "name": r["name"], "gender": r["gender"],
            "birth_date": r["birth_date"], "id_number_enc": enc[i], "id_number_hash": hashes[row_no],
            "phone_enc": enc[n + i], "phone_hash": phone_h[i], "address_enc": enc[2 * n + i],
            "email": r["email"] or None, "province": r["province"], "city": r["city"],
            "occupation": r["occupation"], "education": r["education"] or None,
            "annual_income": r["annual_income"], "marital_status": r["marital_status"],
            "branch_code": r["branch_code"], "opened_on": r["opened_on"],
            "status": r["status"], "risk_level": r["risk_level"],
            "investor_type": r["investor_type"], "updated_at": now, "created_at": now,
            "_address": r["address"],
        }
    return Prepared(out, errors)


def _differs(conn: Connection, old, new: dict) -> bool:
    """Encrypted columns compare by blind index (id, phone) or by decrypting (address)."""
    if old["id_number_hash"] != new["id_number_hash"] or old["phone_hash"] != new["phone_hash"]:
        return True
    with Session(bind=conn) as session:
        cipher = get_cipher(session)
    before = cipher.decrypt(old["address_enc"]) if old["address_enc"] else None
    return before != (new["_address"] or None)


def spec() -> ImportSpec:
    return ImportSpec(
        kind="customers", table=Customer.__table__, columns=COLUMNS,
        key=("customer_no",), key_columns=("customer_no",), prepare=_prepare,
        compared=("name", "gender", "birth_date", "email", "province", "city", "occupation",
                  "education", "annual_income", "marital_status", "branch_code", "opened_on",
                  "status", "risk_level", "investor_type", "id_number_hash", "phone_hash"),
        differs=_differs, fetched=("address_enc",), setup=ensure_data_key,
    )

