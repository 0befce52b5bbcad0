"""Write a seeded demo brokerage through the domains' bulk loads, then let every domain add its history.

The demo is a client of the domains: instruments come from the market service, customer managers
from the security service, and each chunk's rows go through ``customers.service.load_frames`` and
``accounts.service.load_frames``, never into another domain's tables directly. Generation runs in
worker processes chunk by chunk (both cores busy: workers generate and encrypt while this process
writes); each chunk is deterministic in the seed, so the same seed and size give the same
brokerage whatever the worker count.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from brokercare.accounts import service as accounts_service
from brokercare.advisory import service as advisory_service
from brokercare.assistant import service as assistant_service
from brokercare.core.bulkload import fast_sqlite_load, max_id, reset_sequences
from brokercare.core.domains import domain_modules
from brokercare.customers import service as customers_service
from brokercare.demo import population as pop
from brokercare.demo.context import Context, build_context
from brokercare.demo.generator import generate_chunk
from brokercare.demo.identity import id_numbers
from brokercare.demo.market_days import DAYS, model_market_days
from brokercare.demo.people import TIERS
from brokercare.demo.sampling import starts_with
from brokercare.market.service import instrument_count, load_instruments, shipped_instruments
from brokercare.security.service import (
    FieldCipher,
    add_staff_many,
    blind_index_many,
    get_cipher,
    list_users,
    load_master_key,
)
from brokercare.service import service as hub

CHUNK = 20_000
#: Tables the load writes, parents first: the customers' own, then the accounts', then the
#: assessments (advisory's; loading them also tells the CDP each customer's latest).
TABLES = customers_service.FRAME_TABLES + accounts_service.FRAME_TABLES + advisory_service.FRAME_TABLES
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


def generate_brokerage(engine: Engine, *, customers: int, seed: int = 42, as_of: date | None = None,
                       workers: int | None = None, run_domain_hooks: bool = True,
                       progress: Callable[[int], None] | None = None,
                       on_step: Callable[[str, float | None], None] | None = None) -> Summary:
    """Generate ``customers`` customers with accounts, holdings and a year of history.

    ``progress(k)``: k more customers written; ``on_step(name, seconds)``: a domain's demo history
    starts (``seconds`` None) and ends (its duration), so a person watching sees each step."""
    started = time.perf_counter()
    as_of = as_of or date.today()
    summary = Summary(customers=customers, seed=seed, as_of=as_of)
    instruments = shipped_instruments()
    codes, city_of, need = _branches(customers)
    with Session(engine) as session:
        if instrument_count(session) < len(instruments):
            load_instruments(engine, [dict(r) for r in instruments])
        cipher = get_cipher(session)
        session.commit()
        managers = _staff(session, codes, need, np.random.default_rng([seed, 3]), summary)
        hashes = customers_service.id_number_hashes(session)
    master = load_master_key()
    ctx = build_context(instruments, as_of=as_of, seed=seed, branch_codes=codes, branch_city=city_of,
                        managers_of_branch=managers, cipher_keys=dict(cipher.keys),
                        active_key_id=cipher.active_key_id, master_key=master)
    unique = _UniqueIds(hashes, master, FieldCipher(dict(cipher.keys), cipher.active_key_id).encrypt_many)
    _load(engine, ctx, seed, customers, workers, unique, summary, progress)
    summary.seconds = time.perf_counter() - started
    hooks_started = time.perf_counter()
    if run_domain_hooks:
        _run_domain_hooks(engine, seed, summary, on_step or (lambda _name, _seconds: None))
    modelled = model_market_days(engine, np.random.default_rng([seed, 17]), as_of)
    summary.add("daily_bars (modelled)", modelled)
    summary.notes.append(f"market: {modelled:,} modelled daily bars for the last {DAYS} trading days "
                         "where the shipped history has none (demo data, seeded)")
    summary.hook_seconds = time.perf_counter() - hooks_started
    return summary


# --- branches and their customer managers ----------------------------------------------------

def _branches(n_customers: int) -> tuple[list[str], list[int], list[int]]:
    """Branch codes, the city of each, and how many customer managers each branch needs."""
    codes, city_of, managers = [], [], []
    weights = np.array([c[4] for c in pop.CITIES])
    share = weights / weights.sum()
    for k, (_city, _prov, tier, admin, _w) in enumerate(pop.CITIES):
        count = {1: 3, 2: 2}.get(tier, 1)
        for j in range(count):
            codes.append(f"{admin[:4]}{j + 1:02d}")
            city_of.append(k)
            # about 2 % of customers want a manager; one manager looks after ~250 of them
            need = n_customers * share[k] / count * 0.045
            managers.append(max(1, math.ceil(need / 250)))
    return codes, city_of, managers


def _staff(session: Session, codes: list[str], need: list[int], rng: np.random.Generator,
           summary: Summary) -> list[list[int]]:
    """The managers every branch needs (``cm<branch><nn>``), created once; their ids by branch."""
    password = os.environ.get(DEMO_STAFF_PASSWORD_ENV, DEFAULT_STAFF_PASSWORD)
    existing = {u.username: u.id for u in list_users(session, role="customer_manager", include_inactive=True)}
    wanted = [(f"cm{code}{i + 1:02d}", code) for code, c in zip(codes, need, strict=True)
              for i in range(c)]
    missing = [(u, b) for u, b in wanted if u not in existing]
    if missing:
        added = add_staff_many(
            session, role="customer_manager", usernames=[u for u, _ in missing],
            display_names=_manager_names(rng, len(missing)), branch_codes=[b for _, b in missing],
            password=password)
        hub.set_agent_profiles_many(session, list(added.values()), skills=["wealth", "vip"], max_concurrent=5)
        existing |= added
    session.commit()
    summary.staff_password = password
    by_branch: dict[str, list[int]] = {c: [] for c in codes}
    for u, b in wanted:
        by_branch[b].append(existing[u])
    summary.add("users", len(wanted))
    return [by_branch[c] for c in codes]


def _manager_names(rng: np.random.Generator, m: int) -> list[str]:
    """Three-character names: a surname by its census share and two given-name characters."""
    surnames = np.array([s for s, _ in pop.SURNAMES])
    w = np.array([x for _, x in pop.SURNAMES])
    given = np.array(list(pop.GIVEN_MALE_OLD + pop.GIVEN_FEMALE_NEW + pop.GIVEN_MALE_NEW))
    first = surnames[np.searchsorted(np.cumsum(w) / w.sum(), rng.random(m))]
    return np.char.add(np.char.add(first, given[rng.integers(0, len(given), m)]),
                       given[rng.integers(0, len(given), m)]).tolist()


# --- generating chunks (in worker processes) -------------------------------------------------

_CTX: Context | None = None


def _set_ctx(ctx: Context) -> None:
    global _CTX
    _CTX = ctx


def _work(args: tuple[int, int, int, int]) -> dict:
    seed, chunk, n, first_id = args
    assert _CTX is not None
    return generate_chunk(_CTX, seed, chunk, n, first_id)


def _jobs(seed: int, customers: int, first_customer: int) -> list[tuple[int, int, int, int]]:
    """``(seed, chunk, size, first customer id)`` for chunks of :data:`CHUNK` customers."""
    sizes = [CHUNK] * (customers // CHUNK) + ([customers % CHUNK] if customers % CHUNK else [])
    jobs, start = [], first_customer
    for k, size in enumerate(sizes):
        jobs.append((seed, k, size, start))
        start += size
    return jobs


@contextmanager
def _chunks(ctx: Context, jobs: list[tuple[int, int, int, int]], workers: int | None) -> Iterator[Iterator[dict]]:
    """The generated chunks in order: from a pool of forked workers, or in this process."""
    workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    if workers <= 1 or len(jobs) <= 1:
        yield (generate_chunk(ctx, *job) for job in jobs)
        return
    _set_ctx(ctx)
    pool = mp.get_context("fork").Pool(workers, initializer=_set_ctx, initargs=(ctx,))
    try:
        yield pool.imap(_work, jobs)
    finally:
        pool.close()
        pool.join()


# --- writing them ----------------------------------------------------------------------------

def _load(engine: Engine, ctx: Context, seed: int, customers: int, workers: int | None,
          unique: _UniqueIds, summary: Summary, progress: Callable[[int], None] | None) -> None:
    """Every chunk through the domains' bulk loads, committed chunk by chunk."""
    with engine.connect() as conn:
        base = {t: max_id(conn, t) for t in TABLES}
    now = np.datetime64(datetime.now(UTC).replace(tzinfo=None), "us")
    redrawn = 0
    if engine.dialect.name == "sqlite":
        engine.dispose()  # idle pooled connections would keep SQLite from leaving WAL for the load
    jobs = _jobs(seed, customers, base["customers"] + 1)
    with _chunks(ctx, jobs, workers) as parts, engine.connect() as conn, fast_sqlite_load(conn, TABLES):
        for part in parts:
            redrawn += unique.fix(part)
            _write_chunk(conn, part, base, now, summary)
            conn.commit()
            if progress:
                progress(len(part["customers"]["id"]))
        reset_sequences(conn, list(TABLES))
        conn.commit()
    if redrawn:
        summary.notes.append(f"{redrawn} identity numbers drawn twice were given a new sequence number")


