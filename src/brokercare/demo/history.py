"""What one chunk's customers did over the last year, and the family and life events behind it.

Orders and trades on trading days within continuous trading, fees by the exchange rules; bank
transfers, dividends and margin interest; logins, page views, searches and reading in the app;
spouses, children and the last three years' life events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np

from brokercare.demo import population as pop
from brokercare.demo.context import BOARD_WEIGHTS, STOCK_BOARDS, Context
from brokercare.demo.holdings import REPO_PREFIXES, Banking, Book, permitted_boards, pick_stocks
from brokercare.demo.leavers import Leavers, keep_behaviour, leaving_transfers
from brokercare.demo.people import Assessment, People, Relationship
from brokercare.demo.sampling import (
    APP_HOURS,
    BANK_HOURS,
    TRADING_SESSIONS,
    choice,
    fen,
    local_times,
    next_trading_day,
    row_choice,
    starts_with,
)

# Reverse-repo commission rate by tenor (days).
REPO_COMMISSION = {1: 0.00001, 2: 0.00002, 3: 0.00003, 4: 0.00004, 7: 0.00005, 14: 0.0001,
                   28: 0.0002, 91: 0.0003, 182: 0.0003}
MAIN_BOARD_PREFIXES = ("600", "601", "603", "605", "000", "001", "002", "003")


@dataclass
class Trading:
    """A year of orders and trades, and how active each customer was."""

    hft: np.ndarray  # high-frequency traders (~1-3 %), 25× the trades
    n_trades: np.ndarray
    orders: dict
    trades: dict


def draw_trading(rng: np.random.Generator, ctx: Context, people: People, risk: Assessment,
                 rel: Relationship, banking: Banking, book: Book) -> Trading:
    """Most long-tail customers trade once or twice a year, mass customers ~7 times; every trade
    has its filled order, and 12 % more orders were cancelled or rejected."""
    tier, n = people.tier, len(people.tier)
    hft = rng.random(n) < np.where(tier == 0, 0.012, 0.03)
    mean_trades = np.array([1.1, 7.0, 14.0, 18.0])[tier] * np.where(hft, 25.0, 1.0)
    mean_trades = mean_trades * (risk.effective >= 2) + 0.3 * (risk.effective < 2)
    n_trades = rng.negative_binomial(0.6, 0.6 / (0.6 + mean_trades))
    t_cust = np.repeat(np.arange(n), n_trades)
    sym, ref = _trade_symbols(rng, ctx, people, risk, book, t_cust)
    side, price, is_repo, is_etf, tenor = _sides_and_prices(rng, ctx, sym, ref)
    qty, amount, fees = _quantities_and_fees(rng, people.aum[t_cust], banking.commission[t_cust],
                                             side, price, sym, is_repo, is_etf, tenor)
    traded_at, placed_at = _trade_times(rng, ctx, rel.opened[t_cust])
    trades = {"local_order": np.arange(len(t_cust)), "local_account": t_cust, "symbol": sym,
              "side": side, "price": price, "quantity": qty, "amount": amount, **fees,
              "traded_at": traded_at}
    return Trading(hft, n_trades, _orders(rng, n_trades, trades, placed_at), trades)


def _trade_symbols(rng: np.random.Generator, ctx: Context, people: People, risk: Assessment,
                   book: Book, t_cust: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Something the customer holds 65 % of the time, otherwise something permitted (a reverse
    repo for a customer permitted no stock); and its reference price."""
    n, nt = len(people.tier), len(t_cust)
    tradable = book.pos_in_cash_account & ~np.char.endswith(book.pos_symbol.astype("U16"), ".OF")
    tpos = np.nonzero(tradable)[0]
    tpos = tpos[np.argsort(book.pos_account[tpos], kind="stable")]
    pick = np.zeros(nt, dtype=np.int64)
    use_held = np.zeros(nt, dtype=bool)
    if len(tpos):
        cnt = np.bincount(book.pos_account[tpos], minlength=n)
        start = np.zeros(n, dtype=np.int64)
        start[1:] = np.cumsum(cnt)[:-1]
        first_held = np.where(cnt > 0, start, -1)
        pick = first_held[t_cust] + (rng.random(nt) * np.maximum(cnt[t_cust], 1)).astype(np.int64)
        use_held = (rng.random(nt) < 0.65) & (cnt[t_cust] > 0)
    sym = np.empty(nt, dtype=object)
    ref = np.empty(nt)
    if use_held.any():
        sel = tpos[pick[use_held]]
        sym[use_held], ref[use_held] = book.pos_symbol[sel], book.pos_price[sel]
    other = np.nonzero(~use_held)[0]
    level = risk.effective[t_cust[other]]
    allow = permitted_boards(level, people.aum[t_cust[other]])
    allow[:, 0] *= level >= 2  # main board and ETFs from C3
    allow[:, 4] *= level >= 2
    repo = allow.sum(axis=1) == 0
    board = row_choice(rng, np.where(repo[:, None], np.eye(len(STOCK_BOARDS))[4], allow * BOARD_WEIGHTS))
    stock_sym, stock_ref, _lots = pick_stocks(rng, ctx, np.where(repo, -1, board))
    sym[other[~repo]], ref[other[~repo]] = stock_sym[~repo], stock_ref[~repo]
    i = ctx.repos.sample(rng, repo.sum())
    sym[other[repo]], ref[other[repo]] = ctx.repos.symbols[i], 100.0
    return sym, ref


