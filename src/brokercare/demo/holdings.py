"""What one chunk's customers own: accounts, positions within suitability, margin financing.

A customer's drawn AUM is split into cash, stocks and ETFs, funds and reverse repos (and, for
margin customers, net equity in a credit account); positions come in board lots from the pools
the customer is permitted, and cash absorbs what rounding left, so the accounts add up to the AUM.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from brokercare.demo import population as pop
from brokercare.demo.context import BOARD_WEIGHTS, STOCK_BOARDS, Context
from brokercare.demo.identity import luhn_complete
from brokercare.demo.people import Assessment, People, Relationship
from brokercare.demo.sampling import choice, group_normalise, row_choice, starts_with

REPO_PREFIXES = ("204", "1318")


@dataclass
class Banking:
    """Each customer's terms and bank: margin or not, commission rate, settlement bank card."""

    has_margin: np.ndarray
    commission: np.ndarray
    bank_names: np.ndarray
    cards: np.ndarray


@dataclass
class Allocation:
    """How each customer's AUM is split (元 to buy with; 0: none of that kind)."""

    holds_stock: np.ndarray
    holds_fund: np.ndarray
    holds_repo: np.ndarray
    margin_share: np.ndarray  # share held as net equity in the credit account
    stock: np.ndarray
    fund: np.ndarray
    repo: np.ndarray


@dataclass
class Lots:
    """Positions of one kind: owner (customer or margin-account index), symbol, quantity, price."""

    owner: np.ndarray
    symbol: np.ndarray
    quantity: np.ndarray
    price: np.ndarray


@dataclass
class Margin:
    """The credit accounts: whose they are, their cash, collateral and financing debt."""

    customers: np.ndarray  # chunk-local customer index of each credit account
    cash: np.ndarray
    collateral: Lots  # owner: index into ``customers``
    debt: np.ndarray


@dataclass
class Book:
    """Accounts (cash accounts first, one per customer, then the credit accounts) and positions."""

    customer: np.ndarray  # chunk-local customer index of each account
    kind: np.ndarray
    opened: np.ndarray
    status: np.ndarray
    cash: np.ndarray
    commission: np.ndarray
    margin_customers: np.ndarray
    pos_account: np.ndarray
    pos_symbol: np.ndarray
    pos_quantity: np.ndarray
    pos_price: np.ndarray
    pos_cost: np.ndarray
    pos_opened: np.ndarray

    @property
    def pos_in_cash_account(self) -> np.ndarray:
        """Positions held in a cash account (account indexes below the first credit account)."""
        return self.pos_account < len(self.customer) - len(self.margin_customers)


def draw_banking(rng: np.random.Generator, people: People, risk: Assessment,
                 rel: Relationship) -> Banking:
    """Margin for some wealthy C3+ customers of six months; cheaper commission the wealthier;
    a debit card of a real bank BIN with its Luhn digit."""
    tier, n = people.tier, len(people.tier)
    margin_p = np.array([0.0, 0.28, 0.45, 0.40])[tier] * (rel.years_open >= 0.5) * (risk.effective >= 2)
    has_margin = rng.random(n) < margin_p
    comm_levels = np.array([0.0001, 0.00015, 0.0002, 0.00025, 0.0003])
    cw = np.array([[0.8, 1.0, 2.0, 3.5, 2.7], [1.2, 2.2, 3.0, 2.4, 1.2],
                   [3.0, 3.0, 2.0, 1.0, 0.3], [5.0, 3.0, 1.0, 0.2, 0.1]])
    commission = comm_levels[row_choice(rng, cw[tier])]
    bank_i = choice(rng, np.array([b[2] for b in pop.BANKS], float), n)
    bank_names = np.array([b[0] for b in pop.BANKS])[bank_i]
    bins = np.array([int(b[1]) for b in pop.BANKS], dtype=np.int64)[bank_i]
    cards = luhn_complete(bins * 10**12 + rng.integers(0, 10**12, n), 18)
    return Banking(has_margin, commission, bank_names, cards)


