"""The vectorised evaluator: one market snapshot against every holding and margin account at once.

Holdings are columnar: parallel arrays of positions (account row, symbol column, quantity, cost),
a CSC-style index by symbol (so a symbol that moves finds its holders by slicing), and sparse
matrices of the margin accounts' holdings (so every collateral ratio is one sparse mat-vec).
Nothing loops over accounts in Python; Python only touches the handful of positions that fired.

Per symbol, the market state keeps one-minute buckets of the high and low price over the longest
alert window, so "moved X % within Y minutes" is a max/min over the last Y buckets:
a rise is ``price / min - 1`` and a fall ``price / max - 1`` over the window (current minute
included). The state advances only with snapshot times, never the wall clock, so a replay or a
restarted worker reaches the same decisions as a live run.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
from scipy import sparse

from brokercare.accounts.service import maintenance_ratio
from brokercare.core.calendar import SHANGHAI
from brokercare.core.metrics import SNAPSHOT_EVALUATION
from brokercare.monitoring.forecast import (
    TRADING_MINUTES_PER_DAY,
    RiskModel,
    crossing_probability,
    portfolio_vol,
    session_fraction,
)

RULE_MOVE_UP = 0
RULE_MOVE_DOWN = 1
RULE_LIMIT_UP = 2
RULE_LIMIT_DOWN = 3
RULE_VOLUME = 4
RULE_NAMES = ("move_up", "move_down", "limit_up", "limit_down", "volume_spike")

ZONE_SAFE, ZONE_WARNING, ZONE_LIQUIDATION = 0, 1, 2
MAX_WINDOW_MIN = 60


@dataclass
class Book:
    """Columnar holdings of a set of accounts over a fixed symbol universe."""

    symbols: np.ndarray  # (n_sym,) str
    names: np.ndarray  # (n_sym,) str, Chinese short names
    account_ids: np.ndarray  # (n_acc,) int64
    customer_ids: np.ndarray  # (n_acc,) int64
    pos_account: np.ndarray  # (n_pos,) int32 row into account arrays
    pos_symbol: np.ndarray  # (n_pos,) int32 column into symbol arrays
    qty: np.ndarray  # (n_pos,) float64
    cost: np.ndarray  # (n_pos,) float64
    # per-account alert parameters (from each customer's rules, defaults filled in)
    move_pct: np.ndarray  # (n_acc,) float64, e.g. 0.05
    window_min: np.ndarray  # (n_acc,) int16, e.g. 10
    volume_ratio: np.ndarray  # (n_acc,) float64, e.g. 3.0; inf disables
    limit_alerts: np.ndarray  # (n_acc,) bool
    # margin accounts: rows into the account arrays, and their contract terms
    margin_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    margin_cash: np.ndarray = field(default_factory=lambda: np.zeros(0))
    margin_debt: np.ndarray = field(default_factory=lambda: np.zeros(0))  # fixed part (融资 + 利息)
    # securities lending (融券): shares each margin row owes per symbol; that part of the liabilities
    # is re-priced on every snapshot (shares owed x current price)
    short_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # margin rows
    short_symbol: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    short_qty: np.ndarray = field(default_factory=lambda: np.zeros(0))
    warning_line: np.ndarray = field(default_factory=lambda: np.zeros(0))
    liquidation_line: np.ndarray = field(default_factory=lambda: np.zeros(0))
    withdrawal_line: np.ndarray = field(default_factory=lambda: np.zeros(0))
    topup_days: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    contract_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        self.reindex()

    @property
    def n_sym(self) -> int:
        return len(self.symbols)

    def reindex(self) -> None:
        """Rebuild the by-symbol index and the margin matrices after positions were added."""
        order = np.argsort(self.pos_symbol, kind="stable")
        self.by_symbol = order.astype(np.int64)
        # rule parameters per position in by-symbol order: a moving symbol's holders are then
        # one contiguous slice, with no random gathers over the account arrays
        acc = self.pos_account[order]
        self.sorted_move_pct = self.move_pct[acc].astype(np.float32)
        self.sorted_window = self.window_min[acc].astype(np.int16)
        counts = np.bincount(self.pos_symbol, minlength=self.n_sym)
        self.sym_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.symbol_index = {s: i for i, s in enumerate(self.symbols)}
        self.reindex_margin()

    def reindex_margin(self) -> None:
        row_of = np.full(len(self.account_ids), -1, np.int64)
        row_of[self.margin_rows] = np.arange(len(self.margin_rows))
        mrow = row_of[self.pos_account]
        sel = mrow >= 0
        shape = (len(self.margin_rows), self.n_sym)
        self.margin_holdings = sparse.csr_matrix(
            (self.qty[sel], (mrow[sel], self.pos_symbol[sel])), shape=shape
        )
        self.margin_holdings_sq = self.margin_holdings.multiply(self.margin_holdings).tocsr()
        self.margin_of_account = row_of
        self.margin_shorts = sparse.csr_matrix(
            (self.short_qty, (self.short_rows, self.short_symbol)), shape=shape
        )

    def nbytes(self) -> int:
        arrays = [v for v in vars(self).values() if isinstance(v, np.ndarray)]
        total = sum(a.nbytes for a in arrays)
        for m in (self.margin_holdings, self.margin_holdings_sq, self.margin_shorts):
            total += m.data.nbytes + m.indices.nbytes + m.indptr.nbytes
        return total

    def set_position(self, account_row: int, symbol_col: int, qty: float, cost: float) -> bool:
        """Apply one account event (a trade or transfer changed a position).

        Returns True when a new position was appended (the caller's evaluator must grow).
        """
        hit = np.flatnonzero((self.pos_account == account_row) & (self.pos_symbol == symbol_col))
        if hit.size:
            self.qty[hit[0]] = qty
            self.cost[hit[0]] = cost
            if self.margin_of_account[account_row] >= 0:
                self.reindex_margin()
            return False
        self.pos_account = np.append(self.pos_account, np.int32(account_row))
        self.pos_symbol = np.append(self.pos_symbol, np.int32(symbol_col))
        self.qty = np.append(self.qty, qty)
        self.cost = np.append(self.cost, cost)
        self.reindex()
        return True

    def row_of_account(self, account_id: int) -> int | None:
        """Row of an account id (account ids are kept sorted), None if not in this book."""
        k = int(np.searchsorted(self.account_ids, account_id))
        if k < len(self.account_ids) and self.account_ids[k] == account_id:
            return k
        return None

    def liabilities(self, prices: np.ndarray) -> np.ndarray:
        """Each margin row's liabilities at ``prices``: the fixed part plus shares owed at market."""
        return self.margin_debt + self.margin_shorts @ prices

    def set_cash(self, account_row: int, cash: float) -> None:
        m = self.margin_of_account[account_row]
        if m >= 0:
            self.margin_cash[m] = cash


@dataclass
class Snapshot:
    """Level-1 prices and cumulative day volumes of the whole universe at one moment."""

    time: datetime
    prices: np.ndarray  # (n_sym,) NaN = no quote (suspended)
    volumes: np.ndarray  # (n_sym,) cumulative shares traded today


@dataclass
class MarketInfo:
    """Per-symbol reference data for one trading day."""

    day: date
    prev_close: np.ndarray
    limit_up: np.ndarray  # NaN = no limit
    limit_down: np.ndarray
    avg_volume_20d: np.ndarray  # NaN = unknown
    model: RiskModel  # session units (intraday model) when variance_curve is set
    # share of the session's variance accrued by each trading minute; None = uniform over 240
    variance_curve: np.ndarray | None = None


@dataclass
class Findings:
    time: datetime
    # holding alerts (after de-duplication)
    positions: np.ndarray  # indices into the book's position arrays
    rules: np.ndarray  # RULE_* per alert
    change: np.ndarray  # change over the window (moves) or since the previous close
    window: np.ndarray  # window minutes (moves), 0 otherwise
    reference: np.ndarray  # the window's reference price (max for falls, min for rises)
    # margin
    ratio: np.ndarray  # (n_margin,) maintenance collateral ratio, NaN without liabilities
    liabilities: np.ndarray  # (n_margin,) at this snapshot's prices (short positions re-priced)
    crossings: np.ndarray  # margin rows whose zone worsened on this snapshot
    zones: np.ndarray  # their new zone
    forecast_rows: np.ndarray  # margin rows whose crossing probability passed the threshold
    forecast_line: np.ndarray  # ZONE_WARNING or ZONE_LIQUIDATION: the line that may be crossed
    forecast_prob: np.ndarray

    @property
    def count(self) -> int:
        return len(self.positions) + len(self.crossings) + len(self.forecast_rows)


class _Hits:
    """Holding alerts of one snapshot, gathered rule by rule as parallel array parts."""

    def __init__(self) -> None:
        self.positions: list[np.ndarray] = []
        self.rules: list[np.ndarray] = []
        self.change: list[np.ndarray] = []
        self.window: list[np.ndarray] = []
        self.reference: list[np.ndarray] = []

    def add(
        self, pos: np.ndarray, rule: int, change: np.ndarray, window: int, reference: np.ndarray
    ) -> None:
        self.positions.append(pos)
        self.rules.append(np.full(pos.size, rule, np.int8))
        self.change.append(change)
        self.window.append(np.full(pos.size, window, np.int16))
        self.reference.append(reference)

    @staticmethod
    def cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)


