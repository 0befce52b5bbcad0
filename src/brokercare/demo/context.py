"""What every chunk of the demo brokerage draws from: instrument pools, calendar, branches, keys.

Built once per run (seeded, so the same seed gives the same pools) and handed to the worker
processes; a chunk adds only its own seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from brokercare.core.calendar import trading_days
from brokercare.demo import population as pop

STOCK_BOARDS = ("main", "chinext", "star", "bse", "etf", "st")
BOARD_WEIGHTS = np.array([0.52, 0.19, 0.11, 0.06, 0.10, 0.02])
FUND_BOARDS = ("money", "bond", "mixed", "gold", "index", "equity", "qdii")
FUND_WEIGHTS = np.array([0.30, 0.22, 0.18, 0.05, 0.13, 0.08, 0.04])


@dataclass
class Pool:
    """Instruments of one board with prices, lots and sampling weights."""

    symbols: np.ndarray
    prices: np.ndarray
    lots: np.ndarray
    names: np.ndarray
    cum: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.cum = np.empty(0)

    def set_weights(self, w: np.ndarray) -> None:
        c = np.cumsum(w)
        self.cum = c / c[-1]

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.minimum(np.searchsorted(self.cum, rng.random(n)), len(self.cum) - 1)


@dataclass
class Context:
    """Everything a chunk needs besides its seed: instruments, calendar, branches, keys."""

    as_of: date
    days: np.ndarray  # trading days of the last year, datetime64[D]
    all_days: np.ndarray  # calendar days of the last year
    stock_pools: dict[str, Pool]
    fund_pools: list[Pool]  # OTC funds by board and product rating
    fund_rating: np.ndarray  # each pool's rating (1-5)
    fund_weight: np.ndarray  # each pool's share of fund picks
    repos: Pool
    repo_tenors: np.ndarray
    city_weights: np.ndarray
    branch_of_city: list[np.ndarray]  # branch indexes per city
    branch_codes: np.ndarray
    managers_of_branch: list[np.ndarray]  # user ids per branch (senior first)
    cipher_keys: dict[str, bytes]
    active_key_id: str
    master_key: bytes


def build_context(instruments: list[dict], *, as_of: date, seed: int, branch_codes: list[str],
                  branch_city: list[int], managers_of_branch: list[list[int]],
                  cipher_keys: dict[str, bytes], active_key_id: str, master_key: bytes) -> Context:
    rng = np.random.default_rng([seed, 7])
    stock_pools = _stock_pools(instruments, rng)
    fund_pools, fund_rating, fund_weight = _fund_pools(instruments, rng)
    repos, tenors = _repo_pool(instruments, rng)
    start = as_of - timedelta(days=365)
    days = np.array(trading_days(start, as_of), dtype="datetime64[D]")
    all_days = np.arange(np.datetime64(start), np.datetime64(as_of) + 1, dtype="datetime64[D]")
    city_w = np.array([c[4] for c in pop.CITIES])
    by_city = [np.array([i for i, c in enumerate(branch_city) if c == k], dtype=np.int64)
               for k in range(len(pop.CITIES))]
    return Context(as_of, days, all_days, stock_pools, fund_pools, fund_rating, fund_weight,
                   repos, tenors, city_w / city_w.sum(), by_city, np.array(branch_codes),
                   [np.array(m, dtype=np.int64) for m in managers_of_branch],
                   cipher_keys, active_key_id, master_key)


def _pool(rows: list[dict], rng: np.random.Generator, *, popular: float = 25.0) -> Pool:
    """A pool weighted at random, the instruments with a real price ``popular`` times more."""
    p = Pool(np.array([r["symbol"] for r in rows]), np.array([r["last_price"] for r in rows]),
             np.array([r["lot_size"] for r in rows], dtype=np.int64),
             np.array([r["name"] for r in rows]))
    w = np.exp(rng.normal(0.0, 1.1, len(rows)))
    w[np.array([r["price_source"] in ("history", "nav") for r in rows])] *= popular
    p.set_weights(w)
    return p


def _stock_pools(instruments: list[dict], rng: np.random.Generator) -> dict[str, Pool]:
    """Stocks by board, main-board ST stocks, and ETFs (沪深300 trackers the favourites)."""
    stocks = [r for r in instruments if r["kind"] == "stock"]
    pools = {b: _pool([r for r in stocks if r["board"] == b and not r["is_st"]], rng)
             for b in ("main", "chinext", "star", "bse")}
    # main-board risk-warning stocks; an ST stock on ChiNext or STAR needs that board's permission too
    pools["st"] = _pool([r for r in stocks if r["is_st"] and r["board"] == "main"], rng)
    pools["etf"] = _pool([r for r in instruments if r["kind"] == "etf" and r["board"] != "money"],
                         rng, popular=1.0)
    etf_w = np.exp(rng.normal(0, 1.6, len(pools["etf"].symbols)))
    etf_w[np.char.find(pools["etf"].names.astype(str), "沪深300") >= 0] *= 40
    pools["etf"].set_weights(etf_w)
    return pools


def _fund_pools(instruments: list[dict], rng: np.random.Generator) -> tuple[list[Pool], np.ndarray, np.ndarray]:
    """OTC funds by board and by each fund's own rating in the instrument master (the rating the
    suitability check reads), so a customer is only given funds within their risk level."""
    fund_rows = [r for r in instruments if r["kind"] == "fund" and r["board"] in FUND_BOARDS]
    fund_keys = sorted({(r["board"], r["risk_rating"]) for r in fund_rows},
                       key=lambda k: (FUND_BOARDS.index(k[0]), k[1]))
    pools, rating, weight = [], [], []
    for board, level in fund_keys:
        rows = [r for r in fund_rows if (r["board"], r["risk_rating"]) == (board, level)]
        in_board = sum(r["board"] == board for r in fund_rows)
        pools.append(_pool(rows, rng))
        rating.append(int(level[1]))
        weight.append(FUND_WEIGHTS[FUND_BOARDS.index(board)] * len(rows) / in_board)
    return pools, np.array(rating), np.array(weight)


def _repo_pool(instruments: list[dict], rng: np.random.Generator) -> tuple[Pool, np.ndarray]:
    """Government-bond reverse repos, the 1-day tenor by far the most used; and each one's tenor."""
    repo_rows = [r for r in instruments if r["kind"] == "repo"]
    repos = _pool(repo_rows, rng, popular=1.0)
    tenors = np.array([int(r["name"].split("天")[0]) for r in repo_rows])
    repos.set_weights(np.where(tenors == 1, 8.0, np.where(tenors <= 7, 2.0, 0.6)))
    return repos, tenors