def draw_allocation(rng: np.random.Generator, people: People, risk: Assessment,
                    banking: Banking) -> Allocation:
    tier, aum, n = people.tier, people.aum, len(people.tier)
    g_cash = rng.gamma(np.array([1.4, 1.1, 1.0, 1.0])[tier], 1.0)
    g_stock = rng.gamma(2.2, 1.0, n) * (risk.effective >= 2)
    g_fund = rng.gamma(np.array([0.5, 1.0, 1.4, 1.6])[tier], 1.0) * (rng.random(n) < np.array([0.45, 0.7, 0.85, 0.9])[tier])
    g_repo = rng.gamma(1.0, 0.6, n) * (rng.random(n) < np.array([0.04, 0.14, 0.25, 0.3])[tier])
    g_sum = g_cash + g_stock + g_fund + g_repo
    margin_share = np.where(banking.has_margin, rng.uniform(0.25, 0.6, n), 0.0)
    return Allocation(g_stock > 0, g_fund > 0, g_repo > 0, margin_share,
                      aum * (1 - margin_share) * g_stock / g_sum,
                      aum * (1 - margin_share) * g_fund / g_sum,
                      aum * (1 - margin_share) * g_repo / g_sum)


def pick_stocks(rng: np.random.Generator, ctx: Context,
                board: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Symbol, price and lot for each row's board (an index into STOCK_BOARDS; -1: none)."""
    sym = np.empty(len(board), dtype=object)
    price = np.empty(len(board))
    lot = np.empty(len(board), dtype=np.int64)
    for b, name in enumerate(STOCK_BOARDS):
        m = board == b
        p = ctx.stock_pools[name]
        i = p.sample(rng, m.sum())
        sym[m], price[m], lot[m] = p.symbols[i], p.prices[i], p.lots[i]
    return sym, price, lot


def permitted_boards(level: np.ndarray, assets: np.ndarray) -> np.ndarray:
    """Which boards each customer may buy (rows × STOCK_BOARDS, 1.0 or 0.0): ChiNext from C4
    with 10 万 of assets, STAR and BSE from C4 with 50 万, risk-warning (ST) stocks from C5."""
    allow = np.ones((len(level), len(STOCK_BOARDS)))
    allow[:, 1] *= (level >= 3) & (assets >= 100_000)
    allow[:, 2] *= (level >= 3) & (assets >= 500_000)
    allow[:, 3] *= (level >= 3) & (assets >= 500_000)
    allow[:, 5] *= level >= 4
    return allow


def stock_positions(rng: np.random.Generator, ctx: Context, people: People, risk: Assessment,
                    alloc: Allocation) -> Lots:
    """Stocks and ETFs in the cash account, in round lots (STAR from 200, BSE from 100 accept
    odd quantities; holdings here stay in round lots)."""
    tier, n = people.tier, len(people.tier)
    k_stock = np.where(alloc.holds_stock, 1 + rng.poisson(np.array([1.2, 3.0, 6.0, 10.0])[tier]), 0)
    owner = np.repeat(np.arange(n), k_stock)
    allow = permitted_boards(risk.effective[owner], people.aum[owner])
    sym, price, lot = pick_stocks(rng, ctx, row_choice(rng, allow * BOARD_WEIGHTS))
    share = group_normalise(rng.gamma(1.3, 1.0, len(owner)), owner, n)
    value = alloc.stock[owner] * share
    return Lots(owner, sym, np.floor(value / price / lot) * lot, price)


def fund_positions(rng: np.random.Generator, ctx: Context, people: People, risk: Assessment,
                   alloc: Allocation) -> Lots:
    """OTC funds (units with two decimals) rated within the customer's risk level."""
    tier, n = people.tier, len(people.tier)
    k_fund = np.where(alloc.holds_fund, 1 + rng.poisson(np.array([0.5, 1.5, 3.0, 4.0])[tier]), 0)
    owner = np.repeat(np.arange(n), k_fund)
    level = np.where(risk.effective >= 0, risk.effective, 0)[owner]
    allow = (ctx.fund_rating[None, :] <= (level[:, None] + 1)).astype(float) * ctx.fund_weight
    pool = row_choice(rng, allow)
    sym = np.empty(len(owner), dtype=object)
    price = np.empty(len(owner))
    for b, p in enumerate(ctx.fund_pools):
        m = pool == b
        i = p.sample(rng, m.sum())
        sym[m], price[m] = p.symbols[i], p.prices[i]
    share = group_normalise(rng.gamma(1.5, 1.0, len(owner)), owner, n)
    return Lots(owner, sym, np.floor(alloc.fund[owner] * share / price * 100) / 100, price)


def repo_positions(rng: np.random.Generator, ctx: Context, alloc: Allocation) -> Lots:
    """Reverse repos: lent cash, 10 张 of 100 元 each at minimum."""
    owner = np.nonzero(alloc.holds_repo)[0]
    i = ctx.repos.sample(rng, len(owner))
    return Lots(owner, ctx.repos.symbols[i], np.floor(alloc.repo[owner] / 1000) * 10, ctx.repos.prices[i])


def draw_margin(rng: np.random.Generator, ctx: Context, people: People, risk: Assessment,
                banking: Banking, alloc: Allocation) -> Margin:
    """Collateral financed so the maintenance ratio is log-normal around 290 %, 5 % of accounts
    between 133 % and 155 % (near the warning line)."""
    mcust = np.nonzero(banking.has_margin)[0]
    k = len(mcust)
    ratio = np.exp(rng.normal(np.log(2.9), 0.45, k))
    near = rng.random(k) < 0.05
    ratio[near] = rng.uniform(1.33, 1.55, near.sum())
    ratio = np.clip(ratio, 1.33, 12.0)
    equity = people.aum[mcust] * alloc.margin_share[mcust]
    assets = equity * ratio / (ratio - 1)
    cash = assets * rng.uniform(0.01, 0.08, k)
    owner = np.repeat(np.arange(k), 2 + rng.poisson(3.0, k))
    allow = np.ones((len(owner), len(STOCK_BOARDS)))
    allow[:, 5] = 0  # ST stocks are not eligible collateral for financing
    allow[:, 1:4] *= (risk.effective[mcust][owner] >= 3)[:, None]
    sym, price, lot = pick_stocks(rng, ctx, row_choice(rng, allow * BOARD_WEIGHTS))
    share = group_normalise(rng.gamma(1.5, 1.0, len(owner)), owner, k)
    qty = np.floor((assets - cash)[owner] * share / price / lot) * lot
    real_assets = np.bincount(owner, qty * price, minlength=k) + cash
    return Margin(mcust, cash, Lots(owner, sym, qty, price), np.round(real_assets / ratio, 2))


def assemble_book(rng: np.random.Generator, people: People, rel: Relationship, banking: Banking,
                  alloc: Allocation, holdings: list[Lots], margin: Margin,
                  as_of: np.datetime64) -> Book:
    """Cash accounts, then credit accounts; positions merged per (account, symbol); cash that
    makes each cash account add up to the AUM; cost prices and opening dates."""
    n, mcust = len(people.tier), margin.customers
    acc_cust = np.concatenate([np.arange(n), mcust])
    acc, sym, qty, price = _positions(n, holdings, margin)
    in_cash = acc < n
    cash_mv = np.bincount(acc[in_cash], (qty * price)[in_cash], minlength=n)
    # cash absorbs whatever lot rounding left uninvested, so the account adds up to the AUM
    cash_balance = np.round(np.maximum(people.aum * (1 - alloc.margin_share) - cash_mv, 0), 2)
    cash_balance = np.maximum(cash_balance, np.round(rng.uniform(0, 50, n), 2))
    cost = np.round(price * np.exp(rng.normal(0.06, 0.22, len(price))), 3)
    is_repo = starts_with(sym.astype("U16"), REPO_PREFIXES) if len(sym) else np.zeros(0, bool)
    cost = np.where(is_repo, 100.0, cost)
    since = rel.opened[acc_cust[acc]]
    pos_opened = since + (rng.random(len(acc)) * (as_of - since).astype(np.int64)).astype("timedelta64[D]")
    pos_opened = np.where(is_repo, as_of - rng.integers(0, 3, len(acc)).astype("timedelta64[D]"), pos_opened)
    acc_opened = np.concatenate([rel.opened, np.maximum(rel.opened[mcust] + np.timedelta64(183, "D"),
                                                        as_of - rng.integers(30, 2000, len(mcust)).astype("timedelta64[D]"))])
    acc_opened = np.minimum(acc_opened, as_of)
    status = np.where(rng.random(len(acc_cust)) < 0.002, "frozen", "active")
    return Book(acc_cust, np.array(["cash"] * n + ["margin"] * len(mcust)), acc_opened, status,
                np.concatenate([cash_balance, np.round(margin.cash, 2)]),
                np.concatenate([banking.commission, banking.commission[mcust]]), mcust,
                acc, sym, qty, price, cost, pos_opened)


def _positions(n: int, holdings: list[Lots], margin: Margin) -> tuple[np.ndarray, ...]:
    """Account, symbol, quantity, price of every non-empty position, one row per (account, symbol)."""
    margin_account = np.full(n, -1, dtype=np.int64)
    margin_account[margin.customers] = n + np.arange(len(margin.customers))
    c = margin.collateral
    parts = [(h.owner[h.quantity > 0], h.symbol[h.quantity > 0], h.quantity[h.quantity > 0],
              h.price[h.quantity > 0]) for h in holdings]
    keep = c.quantity > 0
    parts.append((margin_account[margin.customers][c.owner][keep], c.symbol[keep], c.quantity[keep],
                  c.price[keep]))
    acc, sym, qty, price = (np.concatenate([p[k] for p in parts]) for k in range(4))
    key = np.char.add(np.char.add(acc.astype("U12"), "|"), sym.astype("U16"))
    _, first = np.unique(key, return_index=True)
    if len(first) != len(key):
        inv = np.unique(key, return_inverse=True)[1]
        qty = np.bincount(inv, qty)[inv]
    first = np.sort(first)
    return acc[first], sym[first], qty[first], price[first]


def margin_contracts(rng: np.random.Generator, ctx: Context, book: Book, margin: Margin,
                     as_of: np.datetime64) -> dict:
    """One contract per credit account: lines, credit, financing rate, interest accrued since
    the quarter's settlement (the 21st of March, June, September, December)."""
    k, n, debt = len(margin.customers), len(book.customer) - len(margin.customers), margin.debt
    warning = np.where(rng.random(k) < 0.8, 1.40, 1.50)
    credit = np.maximum(np.ceil(debt * rng.uniform(1.2, 2.5, k) / 100_000) * 100_000, 100_000)
    c_start = book.opened[n:] + rng.integers(0, 10, k).astype("timedelta64[D]")
    c_start = np.minimum(c_start, as_of)
    settle = [date(y, mth, 21) for y in (ctx.as_of.year - 1, ctx.as_of.year) for mth in (3, 6, 9, 12)]
    quarter_start = np.datetime64(max(d for d in settle if d <= ctx.as_of), "D")
    fin_rate = np.array([0.0500, 0.0600, 0.0680, 0.0735, 0.0835])[choice(rng, np.array([1, 3, 3, 2, 1.0]), k)]
    interest = np.round(debt * fin_rate * (as_of - np.maximum(quarter_start, c_start)).astype(np.int64) / 360, 2)
    return {
        "local_account": n + np.arange(k),
        "credit_limit": credit, "financing_rate": fin_rate,
        "lending_rate": fin_rate + 0.02, "warning_line": warning,
        "liquidation_line": np.full(k, 1.30), "withdrawal_line": np.full(k, 3.00),
        "topup_days": np.where(rng.random(k) < 0.7, 2, 1),
        "financing_debt": debt, "lending_debt": np.zeros(k), "interest_due": interest,
        "start_on": c_start, "end_on": c_start + np.timedelta64(365 * 3, "D"),
        "status": np.full(k, "active"),
    }
