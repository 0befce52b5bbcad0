"""Customers who leave during the demo year, so the churn model (quality/churn.py) has something
learnable to find — and noise, as real history has.

About 12 % of the customers with 2 万元 or more (traders twice as often) pick a day to leave: on it
they transfer most of their money out and are not seen in the app again. Three in four fade first
(their app use thins out over the 120 days before, and most of those move a first part out a few
weeks early); the rest
leave without warning. One stayer in ten goes through a quiet spell of two months without
leaving, which looks like fading to anyone watching the logins alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brokercare.demo.context import Context
from brokercare.demo.people import People, Relationship
from brokercare.demo.sampling import next_trading_day

LEAVE_SHARE = 0.12  # of the customers with 2 万元 or more, over the year
FADE = 120  # days of thinning logins before a fading leaver leaves
LULL = 60  # days of a stayer's quiet spell


@dataclass
class Leavers:
    leave_day: np.ndarray  # datetime64[D], NaT for those who stay
    fading: np.ndarray  # bool: logins thin out before leaving
    probe: np.ndarray  # bool: a first part moved out weeks before
    lull_start: np.ndarray  # datetime64[D], NaT without a quiet spell

    @property
    def leaves(self) -> np.ndarray:
        return ~np.isnat(self.leave_day)


def draw_leavers(rng: np.random.Generator, people: People, rel: Relationship, traders: np.ndarray,
                 as_of: np.datetime64) -> Leavers:
    """Who leaves when (traders twice as likely as the average, the others half as likely)."""
    n = len(people.aum)
    day = as_of - rng.integers(10, 330, n).astype("timedelta64[D]")
    odds = LEAVE_SHARE * np.where(traders, 2.0, 0.5)
    leaves = (people.aum >= 20_000) & (rng.random(n) < odds) & (day >= rel.opened + np.timedelta64(120, "D"))
    fading = leaves & (rng.random(n) < 0.75)
    probe = fading & (rng.random(n) < 0.7)
    lull = ~leaves & (rng.random(n) < 0.10)
    lull_day = as_of - rng.integers(LULL, 365, n).astype("timedelta64[D]")
    nat = np.datetime64("NaT", "D")
    return Leavers(np.where(leaves, day, nat), fading, probe, np.where(lull, lull_day, nat))


def keep_behaviour(rng: np.random.Generator, leavers: Leavers, cust: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Which app events happen: none after leaving, fewer and fewer while fading, a third during
    a stayer's quiet spell."""
    leave, lull = leavers.leave_day[cust], leavers.lull_start[cust]
    to_leave = (leave - day).astype(float)  # days; NaN for stayers
    keep_p = np.ones(len(cust))
    fading = leavers.fading[cust] & (to_leave > 0) & (to_leave <= FADE)
    keep_p = np.where(fading, 0.05 + 0.95 * (to_leave / FADE) ** 2, keep_p)
    in_lull = (day >= lull) & (day < lull + np.timedelta64(LULL, "D"))
    keep_p = np.where(in_lull, 0.35, keep_p)
    gone = ~np.isnat(leave) & (day >= leave)
    return ~gone & (rng.random(len(cust)) < keep_p)


def leaving_transfers(rng: np.random.Generator, ctx: Context, people: People,
                      leavers: Leavers) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The money leavers take: 60–100 % of it on the day they leave, and for some a first
    10–30 % 15–50 days before. Customer index, amount (元, positive) and day of each transfer out."""
    who = np.nonzero(leavers.leaves)[0]
    early = who[leavers.probe[who]]
    amount = np.concatenate([people.aum[who] * rng.uniform(0.6, 1.0, len(who)),
                             people.aum[early] * rng.uniform(0.1, 0.3, len(early))])
    day = np.concatenate([leavers.leave_day[who],
                          leavers.leave_day[early] - rng.integers(15, 50, len(early)).astype("timedelta64[D]")])
    day = next_trading_day(ctx.days, day)
    return np.concatenate([who, early]), np.round(amount / 100) * 100, day