class _UniqueIds:
    """Keeps identity numbers unique across chunks (and against customers already stored)."""

    def __init__(self, existing_hashes: set[str], master_key: bytes,
                 encrypt: Callable[[list[str]], list[str]]):
        self.bodies: set[int] = set()
        self.hashes = existing_hashes
        self.master_key = master_key
        self.encrypt = encrypt

    def fix(self, part: dict) -> int:
        meta, cust = part["_meta"], part["customers"]
        fixed = 0
        for i, b in enumerate(meta["id_bodies"].tolist()):
            h = cust["id_number_hash"][i]
            while b in self.bodies or h in self.hashes:
                seq = (b % 1000 + 2) % 1000  # keep the parity: it encodes the sex
                b = b - b % 1000 + seq
                number = id_numbers(np.array([b], dtype=np.int64))[0]
                h = blind_index_many([number], master_key=self.master_key)[0]
                cust["id_number_hash"][i] = h
                cust["id_number_enc"][i] = self.encrypt([number])[0]
                fixed += 1
            self.bodies.add(b)
        return fixed


def _write_chunk(conn: Connection, part: dict, base: dict[str, int], now: np.datetime64,
                 summary: Summary) -> None:
    """One chunk's rows, its chunk-local ids shifted past each table's last id."""
    summary.tiers.update(TIERS[t] for t in part["_meta"]["tier"].tolist())
    people = _customer_frames(part, base, now)
    assessments = {t: people.pop(t) for t in advisory_service.FRAME_TABLES}
    written = customers_service.load_frames(conn, people)
    written |= accounts_service.load_frames(conn, _account_frames(part, base, now))
    written |= advisory_service.load_frames(conn, assessments)
    for table, rows in written.items():
        base[table] += rows
        summary.add(table, rows)
    summary.boards.update(_boards(part["positions"]["symbol"]))