def _sides_and_prices(rng: np.random.Generator, ctx: Context, sym: np.ndarray,
                      ref: np.ndarray) -> tuple[np.ndarray, ...]:
    """Buy or sell (reverse repos are sells: lending cash), the fill price around the reference
    (ETFs to 0.001 元; reverse repos a 1.3-2.8 % rate), and each repo's tenor."""
    nt = len(sym)
    symu = sym.astype("U16")
    is_repo = starts_with(symu, REPO_PREFIXES)
    is_etf = starts_with(symu, ("5", "15"))
    side = np.where(is_repo, "sell", np.where(rng.random(nt) < 0.52, "buy", "sell"))
    price = ref * np.exp(rng.normal(0, 0.13, nt))
    price = np.where(is_etf, np.round(price, 3), np.round(price, 2))
    tenor = np.ones(nt, dtype=np.int64)
    if is_repo.any():
        rep_days = {s: int(t) for s, t in zip(ctx.repos.symbols, ctx.repo_tenors, strict=True)}
        tenor[is_repo] = [rep_days[s] for s in symu[is_repo]]
        price[is_repo] = np.round(rng.uniform(1.3, 2.6, is_repo.sum())
                                  + np.where(tenor[is_repo] == 1, 0.2, 0.0), 3)
    return side, price, is_repo, is_etf, tenor


