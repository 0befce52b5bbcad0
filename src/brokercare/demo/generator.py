"""Vectorised generation of a demo brokerage, one chunk of customers at a time.

A chunk is a pure function of ``(seed, chunk index, context)``: the same seed gives the same
brokerage whatever the number of worker processes. Child rows carry chunk-local ids (0-based) and
chunk-local foreign keys; the loader shifts them by each table's base id when it writes.
Personal data leaves a chunk already encrypted, with its blind indexes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from brokercare.core.calendar import trading_days
from brokercare.demo import population as pop
from brokercare.demo.identity import id_body, id_numbers, luhn_complete
from brokercare.security.service import blind_index_many

TIERS = ("long_tail", "mass", "potential", "vip")
# Share of customers per AUM tier and the AUM range (元) each tier is drawn from.
TIER_SHARES = np.array([0.862, 0.1263, 0.0110, 0.0007])
TIER_BOUNDS = ((300.0, 500_000.0), (500_000.0, 5_000_000.0), (5_000_000.0, 50_000_000.0),
               (50_000_000.0, 2_000_000_000.0))
RISK_LEVELS = np.array(["C1", "C2", "C3", "C4", "C5"])
SCORE_BANDS = ((8, 20), (21, 36), (37, 53), (54, 81), (82, 100))
STOCK_BOARDS = ("main", "chinext", "star", "bse", "etf", "st")
BOARD_WEIGHTS = np.array([0.52, 0.19, 0.11, 0.06, 0.10, 0.02])
FUND_BOARDS = ("money", "bond", "mixed", "gold", "index", "equity", "qdii")
FUND_WEIGHTS = np.array([0.30, 0.22, 0.18, 0.05, 0.13, 0.08, 0.04])
REPO_COMMISSION = {1: 0.00001, 2: 0.00002, 3: 0.00003, 4: 0.00004, 7: 0.00005, 14: 0.0001,
                   28: 0.0002, 91: 0.0003, 182: 0.0003}
SH_TZ_OFFSET = np.timedelta64(8, "h")


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


def _pool(rows: list[dict], rng: np.random.Generator, *, popular: float = 25.0) -> Pool:
    p = Pool(np.array([r["symbol"] for r in rows]), np.array([r["last_price"] for r in rows]),
             np.array([r["lot_size"] for r in rows], dtype=np.int64),
             np.array([r["name"] for r in rows]))
    w = np.exp(rng.normal(0.0, 1.1, len(rows)))
    w[np.array([r["price_source"] in ("history", "nav") for r in rows])] *= popular
    p.set_weights(w)
    return p


def build_context(instruments: list[dict], *, as_of: date, seed: int, branch_codes: list[str],
                  branch_city: list[int], managers_of_branch: list[list[int]],
                  cipher_keys: dict[str, bytes], active_key_id: str, master_key: bytes) -> Context:
    rng = np.random.default_rng([seed, 7])
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
    # OTC funds by board and by each fund's own rating in the instrument master (the rating the
    # suitability check reads), so a customer is only given funds within their risk level
    fund_rows = [r for r in instruments if r["kind"] == "fund" and r["board"] in FUND_BOARDS]
    fund_keys = sorted({(r["board"], r["risk_rating"]) for r in fund_rows},
                       key=lambda k: (FUND_BOARDS.index(k[0]), k[1]))
    fund_pools, fund_rating, fund_weight = [], [], []
    for board, rating in fund_keys:
        rows = [r for r in fund_rows if (r["board"], r["risk_rating"]) == (board, rating)]
        in_board = sum(r["board"] == board for r in fund_rows)
        fund_pools.append(_pool(rows, rng))
        fund_rating.append(int(rating[1]))
        fund_weight.append(FUND_WEIGHTS[FUND_BOARDS.index(board)] * len(rows) / in_board)
    repo_rows = [r for r in instruments if r["kind"] == "repo"]
    repos = _pool(repo_rows, rng, popular=1.0)
    tenors = np.array([int(r["name"].split("天")[0]) for r in repo_rows])
    repo_w = np.where(tenors == 1, 8.0, np.where(tenors <= 7, 2.0, 0.6))
    repos.set_weights(repo_w)
    start = as_of - timedelta(days=365)
    days = np.array(trading_days(start, as_of), dtype="datetime64[D]")
    all_days = np.arange(np.datetime64(start), np.datetime64(as_of) + 1, dtype="datetime64[D]")
    city_w = np.array([c[4] for c in pop.CITIES])
    by_city = [np.array([i for i, c in enumerate(branch_city) if c == k], dtype=np.int64)
               for k in range(len(pop.CITIES))]
    return Context(as_of, days, all_days, pools, fund_pools, np.array(fund_rating),
                   np.array(fund_weight), repos, tenors, city_w / city_w.sum(),
                   by_city, np.array(branch_codes),
                   [np.array(m, dtype=np.int64) for m in managers_of_branch],
                   cipher_keys, active_key_id, master_key)


def fen(x: np.ndarray) -> np.ndarray:
    """Round 元 amounts to fen half-up, as statements do (``np.round`` rounds half to even)."""
    return np.floor(np.asarray(x) * 100 + 0.5 + 1e-7) / 100


def starts_with(values: np.ndarray, prefixes: tuple[str, ...]) -> np.ndarray:
    """Element-wise ``str.startswith`` with several prefixes."""
    out = np.zeros(len(values), dtype=bool)
    for prefix in prefixes:
        out |= np.char.startswith(values, prefix)
    return out


def _choice(rng: np.random.Generator, weights: np.ndarray, n: int) -> np.ndarray:
    c = np.cumsum(weights)
    return np.minimum(np.searchsorted(c / c[-1], rng.random(n)), len(weights) - 1)


def _row_choice(rng: np.random.Generator, w: np.ndarray) -> np.ndarray:
    """One category per row of a weight matrix (rows need not be normalised)."""
    c = np.cumsum(w, axis=1)
    u = rng.random(len(w)) * c[:, -1]
    return np.minimum((c < u[:, None]).sum(axis=1), w.shape[1] - 1)


def _truncated_pareto(rng, lo, hi, alpha, n):
    u = rng.random(n)
    a, b = lo ** -alpha, hi ** -alpha
    return (a - u * (a - b)) ** (-1.0 / alpha)


def _group_normalise(weights: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    sums = np.bincount(groups, weights, minlength=n_groups)
    return weights / np.where(sums[groups] > 0, sums[groups], 1.0)


def _encrypt(ctx: Context, values: list[str]) -> list[str]:
    """``FieldCipher.encrypt_many`` with the nonces drawn in one system call (same format)."""
    import base64

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    kid, seal, b64 = ctx.active_key_id, AESGCM(ctx.cipher_keys[ctx.active_key_id]).encrypt, base64.b64encode
    nonces = os.urandom(12 * len(values))
    out = []
    for i, v in enumerate(values):
        nonce = nonces[12 * i:12 * i + 12]
        out.append(f"{kid}${b64(nonce + seal(nonce, v.encode(), None)).decode()}")
    return out


def _local_times(rng, days: np.ndarray, sessions: tuple[tuple[int, int], ...]) -> np.ndarray:
    """UTC timestamps on ``days`` at a random second within one of the Beijing-time sessions."""
    lengths = np.array([e - s for s, e in sessions], dtype=np.float64)
    which = _choice(rng, lengths, len(days))
    starts = np.array([s for s, _ in sessions])[which]
    secs = starts + (rng.random(len(days)) * lengths[which]).astype(np.int64)
    return days.astype("datetime64[s]") + secs.astype("timedelta64[s]") - SH_TZ_OFFSET


TRADING_SESSIONS = ((9 * 3600 + 30 * 60, 11 * 3600 + 30 * 60), (13 * 3600, 15 * 3600 - 180))
BANK_HOURS = ((9 * 3600, 16 * 3600),)
APP_HOURS = ((7 * 3600, 12 * 3600), (12 * 3600, 18 * 3600), (18 * 3600, 23 * 3600 + 59 * 60))


def generate_chunk(ctx: Context, seed: int, chunk: int, n: int, first_customer_id: int) -> dict:
    """Generate ``n`` customers with everything they own and did; returns table -> columns."""
    rng = np.random.default_rng([seed, 1000 + chunk])
    as_of = np.datetime64(ctx.as_of, "D")
    cid = first_customer_id + np.arange(n, dtype=np.int64)
    out: dict[str, dict] = {}

    # --- wealth tier and AUM ----------------------------------------------------------------
    tier = _choice(rng, TIER_SHARES, n)
    aum = np.empty(n)
    lt = tier == 0
    body = np.exp(rng.normal(np.log(45_000), 1.35, lt.sum()))
    while (bad := (body < TIER_BOUNDS[0][0]) | (body >= TIER_BOUNDS[0][1])).any():
        body[bad] = np.exp(rng.normal(np.log(45_000), 1.35, bad.sum()))
    aum[lt] = body
    for t, alpha in ((1, 1.15), (2, 1.1), (3, 1.6)):
        m = tier == t
        aum[m] = _truncated_pareto(rng, *TIER_BOUNDS[t], alpha, m.sum())
    aum = np.round(aum, 2)

    # --- demographics -----------------------------------------------------------------------
    male = rng.random(n) < np.where(tier >= 2, 0.62, 0.56)
    age_mu = np.array([37.0, 46.0, 51.0, 54.0])[tier]
    age = np.clip(rng.normal(age_mu, np.array([11.0, 11.0, 9.5, 8.5])[tier]), 18, 88).astype(np.int64)
    birth = as_of - (age * 365.25 + rng.integers(0, 365, n)).astype("timedelta64[D]")
    tier_city_boost = np.array([1.0, 1.3, 1.8, 2.4])
    city_tiers = np.array([c[2] for c in pop.CITIES])
    w = np.tile(ctx.city_weights, (n, 1))
    w *= np.where(city_tiers[None, :] == 1, tier_city_boost[tier][:, None], 1.0)
    city = _row_choice(rng, w)
    city_names = np.array([c[0] for c in pop.CITIES])[city]
    provinces = np.array([c[1] for c in pop.CITIES])[city]
    region = np.array([int(c[3]) for c in pop.CITIES])[city]

    occ = pop.OCCUPATIONS
    ages = np.arange(0, 101)
    occ_w = np.array([[(lo <= a <= hi) * 1.0 for (_, lo, hi, _m, _s) in occ] for a in ages])
    base = np.array([0.2, 9, 4, 3, 3, 1.5, 1.5, 3, 4, 1.5, 0.6, 2, 4, 1.5, 0.8, 2, 4, 1.5, 0.0, 1.2])
    occ_w *= base
    occ_w[18:23, 0] = 12.0  # students
    retire_col = 18
    occ_w[55:, retire_col] = np.where(np.arange(55, 101) >= 60, 60.0, 4.0)[:, None].ravel()
    wealth_boost = np.ones((4, len(occ)))
    for j, name in enumerate(o[0] for o in occ):
        if name in ("企业主", "企业高管", "金融从业者", "律师", "医生"):
            wealth_boost[:, j] = (1, 3, 9, 14)
        if name in ("学生", "工人", "农民", "家庭主妇"):
            wealth_boost[:, j] = (1, 0.5, 0.15, 0.1)
    ow = occ_w[age] * wealth_boost[tier]
    ow[~male, retire_col] *= np.where(age[~male] >= 55, 8.0, 1.0)
    occupation_idx = _row_choice(rng, ow)
    occ_names = np.array([o[0] for o in occ])[occupation_idx]
    med = np.array([o[3] for o in occ])[occupation_idx]
    sig = np.array([o[4] for o in occ])[occupation_idx]
    age_curve = np.exp(-((age - 45) / 22.0) ** 2) * 0.6 + 0.55
    income = np.round(med * age_curve * np.exp(rng.normal(0, sig)) * np.array([1, 1.3, 2.0, 3.0])[tier], -3)
    edu_w = np.tile(np.array([1.0, 2.0, 2.5, 3.5, 1.2, 0.25]), (n, 1))
    edu_w[:, 3:] *= np.where(age < 45, 1.8, 0.8)[:, None] * np.array([1, 1.3, 1.8, 2.0])[tier][:, None]
    education = np.array(pop.EDUCATION)[_row_choice(rng, edu_w)]
    mw = np.zeros((n, 4))  # single, married, divorced, widowed
    mw[:, 0] = np.select([age < 25, age < 30, age < 40], [0.85, 0.45, 0.12], 0.04)
    mw[:, 1] = np.select([age < 25, age < 30, age < 60], [0.15, 0.52, 0.80], 0.74)
    mw[:, 2] = np.where(age >= 30, 0.08, 0.01)
    mw[:, 3] = np.where(age >= 60, 0.14, 0.0)
    marital = np.array(["single", "married", "divorced", "widowed"])[_row_choice(rng, mw)]

    # names
    surnames = np.array([s for s, _ in pop.SURNAMES])[_choice(rng, np.array([w for _, w in pop.SURNAMES]), n)]
    older = birth < np.datetime64("1985-01-01")
    pools = {(True, True): pop.GIVEN_MALE_OLD, (True, False): pop.GIVEN_MALE_NEW,
             (False, True): pop.GIVEN_FEMALE_OLD, (False, False): pop.GIVEN_FEMALE_NEW}
    given1 = np.empty(n, dtype="U1")
    given2 = np.empty(n, dtype="U1")
    for (is_m, is_old), chars in pools.items():
        m = (male == is_m) & (older == is_old)
        arr = np.array(list(chars))
        given1[m] = arr[rng.integers(0, len(arr), m.sum())]
        given2[m] = arr[rng.integers(0, len(arr), m.sum())]
    one_char = rng.random(n) < np.where(older, 0.35, 0.14)
    given2[one_char] = ""
    given = np.char.add(given1, given2)
    for is_m, whole in ((True, pop.GIVEN2_MALE_NEW), (False, pop.GIVEN2_FEMALE_NEW)):
        m = (male == is_m) & ~older & ~one_char & (rng.random(n) < 0.5)
        given[m] = np.array(whole)[rng.integers(0, len(whole), m.sum())]
    names = np.char.add(surnames, given)

    # identity number: sequence digits odd for men
    seq = rng.integers(0, 50, n) * 10 + rng.integers(0, 5, n) * 2 + male.astype(np.int64)
    id_bodies = id_body(region, birth, seq)
    id_nums = id_numbers(id_bodies)

    prefixes = np.array([p for p, _ in pop.MOBILE_PREFIXES])[_choice(rng, np.array([w for _, w in pop.MOBILE_PREFIXES], float), n)]
    phones = np.char.add(prefixes, np.char.zfill(rng.integers(0, 10**8, n).astype("U8"), 8))

    streets = np.array(pop.STREETS)[rng.integers(0, len(pop.STREETS), n)]
    compounds = np.array(pop.COMPOUNDS)[rng.integers(0, len(pop.COMPOUNDS), n)]
    district = np.array([pop.DISTRICTS.get(c, ("",))[0] for c in city_names])
    for cname, ds in pop.DISTRICTS.items():
        m = city_names == cname
        district[m] = np.array(ds)[rng.integers(0, len(ds), m.sum())]
    prov_prefix = np.where(provinces == city_names, "", np.char.add(provinces, "省"))
    prov_prefix = np.where(np.isin(provinces, ["广西", "内蒙古", "宁夏", "新疆", "西藏"]),
                           provinces, prov_prefix)
    addr = np.char.add(np.char.add(prov_prefix, city_names), "市")
    addr = np.char.add(np.char.add(addr, district), streets)
    addr = np.char.add(addr, np.char.add(rng.integers(1, 999, n).astype("U3"), "号"))
    addr = np.char.add(np.char.add(addr, np.array(["阳光", "翠湖", "金色", "锦绣", "碧水", "万科", "绿地", "恒大"])[rng.integers(0, 8, n)]), compounds)
    addr = np.char.add(addr, np.char.add(rng.integers(1, 30, n).astype("U2"), "栋"))
    addr = np.char.add(addr, np.char.add(rng.integers(101, 2800, n).astype("U4"), "室"))

    has_email = rng.random(n) < 0.35
    email_dom = np.array(["qq.com", "163.com", "126.com", "sina.com", "foxmail.com"])[_choice(rng, np.array([5, 3, 1, 0.5, 0.5]), n)]
    qq = rng.integers(10**7, 3 * 10**9, n).astype("U10")
    email = np.where(has_email, np.char.add(np.char.add(qq, "@"), email_dom), None).astype(object)
    has_wx = rng.random(n) < 0.62
    alphabet = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))
    openid_chars = alphabet[rng.integers(0, 64, (n, 27))]
    openid = np.char.add("o", openid_chars.view("U27").ravel())
    openid = np.where(has_wx, openid, None).astype(object)

    # branch and manager
    branch_idx = np.empty(n, dtype=np.int64)
    for k in np.unique(city):
        m = city == k
        opts = ctx.branch_of_city[k]
        branch_idx[m] = opts[rng.integers(0, len(opts), m.sum())]
    branch = ctx.branch_codes[branch_idx]
    manager = np.full(n, -1, dtype=np.int64)
    wants_manager = (tier >= 2) | ((tier == 1) & (rng.random(n) < 0.3))
    for b in np.unique(branch_idx[wants_manager]):
        m = wants_manager & (branch_idx == b)
        ms = ctx.managers_of_branch[b]
        if len(ms):
            senior = ms[: max(1, len(ms) // 3)]
            pick = np.where(tier[m] == 3, senior[rng.integers(0, len(senior), m.sum())],
                            ms[rng.integers(0, len(ms), m.sum())])
            manager[m] = pick
    manager_col = np.where(manager >= 0, manager, None).astype(object)

    # account opening: after 18th birthday, skewed to the boom years
    years_since = np.minimum(rng.exponential(np.array([4.0, 7.0, 9.0, 10.0])[tier]), age - 18.2)
    opened = as_of - (np.maximum(years_since, 0.02) * 365.25).astype("timedelta64[D]")
    opened = np.maximum(opened, np.datetime64("1998-01-05"))

    # risk assessment
    rw = np.tile(np.array([0.05, 0.16, 0.40, 0.27, 0.12]), (n, 1))
    rw[:, 3:] *= np.where(age < 40, 1.5, np.where(age > 60, 0.6, 1.0))[:, None]
    rw[:, :2] *= np.where(age > 60, 1.8, 1.0)[:, None]
    rw[:, 3:] *= np.array([1.0, 1.3, 1.6, 1.7])[tier][:, None]
    level = _row_choice(rng, rw)
    lo = np.array([b[0] for b in SCORE_BANDS])[level]
    hi = np.array([b[1] for b in SCORE_BANDS])[level]
    score = lo + (rng.random(n) * (hi - lo + 1)).astype(np.int64)
    assessed = as_of - rng.integers(0, 800, n).astype("timedelta64[D]")
    assessed = np.maximum(assessed, opened)
    valid_until = assessed + np.timedelta64(730, "D")
    valid = valid_until >= as_of
    risk_level = np.where(valid, RISK_LEVELS[level], None).astype(object)
    prev = rng.random(n) < 0.35
    prev_level = np.clip(level[prev] + rng.integers(-1, 2, prev.sum()), 0, 4)
    prev_assessed = assessed[prev] - rng.integers(400, 1100, prev.sum()).astype("timedelta64[D]")
    prev_assessed = np.maximum(prev_assessed, opened[prev])
    plo = np.array([b[0] for b in SCORE_BANDS])[prev_level]
    phi = np.array([b[1] for b in SCORE_BANDS])[prev_level]
    prev_score = plo + (rng.random(prev.sum()) * (phi - plo + 1)).astype(np.int64)
    eff_level = np.where(valid, level, -1)  # what the customer may buy today

    years_open = (as_of - opened).astype(np.int64) / 365.25
    professional = (aum >= 5_000_000) & (years_open >= 2) & (rng.random(n) < 0.5)

    # --- encryption and blind indexes ------------------------------------------------------
    id_list, phone_list, addr_list = id_nums.tolist(), phones.tolist(), addr.tolist()

    # --- accounts ---------------------------------------------------------------------------
    margin_p = np.array([0.0, 0.28, 0.45, 0.40])[tier] * (years_open >= 0.5) * (eff_level >= 2)
    has_margin = rng.random(n) < margin_p
    n_margin = int(has_margin.sum())
    comm_levels = np.array([0.0001, 0.00015, 0.0002, 0.00025, 0.0003])
    cw = np.array([[0.8, 1.0, 2.0, 3.5, 2.7], [1.2, 2.2, 3.0, 2.4, 1.2],
                   [3.0, 3.0, 2.0, 1.0, 0.3], [5.0, 3.0, 1.0, 0.2, 0.1]])
    commission = comm_levels[_row_choice(rng, cw[tier])]
    bank_i = _choice(rng, np.array([b[2] for b in pop.BANKS], float), n)
    bank_names = np.array([b[0] for b in pop.BANKS])[bank_i]
    bins = np.array([int(b[1]) for b in pop.BANKS], dtype=np.int64)[bank_i]
    cards = luhn_complete(bins * 10**12 + rng.integers(0, 10**12, n), 18)
    card_list = cards.tolist()

    # asset allocation of the target AUM: cash / stocks+ETF / funds / reverse repo
    g_cash = rng.gamma(np.array([1.4, 1.1, 1.0, 1.0])[tier], 1.0)
    g_stock = rng.gamma(2.2, 1.0, n) * (eff_level >= 2)
    g_fund = rng.gamma(np.array([0.5, 1.0, 1.4, 1.6])[tier], 1.0) * (rng.random(n) < np.array([0.45, 0.7, 0.85, 0.9])[tier])
    g_repo = rng.gamma(1.0, 0.6, n) * (rng.random(n) < np.array([0.04, 0.14, 0.25, 0.3])[tier])
    g_sum = g_cash + g_stock + g_fund + g_repo
    margin_net_share = np.where(has_margin, rng.uniform(0.25, 0.6, n), 0.0)
    stock_target = aum * (1 - margin_net_share) * g_stock / g_sum
    fund_target = aum * (1 - margin_net_share) * g_fund / g_sum
    repo_target = aum * (1 - margin_net_share) * g_repo / g_sum

    # stock and ETF positions in the cash account
    k_stock = np.where(g_stock > 0, 1 + rng.poisson(np.array([1.2, 3.0, 6.0, 10.0])[tier]), 0)
    pos_cust = np.repeat(np.arange(n), k_stock)
    allow = np.ones((len(pos_cust), len(STOCK_BOARDS)))
    lvl = eff_level[pos_cust]
    pa = aum[pos_cust]
    allow[:, 1] *= (lvl >= 3) & (pa >= 100_000)  # ChiNext: C4 and 10万 assets
    allow[:, 2] *= (lvl >= 3) & (pa >= 500_000)  # STAR: C4 and 50万
    allow[:, 3] *= (lvl >= 3) & (pa >= 500_000)  # BSE: C4 and 50万
    allow[:, 5] *= lvl >= 4  # risk-warning stocks: C5
    board = _row_choice(rng, allow * BOARD_WEIGHTS)
    sym = np.empty(len(pos_cust), dtype=object)
    price = np.empty(len(pos_cust))
    lot = np.empty(len(pos_cust), dtype=np.int64)
    for b, name in enumerate(STOCK_BOARDS):
        m = board == b
        p = ctx.stock_pools[name]
        i = p.sample(rng, m.sum())
        sym[m], price[m], lot[m] = p.symbols[i], p.prices[i], p.lots[i]
    share = _group_normalise(rng.gamma(1.3, 1.0, len(pos_cust)), pos_cust, n)
    value = stock_target[pos_cust] * share
    qty = np.floor(value / price / lot) * lot
    # STAR (from 200) and BSE (from 100) accept odd quantities; holdings here stay in round lots
    positions = [(pos_cust, sym, qty, price)]

    # fund positions (OTC, units with two decimals), within the customer's risk level
    k_fund = np.where(g_fund > 0, 1 + rng.poisson(np.array([0.5, 1.5, 3.0, 4.0])[tier]), 0)
    fpos = np.repeat(np.arange(n), k_fund)
    flvl = np.where(eff_level >= 0, eff_level, 0)[fpos]
    fallow = (ctx.fund_rating[None, :] <= (flvl[:, None] + 1)).astype(float) * ctx.fund_weight
    fboard = _row_choice(rng, fallow)
    fsym = np.empty(len(fpos), dtype=object)
    fprice = np.empty(len(fpos))
    for b, p in enumerate(ctx.fund_pools):
        m = fboard == b
        i = p.sample(rng, m.sum())
        fsym[m], fprice[m] = p.symbols[i], p.prices[i]
    fshare = _group_normalise(rng.gamma(1.5, 1.0, len(fpos)), fpos, n)
    fqty = np.floor(fund_target[fpos] * fshare / fprice * 100) / 100
    positions.append((fpos, fsym, fqty, fprice))

    # reverse repo positions (lent cash, 10 张 of 100 元 each at minimum)
    rcust = np.nonzero(g_repo > 0)[0]
    ri = ctx.repos.sample(rng, len(rcust))
    rqty = np.floor(repo_target[rcust] / 1000) * 10
    positions.append((rcust, ctx.repos.symbols[ri], rqty, ctx.repos.prices[ri]))

    # margin accounts: collateral positions financed so the maintenance ratio is realistic
    mcust = np.nonzero(has_margin)[0]
    ratio = np.exp(rng.normal(np.log(2.9), 0.45, n_margin))
    near = rng.random(n_margin) < 0.05
    ratio[near] = rng.uniform(1.33, 1.55, near.sum())  # a few close to the warning line
    ratio = np.clip(ratio, 1.33, 12.0)
    equity = aum[mcust] * margin_net_share[mcust]
    m_assets = equity * ratio / (ratio - 1)
    m_cash = m_assets * rng.uniform(0.01, 0.08, n_margin)
    mk = 2 + rng.poisson(3.0, n_margin)
    mp_local = np.repeat(np.arange(n_margin), mk)
    mallow = np.ones((len(mp_local), len(STOCK_BOARDS)))
    mallow[:, 5] = 0  # ST stocks are not eligible collateral for financing
    mlvl = eff_level[mcust][mp_local]
    mallow[:, 1:4] *= (mlvl >= 3)[:, None]
    mboard = _row_choice(rng, mallow * BOARD_WEIGHTS)
    msym = np.empty(len(mp_local), dtype=object)
    mprice = np.empty(len(mp_local))
    mlot = np.empty(len(mp_local), dtype=np.int64)
    for b, name in enumerate(STOCK_BOARDS):
        m = mboard == b
        if not m.any():
            continue
        p = ctx.stock_pools[name]
        i = p.sample(rng, m.sum())
        msym[m], mprice[m], mlot[m] = p.symbols[i], p.prices[i], p.lots[i]
    mshare = _group_normalise(rng.gamma(1.5, 1.0, len(mp_local)), mp_local, n_margin)
    mqty = np.floor((m_assets - m_cash)[mp_local] * mshare / mprice / mlot) * mlot
    mmv = np.bincount(mp_local, mqty * mprice, minlength=n_margin)
    real_assets = mmv + m_cash
    debt = np.round(real_assets / ratio, 2)

    # --- assemble accounts ------------------------------------------------------------------
    n_acc = n + n_margin
    acc_cust = np.concatenate([np.arange(n), mcust])
    acc_kind = np.array(["cash"] * n + ["margin"] * n_margin)
    margin_acc_local = n + np.arange(n_margin)
    acc_of_cust_margin = np.full(n, -1, dtype=np.int64)
    acc_of_cust_margin[mcust] = margin_acc_local

    all_pos = []
    for pc, ps, pq, pp in positions:
        keep = pq > 0
        all_pos.append((pc[keep], ps[keep], pq[keep], pp[keep]))
    keep = mqty > 0
    all_pos.append((acc_of_cust_margin[mcust][mp_local][keep], msym[keep], mqty[keep], mprice[keep]))
    pos_acc = np.concatenate([a[0] for a in all_pos])
    pos_sym = np.concatenate([a[1] for a in all_pos])
    pos_qty = np.concatenate([a[2] for a in all_pos])
    pos_price = np.concatenate([a[3] for a in all_pos])
    # one row per (account, symbol)
    key = np.char.add(np.char.add(pos_acc.astype("U12"), "|"), pos_sym.astype("U16"))
    _, first = np.unique(key, return_index=True)
    if len(first) != len(key):
        inv = np.unique(key, return_inverse=True)[1]
        pos_qty = np.bincount(inv, pos_qty)[inv]
    first = np.sort(first)
    pos_acc, pos_sym, pos_qty, pos_price = pos_acc[first], pos_sym[first], pos_qty[first], pos_price[first]
    is_cash_acc = pos_acc < n
    pos_mv = pos_qty * pos_price
    cash_mv = np.bincount(pos_acc[is_cash_acc], pos_mv[is_cash_acc], minlength=n)
    # cash absorbs whatever lot rounding left uninvested, so the account adds up to the AUM
    cash_balance = np.round(np.maximum(aum * (1 - margin_net_share) - cash_mv, 0), 2)
    cash_balance = np.maximum(cash_balance, np.round(rng.uniform(0, 50, n), 2))
    acc_cash = np.concatenate([cash_balance, np.round(m_cash, 2)])
    cost = np.round(pos_price * np.exp(rng.normal(0.06, 0.22, len(pos_price))), 3)
    is_repo = starts_with(pos_sym.astype("U16"), ("204", "1318")) if len(pos_sym) else np.zeros(0, bool)
    cost = np.where(is_repo, 100.0, cost)
    pos_opened = opened[acc_cust[pos_acc]] + (rng.random(len(pos_acc)) * (as_of - opened[acc_cust[pos_acc]]).astype(np.int64)).astype("timedelta64[D]")
    pos_opened = np.where(is_repo, as_of - rng.integers(0, 3, len(pos_acc)).astype("timedelta64[D]"), pos_opened)

    acc_opened = np.concatenate([opened, np.maximum(opened[mcust] + np.timedelta64(183, "D"),
                                                    as_of - rng.integers(30, 2000, n_margin).astype("timedelta64[D]"))])
    acc_opened = np.minimum(acc_opened, as_of)
    acc_status = np.where(rng.random(n_acc) < 0.002, "frozen", "active")
    acc_comm = np.concatenate([commission, commission[mcust]])
    hold_sh = np.char.add("A", np.char.zfill(((cid * 7919) % 10**9).astype("U9"), 9))
    hold_sz = np.char.add("0", np.char.zfill(((cid * 104729) % 10**9).astype("U9"), 9))

    # margin contracts
    warning = np.where(rng.random(n_margin) < 0.8, 1.40, 1.50)
    credit = np.maximum(np.ceil(debt * rng.uniform(1.2, 2.5, n_margin) / 100_000) * 100_000, 100_000)
    c_start = acc_opened[n:] + rng.integers(0, 10, n_margin).astype("timedelta64[D]")
    c_start = np.minimum(c_start, as_of)
    # margin interest is settled on the 21st of the last month of each quarter
    settle = [date(y, mth, 21) for y in (ctx.as_of.year - 1, ctx.as_of.year) for mth in (3, 6, 9, 12)]
    quarter_start = np.datetime64(max(d for d in settle if d <= ctx.as_of), "D")
    fin_rate = np.array([0.0500, 0.0600, 0.0680, 0.0735, 0.0835])[_choice(rng, np.array([1, 3, 3, 2, 1.0]), n_margin)]
    interest = np.round(debt * fin_rate * (as_of - np.maximum(quarter_start, c_start)).astype(np.int64) / 360, 2)
    out["margin_contracts"] = {
        "local_account": margin_acc_local,
        "credit_limit": credit, "financing_rate": fin_rate,
        "lending_rate": fin_rate + 0.02, "warning_line": warning,
        "liquidation_line": np.full(n_margin, 1.30), "withdrawal_line": np.full(n_margin, 3.00),
        "topup_days": np.where(rng.random(n_margin) < 0.7, 2, 1),
        "financing_debt": debt, "lending_debt": np.zeros(n_margin), "interest_due": interest,
        "start_on": c_start, "end_on": c_start + np.timedelta64(365 * 3, "D"),
        "status": np.full(n_margin, "active"),
    }

    # --- orders and trades over the last year -------------------------------------------------
    hft = rng.random(n) < np.where(tier == 0, 0.012, 0.03)
    mean_trades = np.array([1.1, 7.0, 14.0, 18.0])[tier] * np.where(hft, 25.0, 1.0)
    mean_trades = mean_trades * (eff_level >= 2) + 0.3 * (eff_level < 2)
    n_trades = rng.negative_binomial(0.6, 0.6 / (0.6 + mean_trades))
    t_cust = np.repeat(np.arange(n), n_trades)
    nt = len(t_cust)
    # trade in something the customer holds 65% of the time, otherwise something permitted
    held_by_cust_first = np.full(n, -1, dtype=np.int64)
    tradable = is_cash_acc & ~np.char.endswith(pos_sym.astype("U16"), ".OF")
    tpos = np.nonzero(tradable)[0]
    tpos = tpos[np.argsort(pos_acc[tpos], kind="stable")]
    if len(tpos):
        cnt = np.bincount(pos_acc[tpos], minlength=n)
        start = np.zeros(n, dtype=np.int64)
        start[1:] = np.cumsum(cnt)[:-1]
        held_by_cust_first = np.where(cnt > 0, start, -1)
        pick = held_by_cust_first[t_cust] + (rng.random(nt) * np.maximum(cnt[t_cust], 1)).astype(np.int64)
        use_held = (rng.random(nt) < 0.65) & (cnt[t_cust] > 0)
    else:
        pick = np.zeros(nt, dtype=np.int64)
        use_held = np.zeros(nt, dtype=bool)
    t_sym = np.empty(nt, dtype=object)
    t_ref = np.empty(nt)
    if use_held.any():
        sel = tpos[pick[use_held]]
        t_sym[use_held] = pos_sym[sel]
        t_ref[use_held] = pos_price[sel]
    other = ~use_held
    tallow = np.ones((other.sum(), len(STOCK_BOARDS)))
    tl = eff_level[t_cust[other]]
    ta = aum[t_cust[other]]
    tallow[:, 0] *= tl >= 2
    tallow[:, 4] *= tl >= 2
    tallow[:, 1] *= (tl >= 3) & (ta >= 100_000)
    tallow[:, 2] *= (tl >= 3) & (ta >= 500_000)
    tallow[:, 3] *= (tl >= 3) & (ta >= 500_000)
    tallow[:, 5] *= tl >= 4
    no_stock = tallow.sum(axis=1) == 0
    tb = _row_choice(rng, np.where(no_stock[:, None], np.eye(len(STOCK_BOARDS))[4], tallow * BOARD_WEIGHTS))
    o_idx = np.nonzero(other)[0]
    repo_trade = no_stock
    for b, name in enumerate(STOCK_BOARDS):
        m = (tb == b) & ~repo_trade
        p = ctx.stock_pools[name]
        i = p.sample(rng, m.sum())
        t_sym[o_idx[m]], t_ref[o_idx[m]] = p.symbols[i], p.prices[i]
    ri = ctx.repos.sample(rng, repo_trade.sum())
    t_sym[o_idx[repo_trade]] = ctx.repos.symbols[ri]
    t_ref[o_idx[repo_trade]] = 100.0
    t_symu = t_sym.astype("U16")
    t_is_repo = starts_with(t_symu, ("204", "1318"))
    t_is_etf = starts_with(t_symu, ("5", "15"))
    side = np.where(t_is_repo, "sell", np.where(rng.random(nt) < 0.52, "buy", "sell"))
    t_price = t_ref * np.exp(rng.normal(0, 0.13, nt))
    t_price = np.where(t_is_etf, np.round(t_price, 3), np.round(t_price, 2))
    t_lot = np.where(starts_with(t_symu, ("688", "689")), 200, 100)
    tenor = np.ones(nt, dtype=np.int64)
    if t_is_repo.any():
        rep_days = {s: int(t) for s, t in zip(ctx.repos.symbols, ctx.repo_tenors, strict=True)}
        tenor[t_is_repo] = [rep_days[s] for s in t_symu[t_is_repo]]
        t_price[t_is_repo] = np.round(rng.uniform(1.3, 2.6, t_is_repo.sum())
                                      + np.where(tenor[t_is_repo] == 1, 0.2, 0.0), 3)
    budget = np.clip(aum[t_cust] * rng.uniform(0.02, 0.25, nt), 2_000, 5_000_000)
    unit_value = np.where(t_is_repo, 100.0, t_price)
    t_lot = np.where(t_is_repo, 10, t_lot)
    t_qty = np.maximum(np.floor(budget / unit_value / t_lot), 1) * t_lot
    amount = fen(t_qty * unit_value)
    rate = commission[t_cust]
    comm = fen(np.maximum(amount * rate, 5.0))
    if t_is_repo.any():
        rc = np.array([REPO_COMMISSION.get(int(d), 0.0003) for d in tenor[t_is_repo]])
        comm[t_is_repo] = fen(amount[t_is_repo] * rc)
    comm = np.where(t_is_etf & ~t_is_repo, fen(np.maximum(amount * rate, 0.1)), comm)
    stamp = np.where((side == "sell") & ~t_is_repo & ~t_is_etf, fen(amount * 0.0005), 0.0)
    transfer = np.where(~t_is_repo & ~t_is_etf, fen(amount * 0.00001), 0.0)
    t_day = ctx.days[rng.integers(0, len(ctx.days), nt)]
    t_day = np.maximum(t_day, opened[t_cust])
    # a trade day clamped to the opening day must still be a trading day
    t_day = ctx.days[np.minimum(np.searchsorted(ctx.days, t_day), len(ctx.days) - 1)]
    traded_at = _local_times(rng, t_day, TRADING_SESSIONS)
    placed_at = traded_at - rng.integers(1, 240, nt).astype("timedelta64[s]")
    # orders: every trade has its filled order; some orders were cancelled or rejected
    n_cxl = rng.binomial(n_trades, 0.12)
    c_cust = np.repeat(np.arange(n), n_cxl)
    nc = len(c_cust)
    # pick for each cancelled order a trade of the same customer to mirror (symbol, day)
    order_of_cust_first = np.zeros(n, dtype=np.int64)
    order_of_cust_first[1:] = np.cumsum(n_trades)[:-1]
    mirror = order_of_cust_first[c_cust] + (rng.random(nc) * n_trades[c_cust]).astype(np.int64)
    o_status = np.concatenate([np.full(nt, "filled"),
                               np.where(rng.random(nc) < 0.9, "cancelled", "rejected")])
    o_chan = np.array(["app", "web", "pc", "phone"])[_choice(rng, np.array([80, 6, 12, 2.0]), nt + nc)]
    out["orders"] = {
        "local_account": np.concatenate([t_cust, c_cust]),
        "symbol": np.concatenate([t_sym, t_sym[mirror]]),
        "side": np.concatenate([side, side[mirror]]),
        "price": np.concatenate([t_price, t_price[mirror]]),
        "quantity": np.concatenate([t_qty, t_qty[mirror]]),
        "filled_quantity": np.concatenate([t_qty, np.zeros(nc)]),
        "status": o_status, "channel": o_chan,
        "placed_at": np.concatenate([placed_at, placed_at[mirror] + rng.integers(300, 3600, nc).astype("timedelta64[s]")]),
    }
    out["trades"] = {
        "local_order": np.arange(nt), "local_account": t_cust, "symbol": t_sym, "side": side,
        "price": t_price, "quantity": t_qty, "amount": amount, "commission": comm,
        "stamp_duty": stamp, "transfer_fee": transfer, "traded_at": traded_at,
    }

    # --- cash movements: bank transfers, dividends, margin interest -------------------------------
    n_bank = rng.poisson(np.array([1.2, 3.0, 5.0, 6.0])[tier] * np.where(n_trades > 0, 1.6, 0.5))
    b_cust = np.repeat(np.arange(n), n_bank)
    nb = len(b_cust)
    b_in = rng.random(nb) < 0.55
    b_amt = np.round(np.maximum(aum[b_cust] * rng.uniform(0.01, 0.2, nb), 100) / 100) * 100
    b_day = np.maximum(ctx.days[rng.integers(0, len(ctx.days), nb)], opened[b_cust])
    b_day = ctx.days[np.minimum(np.searchsorted(ctx.days, b_day), len(ctx.days) - 1)]
    b_status = np.where(rng.random(nb) < 0.006, "failed", "done")
    main_board = starts_with(pos_sym.astype("U16"), ("600", "601", "603", "605", "000", "001", "002", "003"))
    main_board &= ~np.char.endswith(pos_sym.astype("U16"), ".OF")
    div_pos = np.nonzero(is_cash_acc & main_board & (rng.random(len(pos_sym)) < 0.45))[0]
    d_amt = np.round(pos_qty[div_pos] * pos_price[div_pos] * rng.uniform(0.005, 0.035, len(div_pos)), 2)
    d_day = ctx.days[np.searchsorted(ctx.days, np.datetime64(f"{ctx.as_of.year}-06-01")) + rng.integers(0, 35, len(div_pos))] \
        if np.datetime64(f"{ctx.as_of.year}-07-20") <= as_of else ctx.days[rng.integers(0, len(ctx.days), len(div_pos))]
    keep_div = d_amt > 0
    div_pos, d_amt, d_day = div_pos[keep_div], d_amt[keep_div], d_day[keep_div]
    mi_months = np.arange(12)
    mi_acc = np.repeat(margin_acc_local, 12)
    mi_day = (as_of.astype("datetime64[M]") - mi_months[::-1].astype("timedelta64[M]")).astype("datetime64[D]")
    mi_day = np.tile(mi_day, n_margin) + np.timedelta64(20, "D")
    mi_day = ctx.days[np.minimum(np.searchsorted(ctx.days, mi_day), len(ctx.days) - 1)]
    mi_ok = (mi_day >= acc_opened[mi_acc]) & (mi_day <= as_of)
    mi_acc, mi_day = mi_acc[mi_ok], mi_day[mi_ok]
    mi_amt = -np.round(debt[mi_acc - n] * fin_rate[mi_acc - n] * 30 / 360, 2)
    out["cash_movements"] = {
        "local_account": np.concatenate([b_cust, pos_acc[div_pos], mi_acc]),
        "kind": np.concatenate([np.where(b_in, "bank_in", "bank_out"),
                                np.full(len(div_pos), "dividend"), np.full(len(mi_acc), "margin_interest")]),
        "amount": np.concatenate([np.where(b_in, b_amt, -b_amt), d_amt, mi_amt]),
        "status": np.concatenate([b_status, np.full(len(div_pos) + len(mi_acc), "done")]),
        "bank_name": np.concatenate([bank_names[b_cust], np.full(len(div_pos) + len(mi_acc), None, dtype=object)]).astype(object),
        "occurred_at": np.concatenate([_local_times(rng, b_day, BANK_HOURS),
                                       _local_times(rng, d_day, ((9 * 3600, 9 * 3600 + 1),)),
                                       _local_times(rng, mi_day, ((16 * 3600, 16 * 3600 + 600),))]),
    }

    # --- behaviour events ------------------------------------------------------------------------
    engaged = np.array([4.0, 16.0, 26.0, 20.0])[tier] * np.where(n_trades > 0, 1.5, 0.35) * np.where(hft, 4, 1)
    n_ev = rng.negative_binomial(0.7, 0.7 / (0.7 + engaged))
    e_cust = np.repeat(np.arange(n), n_ev)
    ne = len(e_cust)
    e_kind = np.array(["login", "page_view", "search", "content_read"])[_choice(rng, np.array([32, 46, 11, 11.0]), ne)]
    e_day = ctx.all_days[rng.integers(0, len(ctx.all_days), ne)]
    e_day = np.maximum(e_day, opened[e_cust])
    e_at = _local_times(rng, e_day, APP_HOURS)
    e_chan = np.where(rng.random(ne) < 0.88, "app", "web")
    page = np.array([p for p, _ in pop.PAGES])[_choice(rng, np.array([w for _, w in pop.PAGES], float), ne)]
    is_pv = e_kind == "page_view"
    is_search = e_kind == "search"
    is_read = e_kind == "content_read"
    is_login = e_kind == "login"
    stock_names = ctx.stock_pools["main"].names
    q = np.array(pop.SEARCH_QUERIES)[rng.integers(0, len(pop.SEARCH_QUERIES), ne)]
    by_name = rng.random(ne) < 0.45
    q = np.where(by_name, stock_names[ctx.stock_pools["main"].sample(rng, ne)], q)
    # reading topics follow life situation: parents read about schooling and study abroad,
    # the wealthy about overseas property and dollar assets, people near 60 about pensions
    topics = [t for t, _ in pop.CONTENT_TOPICS]
    tw = np.tile(np.array([w for _, w in pop.CONTENT_TOPICS], float), (ne, 1))
    ea = age[e_cust]
    et = tier[e_cust]
    parent_age = (ea >= 30) & (ea <= 52) & (marital[e_cust] != "single")
    tw[:, topics.index("子女教育")] *= np.where(parent_age, 4.0, 0.3)
    tw[:, topics.index("留学")] *= np.where(parent_age & (et >= 1), 5.0, 0.5)
    tw[:, topics.index("海外置业")] *= np.where(et >= 2, 8.0, np.where(et == 1, 1.5, 0.3))
    tw[:, topics.index("美元资产")] *= np.where(et >= 1, 3.0, 0.5)
    tw[:, topics.index("养老规划")] *= np.where(ea >= 50, 5.0, 0.6)
    topic = np.array(topics)[_row_choice(rng, tw)]
    home = city_names[e_cust]
    away = rng.random(ne) < 0.03
    geo = np.where(away & is_login, city_names[rng.integers(0, n, ne)], home)
    city_octet = (city[e_cust] * 37 + 11) % 200 + 20
    ip = np.char.add(np.char.add(np.char.add(np.char.add(
        (100 + city_octet % 120).astype("U3"), "."), (city_octet).astype("U3")), "."),
        np.char.add(np.char.add(rng.integers(0, 255, ne).astype("U3"), "."), rng.integers(1, 254, ne).astype("U3")))
    dev_model = np.array(pop.DEVICES)[(cid[e_cust] * 31 + (rng.random(ne) < 0.12)) % len(pop.DEVICES)]
    dev_hash = np.char.zfill(((cid[e_cust] * 2654435761 + (rng.random(ne) < 0.12)) % 16**10).astype("U11"), 11)
    device = np.char.add(np.char.add(dev_model, "-"), dev_hash)
    out["behaviour_events"] = {
        "local_customer": e_cust, "occurred_at": e_at, "kind": e_kind, "channel": e_chan,
        "page": np.where(is_pv, page, np.where(is_read, "/news/article", None)).astype(object),
        "query": np.where(is_search, q, None).astype(object),
        "topic": np.where(is_read, topic, None).astype(object),
        "ip": np.where(is_login, ip, None).astype(object),
        "device_id": np.where(is_login, device, None).astype(object),
        "geo_city": np.where(is_login, geo, None).astype(object),
        "duration_s": np.where(is_read | is_pv, rng.integers(5, 600, ne), None).astype(object),
    }
    last_seen = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    if ne:
        np.maximum.at(last_seen.view(np.int64), e_cust, e_day.astype(np.int64))

    # --- family and life events ------------------------------------------------------------------
    birth_year = birth.astype("datetime64[Y]").astype(np.int64) + 1970
    spouse = np.isin(marital, ["married"])
    s_cust = np.nonzero(spouse)[0]
    s_year = birth_year[s_cust] + rng.integers(-4, 5, len(s_cust))
    can_kids = np.isin(marital, ["married", "divorced", "widowed"]) & (age >= 24)
    n_kids = np.where(can_kids, _choice(rng, np.array([0.18, 0.52, 0.27, 0.03]), n), 0)
    k_cust = np.repeat(np.arange(n), n_kids)
    k_year = np.minimum(birth_year[k_cust] + rng.integers(24, 36, len(k_cust)), ctx.as_of.year)
    out["family_members"] = {
        "local_customer": np.concatenate([s_cust, k_cust]),
        "relation": np.concatenate([np.full(len(s_cust), "spouse"), np.full(len(k_cust), "child")]),
        "birth_year": np.concatenate([s_year, k_year]),
    }
    ev_c, ev_k, ev_d = [], [], []
    window = np.datetime64(ctx.as_of - timedelta(days=3 * 365), "D")

    def add(mask, kind, when):
        m = mask & (when >= window) & (when <= as_of)
        ev_c.append(np.nonzero(m)[0])
        ev_k.append(np.full(m.sum(), kind))
        ev_d.append(when[m])

    marry = birth + (rng.uniform(24, 34, n) * 365.25).astype("timedelta64[D]")
    add(spouse, "marriage", marry)
    kid_born = np.array([f"{y}-01-01" for y in k_year], dtype="datetime64[D]") + rng.integers(0, 365, len(k_cust)).astype("timedelta64[D]")
    m = (kid_born >= window) & (kid_born <= as_of)
    ev_c.append(k_cust[m])
    ev_k.append(np.full(m.sum(), "child_birth"))
    ev_d.append(kid_born[m])
    school = kid_born + np.timedelta64(6 * 365 + 250, "D")
    m = (school >= window) & (school <= as_of)
    ev_c.append(k_cust[m])
    ev_k.append(np.full(m.sum(), "child_school"))
    ev_d.append(school[m])
    rnd_day = as_of - rng.integers(0, 3 * 365, n).astype("timedelta64[D]")
    add((rng.random(n) < 0.05) & (age >= 26), "house_purchase", rnd_day)
    add((rng.random(n) < 0.07) & (age < 55), "job_change", as_of - rng.integers(0, 3 * 365, n).astype("timedelta64[D]"))
    add((rng.random(n) < 0.04) & (age >= 28) & (age < 55), "promotion", as_of - rng.integers(0, 3 * 365, n).astype("timedelta64[D]"))
    add(rng.random(n) < 0.02, "relocation", as_of - rng.integers(0, 3 * 365, n).astype("timedelta64[D]"))
    retire_at = birth + (np.where(male, 60, 55) * 365.25).astype("timedelta64[D]")
    add(occ_names == "退休", "retirement", retire_at)
    le_kind = np.concatenate(ev_k) if ev_k else np.zeros(0, "U1")
    out["life_events"] = {
        "local_customer": np.concatenate(ev_c), "kind": le_kind, "occurred_on": np.concatenate(ev_d),
        "note": np.array([pop.LIFE_EVENT_NOTES[k] for k in le_kind.tolist()], dtype=object),
    }

    # --- risk assessments ------------------------------------------------------------------------
    out["risk_assessments"] = {
        "local_customer": np.concatenate([np.nonzero(prev)[0], np.arange(n)]),
        "level": np.concatenate([RISK_LEVELS[prev_level], RISK_LEVELS[level]]),
        "score": np.concatenate([prev_score, score]),
        "assessed_on": np.concatenate([prev_assessed, assessed]),
        "valid_until": np.concatenate([prev_assessed + np.timedelta64(730, "D"), valid_until]),
        "channel": np.array(["app", "web", "branch"])[_choice(rng, np.array([75, 10, 15.0]), n + prev.sum())],
    }

    # --- customers (status from activity) ----------------------------------------------------------
    active_recent = (n_trades > 0) | (~np.isnat(last_seen) & (last_seen >= as_of - np.timedelta64(180, "D")))
    status = np.where(active_recent | (aum >= 100_000), "active", "dormant")
    enc = _encrypt(ctx, id_list + phone_list + addr_list + card_list)
    out["customers"] = {
        "id": cid, "name": names, "gender": np.where(male, "M", "F"), "birth_date": birth,
        "id_number_enc": enc[:n], "id_number_hash": blind_index_many(id_list, master_key=ctx.master_key),
        "phone_enc": enc[n:2 * n], "phone_hash": blind_index_many(phone_list, master_key=ctx.master_key), "phone_verified": rng.random(n) < 0.97,
        "address_enc": enc[2 * n:3 * n], "email": email, "wechat_openid": openid,
        "province": provinces, "city": city_names, "occupation": occ_names, "education": education,
        "annual_income": income, "marital_status": marital, "branch_code": branch,
        "manager_id": manager_col, "opened_on": opened, "status": status,
        "risk_level": risk_level, "investor_type": np.where(professional, "professional", "ordinary"),
    }
    out["accounts"] = {
        "customer_id": cid[acc_cust], "kind": acc_kind, "status": acc_status,
        "opened_on": acc_opened, "branch_code": branch[acc_cust], "commission_rate": acc_comm,
        "cash_balance": acc_cash, "frozen_cash": np.zeros(n_acc), "currency": np.full(n_acc, "CNY"),
        "bank_name": bank_names[acc_cust].astype(object),
        "bank_card_enc": np.array(enc[3 * n:] + [enc[3 * n + i] for i in mcust.tolist()], dtype=object),
        "bank_card_hash": np.array(blind_index_many(card_list, master_key=ctx.master_key), dtype=object)[acc_cust],
        "sh_holder_no": hold_sh[acc_cust], "sz_holder_no": hold_sz[acc_cust],
    }
    out["positions"] = {
        "local_account": pos_acc, "symbol": pos_sym, "quantity": pos_qty,
        "available_quantity": pos_qty, "cost_price": cost, "opened_on": pos_opened,
    }
    out["_meta"] = {"id_bodies": id_bodies, "tier": tier, "aum": aum, "male": male,
                    "region": region, "birth": birth, "seq": seq}
    return out