def _keys(prefix: str, ids: np.ndarray, width: int) -> np.ndarray:
    if len(ids) == 0:
        return np.zeros(0, dtype=f"U{len(prefix) + width}")
    return np.char.add(prefix, np.char.zfill(ids.astype(f"U{width}"), width))


def _customer_frames(part: dict, base: dict[str, int], now: np.datetime64) -> dict[str, dict]:
    cust = part["customers"]
    ids, n = cust["id"], len(cust["id"])
    frames = {"customers": {**cust, "customer_no": _keys("8", ids, 11),
                            "created_at": np.full(n, now), "updated_at": np.full(n, now)}}
    for table in ("risk_assessments", "family_members", "life_events", "behaviour_events"):
        cols = dict(part[table])
        local = cols.pop("local_customer")
        frames[table] = {"id": base[table] + 1 + np.arange(len(local)), "customer_id": ids[0] + local,
                         **cols}
    return frames


def _account_frames(part: dict, base: dict[str, int], now: np.datetime64) -> dict[str, dict]:
    acc = part["accounts"]
    acc_ids = base["accounts"] + 1 + np.arange(len(acc["kind"]))
    account_no = np.where(acc["kind"] == "margin", _keys("20", acc_ids, 10), _keys("10", acc_ids, 10))
    positions = _of_accounts(part["positions"], base["positions"], acc_ids)
    orders = _of_accounts(part["orders"], base["orders"], acc_ids, ("order_no", "O", 12))
    trades = dict(part["trades"])
    local_order = trades.pop("local_order")
    return {
        "accounts": {"id": acc_ids, "account_no": account_no, **acc},
        "margin_contracts": _of_accounts(part["margin_contracts"], base["margin_contracts"], acc_ids,
                                         ("contract_no", "RZRQ", 10)),
        "positions": {**positions, "updated_at": np.full(len(positions["id"]), now)},
        "orders": orders,
        "trades": {**_of_accounts(trades, base["trades"], acc_ids, ("trade_no", "T", 12)),
                   "order_id": orders["id"][local_order] if len(local_order) else local_order},
        "cash_movements": _of_accounts(part["cash_movements"], base["cash_movements"], acc_ids,
                                       ("movement_no", "M", 12)),
    }


def _of_accounts(frame: dict, last_id: int, acc_ids: np.ndarray,
                 number: tuple[str, str, int] | None = None) -> dict:
    """A frame of rows belonging to accounts: ids after ``last_id``, chunk-local account keys made
    real, and the business number (``column``, prefix, digits) derived from the id."""
    cols = dict(frame)
    local = cols.pop("local_account")
    ids = last_id + 1 + np.arange(len(local))
    out = {"id": ids, "account_id": acc_ids[0] + local if len(acc_ids) else local}
    if number is not None:
        column, prefix, width = number
        out[column] = _keys(prefix, ids, width)
    return {**out, **cols}


def _boards(symbols: np.ndarray) -> Counter:
    """Positions per board, from the symbols' code prefixes and exchange suffixes."""
    if not len(symbols):
        return Counter()
    s = symbols.astype("U16")
    board = np.select([starts_with(s, ("688", "689")), starts_with(s, ("300", "301")),
                       np.char.endswith(s, ".BJ"), np.char.endswith(s, ".OF"),
                       starts_with(s, ("204", "1318")), starts_with(s, ("5", "15"))],
                      ["star", "chinext", "bse", "fund", "repo", "etf"], "main")
    return Counter(board.tolist())


def _run_domain_hooks(engine: Engine, seed: int, summary: Summary,
                      on_step: Callable[[str, float | None], None]) -> None:
    """Every domain's ``demo.generate(engine, rng, summary)`` adds its own history (the service
    hub's conversations answered by the assistant, as in production)."""
    hub.wire_assistant(assistant_service, replace=False)
    for module in domain_modules("demo"):
        hook = getattr(module, "generate", None)
        if hook is not None:
            domain = module.__name__.split(".")[-2]
            on_step(domain, None)
            started = time.perf_counter()
            hook(engine, np.random.default_rng([seed, 99]), summary)
            on_step(domain, time.perf_counter() - started)
