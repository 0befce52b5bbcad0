"""Who one chunk's customers are: wealth, life, contact details, branch and risk assessment.

Each function draws one section for all the chunk's customers at once (one array element per
customer). The sections are drawn in a fixed order from one generator, so their order is part of
the demo's identity: reordering them changes every brokerage a seed gives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brokercare.demo import population as pop
from brokercare.demo.context import Context
from brokercare.demo.identity import id_body, id_numbers
from brokercare.demo.sampling import choice, row_choice, truncated_pareto

TIERS = ("long_tail", "mass", "potential", "vip")
# Share of customers per AUM tier and the AUM range (元) each tier is drawn from.
TIER_SHARES = np.array([0.862, 0.1263, 0.0110, 0.0007])
TIER_BOUNDS = ((300.0, 500_000.0), (500_000.0, 5_000_000.0), (5_000_000.0, 50_000_000.0),
               (50_000_000.0, 2_000_000_000.0))
RISK_LEVELS = np.array(["C1", "C2", "C3", "C4", "C5"])
SCORE_BANDS = ((8, 20), (21, 36), (37, 53), (54, 81), (82, 100))
# Occupations more (or less) common the wealthier the customer.
WEALTHY_JOBS = ("企业主", "企业高管", "金融从业者", "律师", "医生")
MODEST_JOBS = ("学生", "工人", "农民", "家庭主妇")
RETIRED = [o[0] for o in pop.OCCUPATIONS].index("退休")


@dataclass
class People:
    """Wealth and life of each customer."""

    tier: np.ndarray  # index into TIERS
    aum: np.ndarray  # 元, the net assets the accounts will add up to
    male: np.ndarray
    age: np.ndarray
    birth: np.ndarray  # datetime64[D]
    city: np.ndarray  # index into population.CITIES
    city_names: np.ndarray
    provinces: np.ndarray
    region: np.ndarray  # administrative code of the city's central district
    occupation: np.ndarray
    income: np.ndarray
    education: np.ndarray
    marital: np.ndarray
    names: np.ndarray


@dataclass
class Contacts:
    """The numbers and addresses that identify each customer (in clear: sealed later)."""

    seq: np.ndarray  # identity-number sequence, odd for men
    id_bodies: np.ndarray  # the identity numbers' first 17 digits
    id_numbers: np.ndarray
    phones: np.ndarray
    addresses: np.ndarray
    email: np.ndarray  # object: None for customers without one
    openid: np.ndarray  # WeChat openid or None


@dataclass
class Relationship:
    """Where each customer banks with the broker and since when."""

    branch: np.ndarray  # branch code
    manager: np.ndarray  # object: user id of the customer manager, or None
    opened: np.ndarray  # datetime64[D]
    years_open: np.ndarray


@dataclass
class Assessment:
    """Each customer's current risk assessment and, for ~35 %, the one before."""

    level: np.ndarray  # 0-4 for C1-C5
    score: np.ndarray
    assessed: np.ndarray
    valid_until: np.ndarray
    risk_level: np.ndarray  # object: C1-C5 while valid, None once expired
    effective: np.ndarray  # what the customer may buy today: level, -1 once expired
    prev: np.ndarray  # mask of customers with an earlier assessment
    prev_level: np.ndarray
    prev_score: np.ndarray
    prev_assessed: np.ndarray
    professional: np.ndarray


def draw_people(rng: np.random.Generator, ctx: Context, n: int, as_of: np.datetime64) -> People:
    tier, aum = _wealth(rng, n)
    male, age, birth, city = _demographics(rng, ctx, tier, as_of)
    occupation, income = _occupation(rng, tier, male, age)
    education, marital = _education_and_marriage(rng, tier, age)
    names = _names(rng, male, birth)
    return People(tier, aum, male, age, birth, city, np.array([c[0] for c in pop.CITIES])[city],
                  np.array([c[1] for c in pop.CITIES])[city],
                  np.array([int(c[3]) for c in pop.CITIES])[city],
                  occupation, income, education, marital, names)


