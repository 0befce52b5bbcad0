"""Vectorised generation of a demo brokerage, one chunk of customers at a time.

A chunk is a pure function of ``(seed, chunk index, context)``: the same seed gives the same
brokerage whatever the number of worker processes. Child rows carry chunk-local ids (0-based) and
chunk-local foreign keys; the loader shifts them by each table's base id when it writes.
Personal data leaves a chunk already encrypted, with its blind indexes.

:func:`generate_chunk` reads as the pipeline it is: who the customers are
(:mod:`~brokercare.demo.people`), what they own (:mod:`~brokercare.demo.holdings`), what they did
(:mod:`~brokercare.demo.history`), then the rows of each table. Every section draws from the
chunk's one random generator in this order, so the order is part of what a seed means.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass

import numpy as np
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from brokercare.demo.context import Context
from brokercare.demo.history import (
    Trading,
    behaviour_events,
    cash_movements,
    draw_trading,
    family_members,
    life_events,
)
from brokercare.demo.holdings import (
    Banking,
    Book,
    assemble_book,
    draw_allocation,
    draw_banking,
    draw_margin,
    fund_positions,
    margin_contracts,
    repo_positions,
    stock_positions,
)
from brokercare.demo.leavers import draw_leavers
from brokercare.demo.people import (
    RISK_LEVELS,
    Assessment,
    Contacts,
    People,
    Relationship,
    draw_assessment,
    draw_contacts,
    draw_people,
    draw_relationship,
)
from brokercare.demo.sampling import choice
from brokercare.security.service import blind_index_many


@dataclass
class Sealed:
    """The chunk's personal data encrypted under the active data key, with blind indexes."""

    id_numbers: list[str]
    phones: list[str]
    addresses: list[str]
    cards: list[str]
    id_hashes: list[str]
    phone_hashes: list[str]
    card_hashes: list[str]


def generate_chunk(ctx: Context, seed: int, chunk: int, n: int, first_customer_id: int) -> dict:
    """Generate ``n`` customers with everything they own and did; returns table -> columns."""
    rng = np.random.default_rng([seed, 1000 + chunk])
    as_of = np.datetime64(ctx.as_of, "D")
    cid = first_customer_id + np.arange(n, dtype=np.int64)

    people = draw_people(rng, ctx, n, as_of)
    contacts = draw_contacts(rng, people)
    rel = draw_relationship(rng, ctx, people, as_of)
    risk = draw_assessment(rng, people, rel, as_of)

    banking = draw_banking(rng, people, risk, rel)
    alloc = draw_allocation(rng, people, risk, banking)
    holdings = [stock_positions(rng, ctx, people, risk, alloc),
                fund_positions(rng, ctx, people, risk, alloc), repo_positions(rng, ctx, alloc)]
    margin = draw_margin(rng, ctx, people, risk, banking, alloc)
    book = assemble_book(rng, people, rel, banking, alloc, holdings, margin, as_of)
    contracts = margin_contracts(rng, ctx, book, margin, as_of)

    trading = draw_trading(rng, ctx, people, risk, rel, banking, book)
    leavers = draw_leavers(rng, people, rel, trading.n_trades > 0, as_of)
    cash = cash_movements(rng, ctx, people, rel, banking, book, trading, contracts, as_of, leavers)
    behaviour, last_seen = behaviour_events(rng, ctx, people, rel, trading, cid, leavers)
    family, children = family_members(rng, ctx, people)
    life = life_events(rng, ctx, people, children, as_of)
    assessments = _risk_assessments(rng, risk)

    sealed = _seal(ctx, contacts, banking)
    return {
        "margin_contracts": contracts, "orders": trading.orders, "trades": trading.trades,
        "cash_movements": cash, "behaviour_events": behaviour, "family_members": family,
        "life_events": life, "risk_assessments": assessments,
        "customers": _customers(rng, people, contacts, rel, risk, trading, last_seen, sealed, cid, as_of),
        "accounts": _accounts(people, rel, banking, book, sealed, cid),
        "positions": {"local_account": book.pos_account, "symbol": book.pos_symbol,
                      "quantity": book.pos_quantity, "available_quantity": book.pos_quantity,
                      "cost_price": book.pos_cost, "opened_on": book.pos_opened},
        "_meta": {"id_bodies": contacts.id_bodies, "tier": people.tier, "aum": people.aum,
                  "male": people.male, "region": people.region, "birth": people.birth,
                  "seq": contacts.seq},
    }


