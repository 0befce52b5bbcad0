"""Vectorised draws the generator's sections share: weighted choices, heavy tails, times of day."""

from __future__ import annotations

import numpy as np

SH_TZ_OFFSET = np.timedelta64(8, "h")
# Beijing-time sessions (seconds after midnight) in which things happen.
TRADING_SESSIONS = ((9 * 3600 + 30 * 60, 11 * 3600 + 30 * 60), (13 * 3600, 15 * 3600 - 180))
BANK_HOURS = ((9 * 3600, 16 * 3600),)
APP_HOURS = ((7 * 3600, 12 * 3600), (12 * 3600, 18 * 3600), (18 * 3600, 23 * 3600 + 59 * 60))


def fen(x: np.ndarray) -> np.ndarray:
    """Round 元 amounts to fen half-up, as statements do (``np.round`` rounds half to even)."""
    return np.floor(np.asarray(x) * 100 + 0.5 + 1e-7) / 100


def starts_with(values: np.ndarray, prefixes: tuple[str, ...]) -> np.ndarray:
    """Element-wise ``str.startswith`` with several prefixes."""
    out = np.zeros(len(values), dtype=bool)
    for prefix in prefixes:
        out |= np.char.startswith(values, prefix)
    return out


def choice(rng: np.random.Generator, weights: np.ndarray, n: int) -> np.ndarray:
    """``n`` category indexes drawn with the given (unnormalised) weights."""
    c = np.cumsum(weights)
    return np.minimum(np.searchsorted(c / c[-1], rng.random(n)), len(weights) - 1)


def row_choice(rng: np.random.Generator, w: np.ndarray) -> np.ndarray:
    """One category per row of a weight matrix (rows need not be normalised)."""
    c = np.cumsum(w, axis=1)
    u = rng.random(len(w)) * c[:, -1]
    return np.minimum((c < u[:, None]).sum(axis=1), w.shape[1] - 1)


def truncated_pareto(rng: np.random.Generator, lo: float, hi: float, alpha: float, n: int) -> np.ndarray:
    u = rng.random(n)
    a, b = lo ** -alpha, hi ** -alpha
    return (a - u * (a - b)) ** (-1.0 / alpha)


def group_normalise(weights: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Weights scaled to sum to 1 within each group (e.g. a customer's positions)."""
    sums = np.bincount(groups, weights, minlength=n_groups)
    return weights / np.where(sums[groups] > 0, sums[groups], 1.0)


def local_times(rng: np.random.Generator, days: np.ndarray,
                sessions: tuple[tuple[int, int], ...]) -> np.ndarray:
    """UTC timestamps on ``days`` at a random second within one of the Beijing-time sessions."""
    lengths = np.array([e - s for s, e in sessions], dtype=np.float64)
    which = choice(rng, lengths, len(days))
    starts = np.array([s for s, _ in sessions])[which]
    secs = starts + (rng.random(len(days)) * lengths[which]).astype(np.int64)
    return days.astype("datetime64[s]") + secs.astype("timedelta64[s]") - SH_TZ_OFFSET


def next_trading_day(days: np.ndarray, when: np.ndarray) -> np.ndarray:
    """The first of the (sorted) trading ``days`` on or after each date (the last one at most)."""
    return days[np.minimum(np.searchsorted(days, when), len(days) - 1)]