def _quantities_and_fees(rng: np.random.Generator, aum: np.ndarray, rate: np.ndarray,
                         side: np.ndarray, price: np.ndarray, sym: np.ndarray, is_repo: np.ndarray,
                         is_etf: np.ndarray, tenor: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    """Board lots (200 on STAR, 10 张 of 100 元 for repos) worth 2-25 % of the customer's AUM;
    commission at the account's rate with a 5 元 minimum (ETFs 0.1 元, repos by tenor), stamp
    duty 0.05 % on stock sells, transfer fee 0.001 % on stocks."""
    lot = np.where(starts_with(sym.astype("U16"), ("688", "689")), 200, 100)
    budget = np.clip(aum * rng.uniform(0.02, 0.25, len(sym)), 2_000, 5_000_000)
    unit_value = np.where(is_repo, 100.0, price)
    lot = np.where(is_repo, 10, lot)
    qty = np.maximum(np.floor(budget / unit_value / lot), 1) * lot
    amount = fen(qty * unit_value)
    comm = fen(np.maximum(amount * rate, 5.0))
    if is_repo.any():
        rc = np.array([REPO_COMMISSION.get(int(d), 0.0003) for d in tenor[is_repo]])
        comm[is_repo] = fen(amount[is_repo] * rc)
    comm = np.where(is_etf & ~is_repo, fen(np.maximum(amount * rate, 0.1)), comm)
    stamp = np.where((side == "sell") & ~is_repo & ~is_etf, fen(amount * 0.0005), 0.0)
    transfer = np.where(~is_repo & ~is_etf, fen(amount * 0.00001), 0.0)
    return qty, amount, {"commission": comm, "stamp_duty": stamp, "transfer_fee": transfer}


def _trade_times(rng: np.random.Generator, ctx: Context,
                 opened: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A trading day of the year (not before the account opened), a second of continuous
    trading; the order placed up to 4 minutes before."""
    day = ctx.days[rng.integers(0, len(ctx.days), len(opened))]
    # a trade day clamped to the opening day must still be a trading day
    day = next_trading_day(ctx.days, np.maximum(day, opened))
    traded_at = local_times(rng, day, TRADING_SESSIONS)
    return traded_at, traded_at - rng.integers(1, 240, len(opened)).astype("timedelta64[s]")


def _orders(rng: np.random.Generator, n_trades: np.ndarray, trades: dict,
            placed_at: np.ndarray) -> dict:
    """Each trade's filled order, then cancelled (90 %) or rejected orders mirroring one of the
    same customer's trades (symbol, side, price, quantity), placed 5-60 minutes later."""
    n, nt = len(n_trades), len(placed_at)
    n_cxl = rng.binomial(n_trades, 0.12)
    c_cust = np.repeat(np.arange(n), n_cxl)
    nc = len(c_cust)
    first_trade = np.zeros(n, dtype=np.int64)
    first_trade[1:] = np.cumsum(n_trades)[:-1]
    mirror = first_trade[c_cust] + (rng.random(nc) * n_trades[c_cust]).astype(np.int64)
    status = np.concatenate([np.full(nt, "filled"), np.where(rng.random(nc) < 0.9, "cancelled", "rejected")])
    channel = np.array(["app", "web", "pc", "phone"])[choice(rng, np.array([80, 6, 12, 2.0]), nt + nc)]
    return {
        "local_account": np.concatenate([trades["local_account"], c_cust]),
        **{c: np.concatenate([trades[c], trades[c][mirror]]) for c in ("symbol", "side", "price", "quantity")},
        "filled_quantity": np.concatenate([trades["quantity"], np.zeros(nc)]),
        "status": status, "channel": channel,
        "placed_at": np.concatenate([placed_at, placed_at[mirror] + rng.integers(300, 3600, nc).astype("timedelta64[s]")]),
    }


def cash_movements(rng: np.random.Generator, ctx: Context, people: People, rel: Relationship,
                   banking: Banking, book: Book, trading: Trading, contracts: dict,
                   as_of: np.datetime64, leavers: Leavers) -> dict:
    """Bank transfers in bank hours (0.6 % failed; none after a leaver left but the money they
    take), dividends at 9:00, margin interest at 16:00."""
    b_acc, b_in, b_amt, b_day, b_status = _bank_transfers(rng, ctx, people, rel, trading, leavers)
    d_acc, d_amt, d_day = _dividends(rng, ctx, book, as_of)
    i_acc, i_amt, i_day = _margin_interest(ctx, book, contracts, as_of)
    others = len(d_acc) + len(i_acc)
    return {
        "local_account": np.concatenate([b_acc, d_acc, i_acc]),
        "kind": np.concatenate([np.where(b_in, "bank_in", "bank_out"),
                                np.full(len(d_acc), "dividend"), np.full(len(i_acc), "margin_interest")]),
        "amount": np.concatenate([np.where(b_in, b_amt, -b_amt), d_amt, i_amt]),
        "status": np.concatenate([b_status, np.full(others, "done")]),
        "bank_name": np.concatenate([banking.bank_names[b_acc], np.full(others, None, dtype=object)]).astype(object),
        "occurred_at": np.concatenate([local_times(rng, b_day, BANK_HOURS),
                                       local_times(rng, d_day, ((9 * 3600, 9 * 3600 + 1),)),
                                       local_times(rng, i_day, ((16 * 3600, 16 * 3600 + 600),))]),
    }


def _bank_transfers(rng: np.random.Generator, ctx: Context, people: People, rel: Relationship,
                    trading: Trading, leavers: Leavers) -> tuple[np.ndarray, ...]:
    """Transfers between the cash account and the customer's bank, more for active traders; and
    the leavers' money going out (:mod:`brokercare.demo.leavers`)."""
    tier, aum, n = people.tier, people.aum, len(people.tier)
    n_bank = rng.poisson(np.array([1.2, 3.0, 5.0, 6.0])[tier] * np.where(trading.n_trades > 0, 1.6, 0.5))
    cust = np.repeat(np.arange(n), n_bank)
    nb = len(cust)
    inward = rng.random(nb) < 0.55
    amount = np.round(np.maximum(aum[cust] * rng.uniform(0.01, 0.2, nb), 100) / 100) * 100
    day = np.maximum(ctx.days[rng.integers(0, len(ctx.days), nb)], rel.opened[cust])
    day = next_trading_day(ctx.days, day)
    stay = np.isnat(leavers.leave_day[cust]) | (day < leavers.leave_day[cust])
    l_cust, l_amount, l_day = leaving_transfers(rng, ctx, people, leavers)
    cust, inward = np.concatenate([cust[stay], l_cust]), np.concatenate([inward[stay], np.zeros(len(l_cust), bool)])
    amount, day = np.concatenate([amount[stay], l_amount]), np.concatenate([day[stay], l_day])
    status = np.where(rng.random(len(cust)) < 0.006, "failed", "done")
    return cust, inward, amount, day, status


def _dividends(rng: np.random.Generator, ctx: Context, book: Book,
               as_of: np.datetime64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cash dividends of 0.5-3.5 % on 45 % of main-board holdings, paid in June-July."""
    sym = book.pos_symbol.astype("U16")
    main_board = starts_with(sym, MAIN_BOARD_PREFIXES) & ~np.char.endswith(sym, ".OF")
    pos = np.nonzero(book.pos_in_cash_account & main_board & (rng.random(len(sym)) < 0.45))[0]
    amount = np.round(book.pos_quantity[pos] * book.pos_price[pos] * rng.uniform(0.005, 0.035, len(pos)), 2)
    year = ctx.as_of.year
    if np.datetime64(f"{year}-07-20") <= as_of:
        day = ctx.days[np.searchsorted(ctx.days, np.datetime64(f"{year}-06-01")) + rng.integers(0, 35, len(pos))]
    else:
        day = ctx.days[rng.integers(0, len(ctx.days), len(pos))]
    keep = amount > 0
    return book.pos_account[pos[keep]], amount[keep], day[keep]


def _margin_interest(ctx: Context, book: Book, contracts: dict,
                     as_of: np.datetime64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A month of financing interest charged on the 21st (next trading day) of each month."""
    first = len(book.customer) - len(book.margin_customers)
    k = len(book.margin_customers)
    acc = np.repeat(contracts["local_account"], 12)
    day = (as_of.astype("datetime64[M]") - np.arange(12)[::-1].astype("timedelta64[M]")).astype("datetime64[D]")
    day = next_trading_day(ctx.days, np.tile(day, k) + np.timedelta64(20, "D"))
    ok = (day >= book.opened[acc]) & (day <= as_of)
    acc, day = acc[ok], day[ok]
    debt, rate = contracts["financing_debt"], contracts["financing_rate"]
    return acc, -np.round(debt[acc - first] * rate[acc - first] * 30 / 360, 2), day


def behaviour_events(rng: np.random.Generator, ctx: Context, people: People, rel: Relationship,
                     trading: Trading, cid: np.ndarray, leavers: Leavers) -> tuple[dict, np.ndarray]:
    """Logins, page views, searches and reads in the app or on the web (thinning out before a
    leaver leaves, none after); and each customer's last day seen (a customer quiet for 180 days
    with little money is dormant)."""
    n = len(people.tier)
    engaged = (np.array([4.0, 16.0, 26.0, 20.0])[people.tier] * np.where(trading.n_trades > 0, 1.5, 0.35)
               * np.where(trading.hft, 4, 1))
    n_ev = rng.negative_binomial(0.7, 0.7 / (0.7 + engaged))
    cust = np.repeat(np.arange(n), n_ev)
    ne = len(cust)
    kind = np.array(["login", "page_view", "search", "content_read"])[choice(rng, np.array([32, 46, 11, 11.0]), ne)]
    day = np.maximum(ctx.all_days[rng.integers(0, len(ctx.all_days), ne)], rel.opened[cust])
    kept = keep_behaviour(rng, leavers, cust, day)
    cust, day, kind = cust[kept], day[kept], kind[kept]
    ne = len(cust)
    at = local_times(rng, day, APP_HOURS)
    channel = np.where(rng.random(ne) < 0.88, "app", "web")
    page = np.array([p for p, _ in pop.PAGES])[choice(rng, np.array([w for _, w in pop.PAGES], float), ne)]
    query = _searches(rng, ctx, ne)
    topic = _topics(rng, people, cust)
    geo, ip, device = _login_facts(rng, people, cust, cid)
    is_pv, is_search, is_read, is_login = (kind == k for k in ("page_view", "search", "content_read", "login"))
    frame = {
        "local_customer": cust, "occurred_at": at, "kind": kind, "channel": channel,
        "page": np.where(is_pv, page, np.where(is_read, "/news/article", None)).astype(object),
        "query": np.where(is_search, query, None).astype(object),
        "topic": np.where(is_read, topic, None).astype(object),
        "ip": np.where(is_login, ip, None).astype(object),
        "device_id": np.where(is_login, device, None).astype(object),
        "geo_city": np.where(is_login, geo, None).astype(object),
        "duration_s": np.where(is_read | is_pv, rng.integers(5, 600, ne), None).astype(object),
    }
    last_seen = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    if ne:
        np.maximum.at(last_seen.view(np.int64), cust, day.astype(np.int64))
    return frame, last_seen


def _searches(rng: np.random.Generator, ctx: Context, ne: int) -> np.ndarray:
    """A typical question (``国债逆回购怎么买``) or, 45 % of the time, a main-board stock's name."""
    query = np.array(pop.SEARCH_QUERIES)[rng.integers(0, len(pop.SEARCH_QUERIES), ne)]
    by_name = rng.random(ne) < 0.45
    return np.where(by_name, ctx.stock_pools["main"].names[ctx.stock_pools["main"].sample(rng, ne)], query)


def _topics(rng: np.random.Generator, people: People, cust: np.ndarray) -> np.ndarray:
    """Reading follows life: parents read about schooling and study abroad, the wealthy about
    overseas property and dollar assets, people near 60 about pensions."""
    topics = [t for t, _ in pop.CONTENT_TOPICS]
    tw = np.tile(np.array([w for _, w in pop.CONTENT_TOPICS], float), (len(cust), 1))
    age, tier = people.age[cust], people.tier[cust]
    parent_age = (age >= 30) & (age <= 52) & (people.marital[cust] != "single")
    tw[:, topics.index("子女教育")] *= np.where(parent_age, 4.0, 0.3)
    tw[:, topics.index("留学")] *= np.where(parent_age & (tier >= 1), 5.0, 0.5)
    tw[:, topics.index("海外置业")] *= np.where(tier >= 2, 8.0, np.where(tier == 1, 1.5, 0.3))
    tw[:, topics.index("美元资产")] *= np.where(tier >= 1, 3.0, 0.5)
    tw[:, topics.index("养老规划")] *= np.where(age >= 50, 5.0, 0.6)
    return np.array(topics)[row_choice(rng, tw)]


def _login_facts(rng: np.random.Generator, people: People, cust: np.ndarray,
                 cid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """City (3 % away from home), an IP with a per-city prefix, one or two devices a customer."""
    ne, city_names = len(cust), people.city_names
    away = rng.random(ne) < 0.03
    geo = np.where(away, city_names[rng.integers(0, len(city_names), ne)], city_names[cust])
    city_octet = (people.city[cust] * 37 + 11) % 200 + 20
    prefix = np.char.add(np.char.add(np.char.add((100 + city_octet % 120).astype("U3"), "."),
                                     city_octet.astype("U3")), ".")
    ip = np.char.add(prefix, np.char.add(np.char.add(rng.integers(0, 255, ne).astype("U3"), "."),
                                         rng.integers(1, 254, ne).astype("U3")))
    model = np.array(pop.DEVICES)[(cid[cust] * 31 + (rng.random(ne) < 0.12)) % len(pop.DEVICES)]
    serial = np.char.zfill(((cid[cust] * 2654435761 + (rng.random(ne) < 0.12)) % 16**10).astype("U11"), 11)
    return geo, ip, np.char.add(np.char.add(model, "-"), serial)


def family_members(rng: np.random.Generator, ctx: Context, people: People) -> tuple[dict, tuple]:
    """A spouse for the married (±4 years), 0-3 children born when the parent was 24-35; the
    frame and the children (parent, birth year) for the life events."""
    n = len(people.tier)
    birth_year = people.birth.astype("datetime64[Y]").astype(np.int64) + 1970
    s_cust = np.nonzero(people.marital == "married")[0]
    s_year = birth_year[s_cust] + rng.integers(-4, 5, len(s_cust))
    can_kids = np.isin(people.marital, ["married", "divorced", "widowed"]) & (people.age >= 24)
    n_kids = np.where(can_kids, choice(rng, np.array([0.18, 0.52, 0.27, 0.03]), n), 0)
    k_cust = np.repeat(np.arange(n), n_kids)
    k_year = np.minimum(birth_year[k_cust] + rng.integers(24, 36, len(k_cust)), ctx.as_of.year)
    frame = {
        "local_customer": np.concatenate([s_cust, k_cust]),
        "relation": np.concatenate([np.full(len(s_cust), "spouse"), np.full(len(k_cust), "child")]),
        "birth_year": np.concatenate([s_year, k_year]),
    }
    return frame, (k_cust, k_year)


def life_events(rng: np.random.Generator, ctx: Context, people: People, children: tuple,
                as_of: np.datetime64) -> dict:
    """The last three years' marriages, births, school starts, house purchases, job changes,
    promotions, relocations and retirements."""
    n, age, birth = len(people.tier), people.age, people.birth
    everyone, (k_cust, k_year) = np.arange(n), children
    window = np.datetime64(ctx.as_of - timedelta(days=3 * 365), "D")
    events: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def add(owners: np.ndarray, kind: str, when: np.ndarray) -> None:
        m = (when >= window) & (when <= as_of)
        events.append((owners[m], np.full(m.sum(), kind), when[m]))

    married = people.marital == "married"
    marry = birth + (rng.uniform(24, 34, n) * 365.25).astype("timedelta64[D]")
    add(everyone[married], "marriage", marry[married])
    born = (np.array([f"{y}-01-01" for y in k_year], dtype="datetime64[D]")
            + rng.integers(0, 365, len(k_cust)).astype("timedelta64[D]"))
    add(k_cust, "child_birth", born)
    add(k_cust, "child_school", born + np.timedelta64(6 * 365 + 250, "D"))
    house_day = as_of - rng.integers(0, 3 * 365, n).astype("timedelta64[D]")
    house = (rng.random(n) < 0.05) & (age >= 26)
    add(everyone[house], "house_purchase", house_day[house])
    for share, eligible, kind in ((0.07, age < 55, "job_change"),
                                  (0.04, (age >= 28) & (age < 55), "promotion"),
                                  (0.02, np.ones(n, dtype=bool), "relocation")):
        m = (rng.random(n) < share) & eligible
        when = as_of - rng.integers(0, 3 * 365, n).astype("timedelta64[D]")
        add(everyone[m], kind, when[m])
    retired = people.occupation == "退休"
    retire_at = birth + (np.where(people.male, 60, 55) * 365.25).astype("timedelta64[D]")
    add(everyone[retired], "retirement", retire_at[retired])
    kinds = np.concatenate([e[1] for e in events])
    return {"local_customer": np.concatenate([e[0] for e in events]), "kind": kinds,
            "occurred_on": np.concatenate([e[2] for e in events]),
            "note": np.array([pop.LIFE_EVENT_NOTES[k] for k in kinds.tolist()], dtype=object)}