def trading_minute(moment: datetime) -> int:
    """Minutes of continuous trading elapsed today (0 before 09:30, 120 over lunch, 240 after)."""
    local = moment.astimezone(SHANGHAI)
    m = local.hour * 60 + local.minute
    if m < 570:
        return 0
    if m < 690:
        return m - 570
    if m < 780:
        return 120
    return min(120 + m - 780, TRADING_MINUTES_PER_DAY)


class Evaluator:
    """Holds the market state of one trading day and evaluates snapshots against a :class:`Book`."""

    def __init__(
        self,
        book: Book,
        info: MarketInfo,
        *,
        forecast_threshold: float = 0.5,
        forecast_horizon_min: int = 60,
        volume_min_minutes: int = 15,
    ) -> None:
        self.book = book
        self.info = info
        self.forecast_threshold = forecast_threshold
        self.forecast_horizon_min = forecast_horizon_min
        self.volume_min_minutes = volume_min_minutes
        n = book.n_sym
        self.hi = np.full((MAX_WINDOW_MIN, n), np.nan)  # ring of per-minute highs
        self.lo = np.full((MAX_WINDOW_MIN, n), np.nan)
        self.minute_of_slot = np.full(MAX_WINDOW_MIN, -1, np.int64)
        self.last_price = info.prev_close.copy()
        self.windows = np.unique(book.window_min).astype(np.int64)
        if self.windows.size and (self.windows.max() > MAX_WINDOW_MIN or self.windows.min() < 1):
            raise ValueError(f"alert windows must be 1..{MAX_WINDOW_MIN} minutes")
        npos = len(book.qty)
        self.move_until = np.full((2, npos), -np.inf)  # per direction: suppressed until (epoch s)
        self.fired_today = np.zeros((3, npos), bool)  # limit-up, limit-down, volume: once a day
        nm = len(book.margin_rows)
        self.zone = np.zeros(nm, np.int8)
        self.forecast_armed = np.ones((2, nm), bool)
        self.snapshots = 0

    # market state -----------------------------------------------------------------------------
    def _absorb(self, snap: Snapshot) -> None:
        minute = int(snap.time.timestamp() // 60)
        slot = minute % MAX_WINDOW_MIN
        p = snap.prices
        if self.minute_of_slot[slot] != minute:
            self.minute_of_slot[slot] = minute
            self.hi[slot] = p
            self.lo[slot] = p
        else:
            np.fmax(self.hi[slot], p, out=self.hi[slot])
            np.fmin(self.lo[slot], p, out=self.lo[slot])
        ok = ~np.isnan(p)
        self.last_price[ok] = p[ok]

    def window_extremes(self, now_minute: int, window: int) -> tuple[np.ndarray, np.ndarray]:
        recent = (self.minute_of_slot > now_minute - window) & (self.minute_of_slot <= now_minute)
        if not recent.any():
            nan = np.full(self.book.n_sym, np.nan)
            return nan, nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmax(self.hi[recent], axis=0), np.nanmin(self.lo[recent], axis=0)

    # evaluation -------------------------------------------------------------------------------
    def evaluate(self, snap: Snapshot) -> Findings:
        with SNAPSHOT_EVALUATION.time():
            return self._evaluate(snap)

    def _evaluate(self, snap: Snapshot) -> Findings:
        self._absorb(snap)
        self.snapshots += 1
        now = snap.time.timestamp()
        quoted = ~np.isnan(snap.prices)
        hits = _Hits()
        self._moves(hits, now, quoted)
        self._limits(hits, quoted)
        self._volumes(hits, snap)
        ratio, debt, crossings, zones, f_rows, f_line, f_prob = self._margin(snap, self.last_price)
        return Findings(
            time=snap.time,
            positions=hits.cat(hits.positions, np.int64),
            rules=hits.cat(hits.rules, np.int8),
            change=hits.cat(hits.change, np.float64),
            window=hits.cat(hits.window, np.int16),
            reference=hits.cat(hits.reference, np.float64),
            ratio=ratio,
            liabilities=debt,
            crossings=crossings,
            zones=zones,
            forecast_rows=f_rows,
            forecast_line=f_line,
            forecast_prob=f_prob,
        )

    def _moves(self, hits: _Hits, now: float, quoted: np.ndarray) -> None:
        """Moves within each customer's window: symbol-level first, then only their holders."""
        book, price = self.book, self.last_price
        min_pct = float(book.move_pct.min()) if len(book.move_pct) else np.inf
        for window in self.windows:
            hi, lo = self.window_extremes(int(now // 60), int(window))
            with np.errstate(divide="ignore", invalid="ignore"):
                rise = np.where(quoted, price / lo - 1.0, 0.0)
                fall = np.where(quoted, price / hi - 1.0, 0.0)
            for direction, move, ref in ((0, rise, lo), (1, fall, hi)):
                mag = np.abs(move)
                cand = np.flatnonzero(np.nan_to_num(mag) >= min_pct)
                if cand.size == 0:
                    continue
                idx = _slots_of(book, cand)  # indices into the by-symbol order
                sym = book.pos_symbol[book.by_symbol[idx]]
                ok = (book.sorted_window[idx] == window) & (mag[sym] >= book.sorted_move_pct[idx])
                pos = book.by_symbol[idx[ok]]
                pos = pos[(self.move_until[direction, pos] <= now) & (book.qty[pos] > 0)]
                if pos.size:
                    self.move_until[direction, pos] = now + window * 60
                    sym = book.pos_symbol[pos]
                    hits.add(pos, RULE_MOVE_UP + direction, move[sym], window, ref[sym])

    def _limits(self, hits: _Hits, quoted: np.ndarray) -> None:
        """Limit-up / limit-down touches, once a day per holding."""
        book, info, price = self.book, self.info, self.last_price
        for k, (rule, limit, cmp) in enumerate(
            (
                (RULE_LIMIT_UP, info.limit_up, np.greater_equal),
                (RULE_LIMIT_DOWN, info.limit_down, np.less_equal),
            )
        ):
            with np.errstate(invalid="ignore"):
                touched = np.flatnonzero(
                    quoted & ~np.isnan(limit) & cmp(price, limit - 1e-9 if k == 0 else limit + 1e-9)
                )
            if touched.size == 0:
                continue
            pos = _positions_of(book, touched)
            ok = (
                book.limit_alerts[book.pos_account[pos]]
                & ~self.fired_today[k, pos]
                & (book.qty[pos] > 0)
            )
            pos = pos[ok]
            if pos.size:
                self.fired_today[k, pos] = True
                sym = book.pos_symbol[pos]
                hits.add(
                    pos, rule, price[sym] / info.prev_close[sym] - 1.0, 0, info.prev_close[sym]
                )

    def _volumes(self, hits: _Hits, snap: Snapshot) -> None:
        """Volume spikes: today's volume against the 20-day average scaled to the elapsed session."""
        book, info = self.book, self.info
        elapsed = trading_minute(snap.time)
        if elapsed < self.volume_min_minutes or not len(book.volume_ratio):
            return
        expected = info.avg_volume_20d * (elapsed / TRADING_MINUTES_PER_DAY)
        with np.errstate(divide="ignore", invalid="ignore"):
            vratio = np.where(expected > 0, snap.volumes / expected, np.nan)
        cand = np.flatnonzero(np.nan_to_num(vratio) >= float(book.volume_ratio.min()))
        if not cand.size:
            return
        pos = _positions_of(book, cand)
        acc = book.pos_account[pos]
        sym = book.pos_symbol[pos]
        ok = (
            (vratio[sym] >= book.volume_ratio[acc])
            & ~self.fired_today[2, pos]
            & (book.qty[pos] > 0)
        )
        pos = pos[ok]
        if pos.size:
            self.fired_today[2, pos] = True
            sym = book.pos_symbol[pos]
            hits.add(pos, RULE_VOLUME, vratio[sym], 0, info.avg_volume_20d[sym])

    def _margin(self, snap: Snapshot, price: np.ndarray):
        book = self.book
        nm = len(book.margin_rows)
        empty_i = np.zeros(0, np.int64)
        if nm == 0:
            return (
                np.zeros(0),
                np.zeros(0),
                empty_i,
                np.zeros(0, np.int8),
                empty_i,
                np.zeros(0, np.int8),
                np.zeros(0),
            )
        px = np.nan_to_num(price, nan=0.0)
        stock, vol = portfolio_vol(
            book.margin_holdings, book.margin_holdings_sq, px, self.info.model
        )
        debt = book.liabilities(px)
        ratio = maintenance_ratio(book.margin_cash + stock, debt)
        zone = np.where(
            ratio < book.liquidation_line,
            ZONE_LIQUIDATION,
            np.where(ratio < book.warning_line, ZONE_WARNING, ZONE_SAFE),
        ).astype(np.int8)
        worse = np.flatnonzero(zone > self.zone)
        self.zone = zone
        # forecast: next line below the current ratio, over the rest of the horizon in today's
        # session, as the share of the session's variance those minutes carry
        elapsed = trading_minute(snap.time)
        horizon = session_fraction(
            self.info.variance_curve, elapsed, elapsed + self.forecast_horizon_min
        )
        rows, lines, probs = [], [], []
        if horizon > 0:
            for k, (line, zone_needed) in enumerate(
                ((book.warning_line, ZONE_SAFE), (book.liquidation_line, ZONE_WARNING))
            ):
                p = crossing_probability(stock, vol, book.margin_cash, debt, line, horizon)
                at_zone = zone == zone_needed
                fire = np.flatnonzero(
                    at_zone & (p >= self.forecast_threshold) & self.forecast_armed[k]
                )
                # re-arm once the probability has fallen well below the threshold
                rearm = at_zone & (p < self.forecast_threshold / 2)
                self.forecast_armed[k, rearm] = True
                if fire.size:
                    self.forecast_armed[k, fire] = False
                    rows.append(fire)
                    lines.append(np.full(fire.size, k + 1, np.int8))
                    probs.append(p[fire])
        cat = np.concatenate
        return (
            ratio,
            debt,
            worse,
            zone[worse],
            cat(rows) if rows else empty_i,
            cat(lines) if lines else np.zeros(0, np.int8),
            cat(probs) if probs else np.zeros(0),
        )

    def grow(self) -> None:
        """Extend per-position state after the book appended positions."""
        extra = len(self.book.qty) - self.move_until.shape[1]
        if extra > 0:
            self.move_until = np.concatenate(
                [self.move_until, np.full((2, extra), -np.inf)], axis=1
            )
            self.fired_today = np.concatenate(
                [self.fired_today, np.zeros((3, extra), bool)], axis=1
            )

    # restart support --------------------------------------------------------------------------
    def warm(self, snap: Snapshot) -> None:
        """Feed a snapshot that was already evaluated before a restart: state only, no findings."""
        self.evaluate(snap)

    def suppress(self, pos: int, rule: int, until_or_today: float) -> None:
        """Seed de-duplication from alerts recorded before a restart."""
        if rule in (RULE_MOVE_UP, RULE_MOVE_DOWN):
            self.move_until[rule, pos] = max(self.move_until[rule, pos], until_or_today)
        elif rule == RULE_LIMIT_UP:
            self.fired_today[0, pos] = True
        elif rule == RULE_LIMIT_DOWN:
            self.fired_today[1, pos] = True
        else:
            self.fired_today[2, pos] = True


def _slots_of(book: Book, symbols: np.ndarray) -> np.ndarray:
    """Slots (indices into ``book.by_symbol``) of every position in ``symbols``."""
    starts = book.sym_ptr[symbols]
    lengths = book.sym_ptr[symbols + 1] - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return np.arange(total, dtype=np.int64) + offsets


def _positions_of(book: Book, symbols: np.ndarray) -> np.ndarray:
    """Indices of every position in ``symbols`` (via the by-symbol index; no scan of all positions)."""
    return book.by_symbol[_slots_of(book, symbols)]
