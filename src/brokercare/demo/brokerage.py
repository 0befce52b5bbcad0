"""Write a seeded demo brokerage through the bulk paths, then let every domain add its history.

Generation runs in worker processes chunk by chunk (both cores busy: workers generate and
encrypt while this process writes); each chunk is deterministic in the seed, so the same seed
and size give the same brokerage whatever the worker count.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from brokercare.core.bulkload import fast_sqlite_load, insert_columns, max_id, reset_sequences
from brokercare.demo import population as pop
from brokercare.demo.generator import TIERS, Context, build_context, generate_chunk, starts_with
from brokercare.demo.identity import id_numbers
from brokercare.security.service import blind_index_many

CHUNK = 20_000
#: Tables in the order rows must be written (parents first).
TABLES = ("customers", "accounts", "margin_contracts", "positions", "orders", "trades",
          "cash_movements", "risk_assessments", "family_members", "life_events", "behaviour_events")
DEMO_STAFF_PASSWORD_ENV = "BROKERCARE_DEMO_STAFF_PASSWORD"
DEFAULT_STAFF_PASSWORD = "Demo-Manager-2026"


@dataclass
class Summary:
    """What a generation run wrote; domain hooks add their own counts to ``counts``."""

    customers: int = 0
    seed: int = 0
    as_of: date | None = None
    counts: Counter = field(default_factory=Counter)
    tiers: Counter = field(default_factory=Counter)
    boards: Counter = field(default_factory=Counter)
    seconds: float = 0.0  # the base brokerage
    hook_seconds: float = 0.0  # the domains' demo hooks
    staff_password: str | None = None
    notes: list[str] = field(default_factory=list)

    def add(self, table: str, rows: int) -> None:
        self.counts[table] += rows


_CTX: Context | None = None


def _work(args: tuple[int, int, int, int]) -> dict:
    seed, chunk, n, first_id = args
    assert _CTX is not None
    return generate_chunk(_CTX, seed, chunk, n, first_id)


def _set_ctx(ctx: Context) -> None:
    global _CTX
    _CTX = ctx


def _branches(n_customers: int) -> tuple[list[str], list[int], list[str], list[int]]:
    """Branch codes and cities, and how many customer managers each branch needs."""
    codes, city_of, names, managers = [], [], [], []
    weights = np.array([c[4] for c in pop.CITIES])
    share = weights / weights.sum()
    for k, (city, _prov, tier, admin, _w) in enumerate(pop.CITIES):
        count = {1: 3, 2: 2}.get(tier, 1)
        for j in range(count):
            codes.append(f"{admin[:4]}{j + 1:02d}")
            city_of.append(k)
            names.append(f"{city}{['', '第二', '第三'][j]}营业部")
            # about 2 % of customers want a manager; one manager looks after ~250 of them
            need = n_customers * share[k] / count * 0.045
            managers.append(max(1, math.ceil(need / 250)))
    return codes, city_of, names, managers


def _create_managers(session: Session, codes: list[str], counts: list[int],
                     rng: np.random.Generator, password: str) -> list[list[int]]:
    """Customer managers per branch, inserted in bulk with one shared argon2 hash."""
    from argon2 import PasswordHasher

    from brokercare.security.models import User

    users = User.__table__
    existing = dict(session.execute(select(users.c.username, users.c.id)
                                    .where(users.c.role == "customer_manager")).all())
    wanted = [(f"cm{code}{i + 1:02d}", code) for code, c in zip(codes, counts, strict=True)
              for i in range(c)]
    missing = [(u, b) for u, b in wanted if u not in existing]
    if missing:
        pw_hash = PasswordHasher().hash(password)
        surnames = np.array([s for s, _ in pop.SURNAMES])
        w = np.array([x for _, x in pop.SURNAMES])
        given = np.array(list(pop.GIVEN_MALE_OLD + pop.GIVEN_FEMALE_NEW + pop.GIVEN_MALE_NEW))
        m = len(missing)
        display = np.char.add(np.char.add(surnames[np.searchsorted(np.cumsum(w) / w.sum(), rng.random(m))],
                                          given[rng.integers(0, len(given), m)]),
                              given[rng.integers(0, len(given), m)])
        base = max_id(session.connection(), "users")
        now = np.full(m, np.datetime64(datetime.now(UTC).replace(tzinfo=None), "us"))
        insert_columns(session.connection(), "users", {
            "id": np.arange(base + 1, base + 1 + m), "username": [u for u, _ in missing],
            "display_name": display, "role": ["customer_manager"] * m, "password_hash": [pw_hash] * m,
            "customer_id": [None] * m, "branch_code": [b for _, b in missing],
            "skills": ['["wealth", "vip"]'] * m, "max_concurrent": [5] * m, "team_lead_id": [None] * m,
            "active": np.ones(m, dtype=bool), "created_at": now,
        })
        reset_sequences(session.connection(), ["users"])
        existing = dict(session.execute(select(users.c.username, users.c.id)
                                        .where(users.c.role == "customer_manager")).all())
    by_branch: dict[str, list[int]] = {c: [] for c in codes}
    for u, b in wanted:
        by_branch[b].append(existing[u])
    return [by_branch[c] for c in codes]


def _keys(prefix: str, ids: np.ndarray, width: int) -> np.ndarray:
    if len(ids) == 0:
        return np.zeros(0, dtype=f"U{len(prefix) + width}")
    return np.char.add(prefix, np.char.zfill(ids.astype(f"U{width}"), width))


class _UniqueIds:
    """Keeps identity numbers unique across chunks (and against customers already stored)."""

    def __init__(self, existing_hashes: set[str], master_key: bytes):
        self.bodies: set[int] = set()
        self.hashes = existing_hashes
        self.master_key = master_key

    def fix(self, part: dict, encrypt: Callable[[list[str]], list[str]]) -> int:
        meta, cust = part["_meta"], part["customers"]
        bodies = meta["id_bodies"]
        fixed = 0
        for i, b in enumerate(bodies.tolist()):
            h = cust["id_number_hash"][i]
            while b in self.bodies or h in self.hashes:
                seq = (b % 1000 + 2) % 1000  # keep the parity: it encodes the sex
                b = b - b % 1000 + seq
                number = id_numbers(np.array([b], dtype=np.int64))[0]
                h = blind_index_many([number], master_key=self.master_key)[0]
                cust["id_number_hash"][i] = h
                cust["id_number_enc"][i] = encrypt([number])[0]
                fixed += 1
            self.bodies.add(b)
        return fixed


def _chunks(n: int) -> list[int]:
    sizes = [CHUNK] * (n // CHUNK)
    if n % CHUNK:
        sizes.append(n % CHUNK)
    return sizes


def generate_brokerage(engine: Engine, *, customers: int, seed: int = 42, as_of: date | None = None,
                       workers: int | None = None, run_domain_hooks: bool = True,
                       progress: Callable[[int], None] | None = None) -> Summary:
    """Generate ``customers`` customers with accounts, holdings and a year of history."""
    from brokercare.market.models import Instrument
    from brokercare.market.reference import shipped_instruments
    from brokercare.market.service import load_instruments
    from brokercare.security.crypto import FieldCipher, get_cipher, load_master_key

    started = time.perf_counter()
    as_of = as_of or date.today()
    summary = Summary(customers=customers, seed=seed, as_of=as_of)
    rng = np.random.default_rng([seed, 3])
    instruments = shipped_instruments()
    with Session(engine) as session:
        if (session.scalar(select(func.count()).select_from(Instrument)) or 0) < len(instruments):
            load_instruments(engine, [dict(r) for r in instruments])
        cipher = get_cipher(session)
        session.commit()
        codes, city_of, _names, need = _branches(customers)
        password = os.environ.get(DEMO_STAFF_PASSWORD_ENV, DEFAULT_STAFF_PASSWORD)
        managers = _create_managers(session, codes, need, rng, password)
        session.commit()
        summary.staff_password = password
        summary.add("users", sum(len(m) for m in managers))
        existing = session.scalar(text("SELECT COUNT(*) FROM customers")) or 0
        hashes = set(session.scalars(text("SELECT id_number_hash FROM customers"))) if existing else set()

    master = load_master_key()
    ctx = build_context(instruments, as_of=as_of, seed=seed, branch_codes=codes, branch_city=city_of,
                        managers_of_branch=managers, cipher_keys=dict(cipher.keys),
                        active_key_id=cipher.active_key_id, master_key=master)
    encrypt = FieldCipher(dict(cipher.keys), cipher.active_key_id).encrypt_many
    unique = _UniqueIds(hashes, master)

    with engine.connect() as conn:
        base = {t: max_id(conn, t) for t in TABLES}
    first_customer = base["customers"] + 1
    sizes = _chunks(customers)
    jobs, start = [], first_customer
    for k, size in enumerate(sizes):
        jobs.append((seed, k, size, start))
        start += size

    workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    results: Iterator[dict]
    pool = None
    if workers > 1 and len(jobs) > 1:
        _set_ctx(ctx)
        pool = mp.get_context("fork").Pool(workers, initializer=_set_ctx, initargs=(ctx,))
        results = pool.imap(_work, jobs)
    else:
        results = (generate_chunk(ctx, *job) for job in jobs)

    now = np.datetime64(datetime.now(UTC).replace(tzinfo=None), "us")
    redrawn = 0
    if engine.dialect.name == "sqlite":
        engine.dispose()  # idle pooled connections would keep SQLite from leaving WAL for the load
    try:
        with engine.connect() as conn, fast_sqlite_load(conn, TABLES):
            for part in results:
                redrawn += unique.fix(part, encrypt)
                _write_chunk(conn, part, base, now, summary)
                conn.commit()
                if progress:
                    progress(len(part["customers"]["id"]))
            reset_sequences(conn, list(TABLES))
            conn.commit()
        if redrawn:
            summary.notes.append(f"{redrawn} identity numbers drawn twice were given a new sequence number")
    finally:
        if pool is not None:
            pool.close()
            pool.join()

    summary.seconds = time.perf_counter() - started
    if run_domain_hooks:
        from brokercare.core.domains import domain_modules

        hooks_started = time.perf_counter()
        for module in domain_modules("demo"):
            hook = getattr(module, "generate", None)
            if hook is not None:
                hook(engine, np.random.default_rng([seed, 99]), summary)
        summary.hook_seconds = time.perf_counter() - hooks_started
    return summary


def _write_chunk(conn, part: dict, base: dict[str, int], now: np.datetime64, summary: Summary) -> None:
    cust = part["customers"]
    n = len(cust["id"])
    meta = part["_meta"]
    for t, c in Counter(meta["tier"].tolist()).items():
        summary.tiers[TIERS[t]] += c
    cust_ids = cust["id"]
    insert_columns(conn, "customers", {
        **cust, "customer_no": _keys("8", cust_ids, 11),
        "created_at": np.full(n, now), "updated_at": np.full(n, now),
    })
    base["customers"] = max(base["customers"], int(cust_ids[-1]))

    acc = part["accounts"]
    n_acc = len(acc["kind"])
    acc_ids = base["accounts"] + 1 + np.arange(n_acc)
    acc_no = np.where(acc["kind"] == "margin", _keys("20", acc_ids, 10), _keys("10", acc_ids, 10))
    insert_columns(conn, "accounts", {"id": acc_ids, "account_no": acc_no, **acc})
    base["accounts"] += n_acc

    def shift(local: np.ndarray) -> np.ndarray:
        return acc_ids[0] + local if n_acc else local

    mc = dict(part["margin_contracts"])
    local = mc.pop("local_account")
    m = len(local)
    mc_ids = base["margin_contracts"] + 1 + np.arange(m)
    insert_columns(conn, "margin_contracts", {
        "id": mc_ids, "contract_no": _keys("RZRQ", mc_ids, 10), "account_id": shift(local), **mc})
    base["margin_contracts"] += m

    pos = dict(part["positions"])
    local = pos.pop("local_account")
    p = len(local)
    insert_columns(conn, "positions", {
        "id": base["positions"] + 1 + np.arange(p), "account_id": shift(local), **pos,
        "updated_at": np.full(p, now)})
    base["positions"] += p
    syms = pos["symbol"]
    if p:
        board = np.select([starts_with(syms.astype("U16"), ("688", "689")),
                           starts_with(syms.astype("U16"), ("300", "301")),
                           np.char.endswith(syms.astype("U16"), ".BJ"),
                           np.char.endswith(syms.astype("U16"), ".OF"),
                           starts_with(syms.astype("U16"), ("204", "1318")),
                           starts_with(syms.astype("U16"), ("5", "15"))],
                          ["star", "chinext", "bse", "fund", "repo", "etf"], "main")
        summary.boards.update(Counter(board.tolist()))

    orders = dict(part["orders"])
    local = orders.pop("local_account")
    o = len(local)
    o_ids = base["orders"] + 1 + np.arange(o)
    insert_columns(conn, "orders", {"id": o_ids, "order_no": _keys("O", o_ids, 12),
                                    "account_id": shift(local), **orders})
    trades = dict(part["trades"])
    local_order = trades.pop("local_order")
    local = trades.pop("local_account")
    t = len(local)
    t_ids = base["trades"] + 1 + np.arange(t)
    insert_columns(conn, "trades", {"id": t_ids, "trade_no": _keys("T", t_ids, 12),
                                    "order_id": o_ids[local_order] if t else local_order,
                                    "account_id": shift(local), **trades})
    base["orders"] += o
    base["trades"] += t

    cm = dict(part["cash_movements"])
    local = cm.pop("local_account")
    c = len(local)
    c_ids = base["cash_movements"] + 1 + np.arange(c)
    insert_columns(conn, "cash_movements", {"id": c_ids, "movement_no": _keys("M", c_ids, 12),
                                            "account_id": shift(local), **cm})
    base["cash_movements"] += c

    for table in ("risk_assessments", "family_members", "life_events", "behaviour_events"):
        cols = dict(part[table])
        local = cols.pop("local_customer")
        k = len(local)
        insert_columns(conn, table, {"id": base[table] + 1 + np.arange(k),
                                     "customer_id": cust_ids[0] + local, **cols})
        base[table] += k
        summary.add(table, k)
    for table, k in (("customers", n), ("accounts", n_acc), ("margin_contracts", m),
                     ("positions", p), ("orders", o), ("trades", t), ("cash_movements", c)):
        summary.add(table, k)