def _risk_assessments(rng: np.random.Generator, risk: Assessment) -> dict:
    """The earlier assessments (valid two years from then), then every current one."""
    n, prev = len(risk.level), risk.prev
    return {
        "local_customer": np.concatenate([np.nonzero(prev)[0], np.arange(n)]),
        "level": np.concatenate([RISK_LEVELS[risk.prev_level], RISK_LEVELS[risk.level]]),
        "score": np.concatenate([risk.prev_score, risk.score]),
        "assessed_on": np.concatenate([risk.prev_assessed, risk.assessed]),
        "valid_until": np.concatenate([risk.prev_assessed + np.timedelta64(730, "D"), risk.valid_until]),
        "channel": np.array(["app", "web", "branch"])[choice(rng, np.array([75, 10, 15.0]), n + prev.sum())],
    }


def _customers(rng: np.random.Generator, people: People, contacts: Contacts, rel: Relationship,
               risk: Assessment, trading: Trading, last_seen: np.ndarray, sealed: Sealed,
               cid: np.ndarray, as_of: np.datetime64) -> dict:
    """Customer rows; dormant: no trade and not seen for 180 days, with under 10 万."""
    active_recent = (trading.n_trades > 0) | (~np.isnat(last_seen) & (last_seen >= as_of - np.timedelta64(180, "D")))
    return {
        "id": cid, "name": people.names, "gender": np.where(people.male, "M", "F"),
        "birth_date": people.birth,
        "id_number_enc": sealed.id_numbers, "id_number_hash": sealed.id_hashes,
        "phone_enc": sealed.phones, "phone_hash": sealed.phone_hashes,
        "phone_verified": rng.random(len(cid)) < 0.97,
        "address_enc": sealed.addresses, "email": contacts.email, "wechat_openid": contacts.openid,
        "province": people.provinces, "city": people.city_names, "occupation": people.occupation,
        "education": people.education, "annual_income": people.income,
        "marital_status": people.marital, "branch_code": rel.branch, "manager_id": rel.manager,
        "opened_on": rel.opened,
        "status": np.where(active_recent | (people.aum >= 100_000), "active", "dormant"),
        "risk_level": risk.risk_level,
        "investor_type": np.where(risk.professional, "professional", "ordinary"),
    }


def _accounts(people: People, rel: Relationship, banking: Banking, book: Book, sealed: Sealed,
              cid: np.ndarray) -> dict:
    """Account rows; a credit account settles to the same bank card as the cash account, and the
    exchange holder numbers are derived from the customer id."""
    acc_cust, k = book.customer, len(book.customer)
    hold_sh = np.char.add("A", np.char.zfill(((cid * 7919) % 10**9).astype("U9"), 9))
    hold_sz = np.char.add("0", np.char.zfill(((cid * 104729) % 10**9).astype("U9"), 9))
    return {
        "customer_id": cid[acc_cust], "kind": book.kind, "status": book.status,
        "opened_on": book.opened, "branch_code": rel.branch[acc_cust],
        "commission_rate": book.commission, "cash_balance": book.cash,
        "frozen_cash": np.zeros(k), "currency": np.full(k, "CNY"),
        "bank_name": banking.bank_names[acc_cust].astype(object),
        "bank_card_enc": np.array(sealed.cards + [sealed.cards[i] for i in book.margin_customers.tolist()],
                                  dtype=object),
        "bank_card_hash": np.array(sealed.card_hashes, dtype=object)[acc_cust],
        "sh_holder_no": hold_sh[acc_cust], "sz_holder_no": hold_sz[acc_cust],
    }


def _seal(ctx: Context, contacts: Contacts, banking: Banking) -> Sealed:
    ids, phones = contacts.id_numbers.tolist(), contacts.phones.tolist()
    addresses, cards = contacts.addresses.tolist(), banking.cards.tolist()
    n = len(ids)
    enc = _encrypt(ctx, ids + phones + addresses + cards)
    key = ctx.master_key
    return Sealed(enc[:n], enc[n:2 * n], enc[2 * n:3 * n], enc[3 * n:],
                  blind_index_many(ids, master_key=key), blind_index_many(phones, master_key=key),
                  blind_index_many(cards, master_key=key))


def _encrypt(ctx: Context, values: list[str]) -> list[str]:
    """``FieldCipher.encrypt_many`` with the nonces drawn in one system call (same format)."""
    kid, seal, b64 = ctx.active_key_id, AESGCM(ctx.cipher_keys[ctx.active_key_id]).encrypt, base64.b64encode
    nonces = os.urandom(12 * len(values))
    out = []
    for i, v in enumerate(values):
        nonce = nonces[12 * i:12 * i + 12]
        out.append(f"{kid}${b64(nonce + seal(nonce, v.encode(), None)).decode()}")
    return out