def _wealth(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Tier by share; AUM log-normal in the long tail, truncated Pareto in the tiers above."""
    tier = choice(rng, TIER_SHARES, n)
    aum = np.empty(n)
    lt = tier == 0
    body = np.exp(rng.normal(np.log(45_000), 1.35, lt.sum()))
    while (bad := (body < TIER_BOUNDS[0][0]) | (body >= TIER_BOUNDS[0][1])).any():
        body[bad] = np.exp(rng.normal(np.log(45_000), 1.35, bad.sum()))
    aum[lt] = body
    for t, alpha in ((1, 1.15), (2, 1.1), (3, 1.6)):
        m = tier == t
        aum[m] = truncated_pareto(rng, *TIER_BOUNDS[t], alpha, m.sum())
    return tier, np.round(aum, 2)


def _demographics(rng: np.random.Generator, ctx: Context, tier: np.ndarray,
                  as_of: np.datetime64) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sex, age (older when wealthier), birth date and city (wealth in first-tier cities)."""
    n = len(tier)
    male = rng.random(n) < np.where(tier >= 2, 0.62, 0.56)
    age_mu = np.array([37.0, 46.0, 51.0, 54.0])[tier]
    age = np.clip(rng.normal(age_mu, np.array([11.0, 11.0, 9.5, 8.5])[tier]), 18, 88).astype(np.int64)
    birth = as_of - (age * 365.25 + rng.integers(0, 365, n)).astype("timedelta64[D]")
    tier_city_boost = np.array([1.0, 1.3, 1.8, 2.4])
    city_tiers = np.array([c[2] for c in pop.CITIES])
    w = np.tile(ctx.city_weights, (n, 1))
    w *= np.where(city_tiers[None, :] == 1, tier_city_boost[tier][:, None], 1.0)
    return male, age, birth, row_choice(rng, w)


def _occupation(rng: np.random.Generator, tier: np.ndarray, male: np.ndarray,
                age: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An occupation that fits age and wealth, and the income it pays at that age."""
    occ = pop.OCCUPATIONS
    ages = np.arange(0, 101)
    occ_w = np.array([[(lo <= a <= hi) * 1.0 for (_, lo, hi, _m, _s) in occ] for a in ages])
    base = np.array([0.2, 9, 4, 3, 3, 1.5, 1.5, 3, 4, 1.5, 0.6, 2, 4, 1.5, 0.8, 2, 4, 1.5, 0.0, 1.2])
    occ_w *= base
    occ_w[18:23, 0] = 12.0  # students
    occ_w[55:, RETIRED] = np.where(np.arange(55, 101) >= 60, 60.0, 4.0)[:, None].ravel()
    wealth_boost = np.ones((4, len(occ)))
    for j, name in enumerate(o[0] for o in occ):
        if name in WEALTHY_JOBS:
            wealth_boost[:, j] = (1, 3, 9, 14)
        if name in MODEST_JOBS:
            wealth_boost[:, j] = (1, 0.5, 0.15, 0.1)
    ow = occ_w[age] * wealth_boost[tier]
    ow[~male, RETIRED] *= np.where(age[~male] >= 55, 8.0, 1.0)
    idx = row_choice(rng, ow)
    med = np.array([o[3] for o in occ])[idx]
    sig = np.array([o[4] for o in occ])[idx]
    age_curve = np.exp(-((age - 45) / 22.0) ** 2) * 0.6 + 0.55
    income = np.round(med * age_curve * np.exp(rng.normal(0, sig)) * np.array([1, 1.3, 2.0, 3.0])[tier], -3)
    return np.array([o[0] for o in occ])[idx], income


def _education_and_marriage(rng: np.random.Generator, tier: np.ndarray,
                            age: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(tier)
    edu_w = np.tile(np.array([1.0, 2.0, 2.5, 3.5, 1.2, 0.25]), (n, 1))
    edu_w[:, 3:] *= np.where(age < 45, 1.8, 0.8)[:, None] * np.array([1, 1.3, 1.8, 2.0])[tier][:, None]
    education = np.array(pop.EDUCATION)[row_choice(rng, edu_w)]
    mw = np.zeros((n, 4))  # single, married, divorced, widowed
    mw[:, 0] = np.select([age < 25, age < 30, age < 40], [0.85, 0.45, 0.12], 0.04)
    mw[:, 1] = np.select([age < 25, age < 30, age < 60], [0.15, 0.52, 0.80], 0.74)
    mw[:, 2] = np.where(age >= 30, 0.08, 0.01)
    mw[:, 3] = np.where(age >= 60, 0.14, 0.0)
    return education, np.array(["single", "married", "divorced", "widowed"])[row_choice(rng, mw)]


def _names(rng: np.random.Generator, male: np.ndarray, birth: np.ndarray) -> np.ndarray:
    """Surname by census share; given names by sex and generation (born before/after 1985)."""
    n = len(male)
    surnames = np.array([s for s, _ in pop.SURNAMES])[choice(rng, np.array([w for _, w in pop.SURNAMES]), n)]
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
    return np.char.add(surnames, given)


def draw_contacts(rng: np.random.Generator, people: People) -> Contacts:
    n = len(people.tier)
    # identity number: sequence digits odd for men
    seq = rng.integers(0, 50, n) * 10 + rng.integers(0, 5, n) * 2 + people.male.astype(np.int64)
    bodies = id_body(people.region, people.birth, seq)
    prefixes = np.array([p for p, _ in pop.MOBILE_PREFIXES])[
        choice(rng, np.array([w for _, w in pop.MOBILE_PREFIXES], float), n)]
    phones = np.char.add(prefixes, np.char.zfill(rng.integers(0, 10**8, n).astype("U8"), 8))
    addresses = _addresses(rng, people.city_names, people.provinces)
    email, openid = _online(rng, n)
    return Contacts(seq, bodies, id_numbers(bodies), phones, addresses, email, openid)


def _addresses(rng: np.random.Generator, city_names: np.ndarray, provinces: np.ndarray) -> np.ndarray:
    """``<province>省<city>市<district><street><n>号<compound><n>栋<n>室`` in the customer's city."""
    n = len(city_names)
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
    brands = np.array(["阳光", "翠湖", "金色", "锦绣", "碧水", "万科", "绿地", "恒大"])
    addr = np.char.add(np.char.add(addr, brands[rng.integers(0, 8, n)]), compounds)
    addr = np.char.add(addr, np.char.add(rng.integers(1, 30, n).astype("U2"), "栋"))
    return np.char.add(addr, np.char.add(rng.integers(101, 2800, n).astype("U4"), "室"))


def _online(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A QQ-style e-mail for ~35 %, a WeChat openid for ~62 %."""
    has_email = rng.random(n) < 0.35
    email_dom = np.array(["qq.com", "163.com", "126.com", "sina.com", "foxmail.com"])[
        choice(rng, np.array([5, 3, 1, 0.5, 0.5]), n)]
    qq = rng.integers(10**7, 3 * 10**9, n).astype("U10")
    email = np.where(has_email, np.char.add(np.char.add(qq, "@"), email_dom), None).astype(object)
    has_wx = rng.random(n) < 0.62
    alphabet = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))
    openid_chars = alphabet[rng.integers(0, 64, (n, 27))]
    openid = np.char.add("o", openid_chars.view("U27").ravel())
    return email, np.where(has_wx, openid, None).astype(object)


def draw_relationship(rng: np.random.Generator, ctx: Context, people: People,
                      as_of: np.datetime64) -> Relationship:
    """A branch in the customer's city; a manager for the wealthy (VIPs get the senior ones);
    the opening date after the 18th birthday, skewed to the boom years."""
    tier, city, n = people.tier, people.city, len(people.tier)
    branch_idx = np.empty(n, dtype=np.int64)
    for k in np.unique(city):
        m = city == k
        opts = ctx.branch_of_city[k]
        branch_idx[m] = opts[rng.integers(0, len(opts), m.sum())]
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
    years_since = np.minimum(rng.exponential(np.array([4.0, 7.0, 9.0, 10.0])[tier]), people.age - 18.2)
    opened = as_of - (np.maximum(years_since, 0.02) * 365.25).astype("timedelta64[D]")
    opened = np.maximum(opened, np.datetime64("1998-01-05"))
    return Relationship(ctx.branch_codes[branch_idx], np.where(manager >= 0, manager, None).astype(object),
                        opened, (as_of - opened).astype(np.int64) / 365.25)


def draw_assessment(rng: np.random.Generator, people: People, rel: Relationship,
                    as_of: np.datetime64) -> Assessment:
    """C1-C5 (bolder when young or wealthy), valid two years; professional investors: 500 万
    and two years with the broker, half of those eligible."""
    tier, age, n = people.tier, people.age, len(people.tier)
    rw = np.tile(np.array([0.05, 0.16, 0.40, 0.27, 0.12]), (n, 1))
    rw[:, 3:] *= np.where(age < 40, 1.5, np.where(age > 60, 0.6, 1.0))[:, None]
    rw[:, :2] *= np.where(age > 60, 1.8, 1.0)[:, None]
    rw[:, 3:] *= np.array([1.0, 1.3, 1.6, 1.7])[tier][:, None]
    level = row_choice(rng, rw)
    score = _scores(rng, level)
    assessed = as_of - rng.integers(0, 800, n).astype("timedelta64[D]")
    assessed = np.maximum(assessed, rel.opened)
    valid_until = assessed + np.timedelta64(730, "D")
    valid = valid_until >= as_of
    prev = rng.random(n) < 0.35
    prev_level = np.clip(level[prev] + rng.integers(-1, 2, prev.sum()), 0, 4)
    prev_assessed = assessed[prev] - rng.integers(400, 1100, prev.sum()).astype("timedelta64[D]")
    prev_assessed = np.maximum(prev_assessed, rel.opened[prev])
    prev_score = _scores(rng, prev_level)
    professional = (people.aum >= 5_000_000) & (rel.years_open >= 2) & (rng.random(n) < 0.5)
    return Assessment(level, score, assessed, valid_until,
                      np.where(valid, RISK_LEVELS[level], None).astype(object),
                      np.where(valid, level, -1), prev, prev_level, prev_score, prev_assessed,
                      professional)


def _scores(rng: np.random.Generator, level: np.ndarray) -> np.ndarray:
    """A questionnaire score within each level's band."""
    lo = np.array([b[0] for b in SCORE_BANDS])[level]
    hi = np.array([b[1] for b in SCORE_BANDS])[level]
    return lo + (rng.random(len(level)) * (hi - lo + 1)).astype(np.int64)
