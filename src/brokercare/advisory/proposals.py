"""Rebalancing proposals for every customer: drift from the model, then lot-, T+1-, cash-, fee- and
suitability-aware trades.

The engine is a pure function over one partition of columnar holdings (``Partition``) and a shared,
read-only ``Context`` (instrument table, model weights, rules). The same function runs in a loop,
a process pool or on a Dask cluster (``run_batch(..., client=...)``); nothing in it touches the
database or global state, and every step is vectorised over all customers of the partition.

Rules applied (A-share practice, see ``data/trading_rules.yaml``):
- sells only from ``available_quantity`` (T+1: shares bought today cannot be sold today);
- main board / ChiNext / ETFs sell in lots of 100, an odd-lot remainder only by selling it all;
  STAR at least 200 shares then any whole number; OTC fund units to 0.01;
- buys in whole lots of the class's vehicle ETF, paid from cash plus same-day sale proceeds
  (usable for buying at once in A-shares), keeping a cash reserve;
- fees: commission at the account's rate with a 5 元 minimum (exchange trades), stamp duty 0.05 %
  on stock sales only, transfer fee 0.001 % on SH/SZ stock trades (funds and ETFs exempt);
  a trade whose fees exceed ``max_fee_ratio`` of its value is dropped;
- suitability: a buy is only proposed when ``suitability.check`` allows the vehicle's risk for
  the customer's level; customers without a valid assessment get no trades, only a re-test prompt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml

from brokercare.advisory import catalogue, portfolios
from brokercare.advisory.portfolio_config import config
from brokercare.advisory.suitability import LEVELS, RISKS, check

RULES_PATH = Path(__file__).parent / "data" / "trading_rules.yaml"

# Per-customer status codes.
OK, REBALANCE, REASSESS, EMPTY, SMALL = 0, 1, 2, 3, 4
STATUS_NAMES = {OK: "on_target", REBALANCE: "rebalance", REASSESS: "reassess", EMPTY: "no_assets",
                SMALL: "below_minimum"}


@lru_cache
def trading_rules() -> dict:
    with open(RULES_PATH, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@dataclass
class Context:
    """Everything shared by all partitions (broadcast once to Dask workers)."""

    classes: list[str]
    symbols: np.ndarray  # (m,) instrument symbols
    asset_class: np.ndarray  # (m,) int8, index into classes, -1 = outside the models (kept as is)
    price: np.ndarray  # (m,) float64 reference price
    min_qty: np.ndarray  # (m,) smallest order
    step: np.ndarray  # (m,) order increment above the minimum
    stamp: np.ndarray  # (m,) bool, stamp duty on sells
    transfer: np.ndarray  # (m,) bool, transfer fee
    exchange_traded: np.ndarray  # (m,) bool, commission applies
    risk: np.ndarray  # (m,) int8 1..5
    vehicles: np.ndarray  # (K,) instrument index used to buy each class
    weights: np.ndarray  # (5, K) model weights by level
    allowed: np.ndarray  # (5, 6) bool: level may buy risk r (index 1..5) without a warning
    band: float = 0.05
    cash_reserve: float = 1000.0
    min_total: float = 5000.0
    max_fee_ratio: float = 0.005
    rules: dict = field(default_factory=dict)


@dataclass
class Partition:
    """Customers and their holdings in CSR form: holdings of customer i are rows offsets[i]:offsets[i+1]."""

    customer_id: np.ndarray  # (n,) int64
    level: np.ndarray  # (n,) int8, 0..4 = C1..C5, -1 = no valid assessment
    cash: np.ndarray  # (n,) float64 available cash
    commission_rate: np.ndarray  # (n,) float64
    offsets: np.ndarray  # (n+1,) int64
    inst: np.ndarray  # (h,) int32 instrument index
    qty: np.ndarray  # (h,) float64
    available: np.ndarray  # (h,) float64 sellable today

    def __len__(self) -> int:
        return len(self.customer_id)

    def slice(self, start: int, stop: int) -> Partition:
        a, b = int(self.offsets[start]), int(self.offsets[stop])
        return Partition(
            self.customer_id[start:stop], self.level[start:stop], self.cash[start:stop],
            self.commission_rate[start:stop], self.offsets[start : stop + 1] - a,
            self.inst[a:b], self.qty[a:b], self.available[a:b],
        )


@dataclass
class Proposals:
    """Columnar result for one partition."""

    customer_id: np.ndarray  # (n,)
    status: np.ndarray  # (n,) int8
    total: np.ndarray  # (n,) total assets incl. cash
    current: np.ndarray  # (n, K) current class weights (cash counted as money)
    target: np.ndarray  # (n, K) model weights
    drift: np.ndarray  # (n,) max absolute class drift
    blocked: np.ndarray  # (n, K) underweight classes whose vehicle fails the suitability check
    # trades, one row each
    t_customer: np.ndarray
    t_inst: np.ndarray
    t_side: np.ndarray  # +1 buy, -1 sell
    t_qty: np.ndarray
    t_amount: np.ndarray
    t_fee: np.ndarray

    @staticmethod
    def concat(parts: list[Proposals]) -> Proposals:
        return Proposals(*[np.concatenate([getattr(p, f) for p in parts]) for f in Proposals.__dataclass_fields__])

    def trades_of(self, customer_id: int) -> np.ndarray:
        return np.flatnonzero(self.t_customer == customer_id)


def _step_floor(q: np.ndarray, min_qty: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Round a wanted quantity down to what the exchange accepts (0 below the minimum)."""
    q = np.floor(q / step + 1e-9) * step
    return np.where(q + 1e-9 >= min_qty, q, 0.0)


def fees(amount: np.ndarray, sell: np.ndarray, rate: np.ndarray, stamp: np.ndarray,
         transfer: np.ndarray, exchange: np.ndarray, rules: dict) -> np.ndarray:
    commission = np.where(exchange, np.maximum(amount * rate, rules["commission_min"]), 0.0)
    stamp_duty = np.where(sell & stamp, amount * rules["stamp_duty_sell"], 0.0)
    transfer_fee = np.where(transfer, amount * rules["transfer_fee"], 0.0)
    return np.round(commission + stamp_duty + transfer_fee, 2)


@dataclass
class _Book:
    """Where each customer of a partition stands: holdings by model class, totals, target, drift."""

    owner: np.ndarray  # (h,) row of each holding's customer
    price: np.ndarray  # (h,)
    hclass: np.ndarray  # (h,) model class of each holding, -1 outside the models
    slot: np.ndarray  # (h,) owner * K + class
    in_model: np.ndarray  # (h,)
    total: np.ndarray  # (n,)
    investable: np.ndarray  # (n,) total less holdings outside the models
    current: np.ndarray  # (n, K)
    target: np.ndarray  # (n, K)
    cls_value: np.ndarray  # (n, K)
    level: np.ndarray  # (n,)
    valid: np.ndarray  # (n,) a valid assessment
    drift: np.ndarray  # (n,)


def _book(part: Partition, ctx: Context) -> _Book:
    n, k = len(part), len(ctx.classes)
    owner = np.repeat(np.arange(n), np.diff(part.offsets))
    price = ctx.price[part.inst]
    value = part.qty * price
    hclass = ctx.asset_class[part.inst]
    in_model = hclass >= 0
    slot = owner * k + np.clip(hclass, 0, k - 1)
    cls_value = np.bincount(slot[in_model], weights=value[in_model], minlength=n * k).astype(np.float64).reshape(n, k)
    cls_value[:, ctx.classes.index("money")] += part.cash
    outside = np.bincount(owner[~in_model], weights=value[~in_model], minlength=n).astype(np.float64)
    total = cls_value.sum(axis=1) + outside
    safe_total = np.where(total > 0, total, 1.0)
    level = part.level.astype(np.int64)
    valid = level >= 0
    target = np.where(valid[:, None], ctx.weights[np.clip(level, 0, 4)], 0.0)
    investable = total - outside  # holdings outside the models are neither sold nor counted
    drift = np.where(valid, np.abs(cls_value / safe_total[:, None] - target * (investable / safe_total)[:, None]).max(axis=1), 0.0)
    return _Book(owner, price, hclass, slot, in_model, total, investable, cls_value / safe_total[:, None], target,
                 cls_value, level, valid, drift)


def _status(book: _Book, ctx: Context) -> np.ndarray:
    status = np.full(len(book.total), OK, dtype=np.int8)
    status[book.drift > ctx.band] = REBALANCE
    status[book.total < ctx.min_total] = SMALL
    status[book.total <= 0] = EMPTY
    status[~book.valid] = REASSESS
    return status


def _sells(part: Partition, ctx: Context, book: _Book, want: np.ndarray) -> tuple[np.ndarray, ...]:
    """Spread each overweight class over its sellable holdings, pro rata: quantity, amount, fee per
    holding, and each customer's proceeds."""
    n, k = len(part), len(ctx.classes)
    money = ctx.classes.index("money")
    over = np.clip(-want, 0.0, None)
    over[:, money] = np.clip(over[:, money] - np.clip(part.cash - ctx.cash_reserve, 0.0, None), 0.0, None)
    avail_value = part.available * book.price
    sellable = np.bincount(book.slot[book.in_model], weights=avail_value[book.in_model],
                           minlength=n * k).astype(np.float64).reshape(n, k)
    frac = np.divide(over, sellable, out=np.zeros_like(over), where=sellable > 0)
    frac = np.clip(frac, 0.0, 1.0)
    hfrac = np.where(book.in_model, frac[book.owner, np.clip(book.hclass, 0, k - 1)], 0.0)
    sell_qty = _step_floor(part.available * hfrac, ctx.min_qty[part.inst], ctx.step[part.inst])
    whole = hfrac >= 0.999  # selling everything sellable may include an odd lot
    sell_qty = np.where(whole & (hfrac > 0), part.available, sell_qty)
    sell_amount = sell_qty * book.price
    rate = part.commission_rate[book.owner]
    sell_fee = fees(sell_amount, np.ones_like(sell_qty, dtype=bool), rate, ctx.stamp[part.inst],
                    ctx.transfer[part.inst], ctx.exchange_traded[part.inst], ctx.rules)
    keep_sell = (sell_qty > 0) & (sell_fee <= ctx.max_fee_ratio * sell_amount)
    sell_qty = np.where(keep_sell, sell_qty, 0.0)
    sell_amount = np.where(keep_sell, sell_amount, 0.0)
    sell_fee = np.where(keep_sell, sell_fee, 0.0)
    proceeds = np.bincount(book.owner, weights=sell_amount - sell_fee, minlength=n).astype(np.float64)
    return sell_qty, sell_amount, sell_fee, proceeds


def _buys(part: Partition, ctx: Context, book: _Book, want: np.ndarray, act: np.ndarray,
          proceeds: np.ndarray) -> tuple[np.ndarray, ...]:
    """Whole lots of each underweight class's vehicle, within cash and suitability: quantity,
    amount and fee per customer and class, and the classes suitability kept from buying."""
    n = len(part)
    veh = ctx.vehicles
    vprice = ctx.price[veh]
    may_buy = ctx.allowed[np.clip(book.level, 0, 4)][:, ctx.risk[veh]] & book.valid[:, None]
    under = np.clip(want, 0.0, None) * may_buy
    blocked = (want > 0) & ~may_buy & act[:, None]
    budget = np.clip(part.cash + proceeds - ctx.cash_reserve, 0.0, None)
    need = under.sum(axis=1)
    scale = np.divide(budget, need, out=np.ones(n), where=need > budget)
    scale = np.clip(scale, 0.0, 1.0) * 0.998  # leave room for the buy fees
    buy_qty = _step_floor(under * scale[:, None] / vprice, ctx.min_qty[veh], ctx.step[veh])
    buy_amount = buy_qty * vprice
    buy_fee = fees(buy_amount, np.zeros_like(buy_qty, dtype=bool), part.commission_rate[:, None],
                   ctx.stamp[veh], ctx.transfer[veh], ctx.exchange_traded[veh], ctx.rules)
    keep_buy = (buy_qty > 0) & (buy_fee <= ctx.max_fee_ratio * buy_amount)
    return np.where(keep_buy, buy_qty, 0.0), buy_amount, buy_fee, blocked


def propose(part: Partition, ctx: Context) -> Proposals:
    """The pure engine: one partition in, its proposals out. No I/O, no globals."""
    n = len(part)
    book = _book(part, ctx)
    status = _status(book, ctx)
    act = status == REBALANCE
    want = book.target * book.investable[:, None] - book.cls_value  # + buy, - sell, per class
    want[~act] = 0.0
    sell_qty, sell_amount, sell_fee, proceeds = _sells(part, ctx, book, want)
    buy_qty, buy_amount, buy_fee, blocked = _buys(part, ctx, book, want, act, proceeds)
    # a customer whose every trade was too small to be worth its fees stays as is
    traded = (np.bincount(book.owner, weights=(sell_qty > 0).astype(float), minlength=n) + (buy_qty > 0).sum(axis=1)) > 0
    status[act & ~traded] = SMALL

    s_idx = np.flatnonzero(sell_qty > 0)
    b_cust, b_cls = np.nonzero(buy_qty > 0)
    t_row = np.concatenate([book.owner[s_idx], b_cust])
    t_side = np.concatenate([-np.ones(len(s_idx), np.int8), np.ones(len(b_cust), np.int8)])
    order = np.lexsort((t_side, t_row))  # per customer: sells first (they fund the buys), then buys
    return Proposals(
        customer_id=part.customer_id,
        status=status,
        total=book.total,
        current=book.current,
        target=book.target,
        drift=book.drift,
        blocked=blocked,
        t_customer=part.customer_id[t_row][order],
        t_inst=np.concatenate([part.inst[s_idx], ctx.vehicles[b_cls]]).astype(np.int32)[order],
        t_side=t_side[order],
        t_qty=np.concatenate([sell_qty[s_idx], buy_qty[b_cust, b_cls]])[order],
        t_amount=np.round(np.concatenate([sell_amount[s_idx], buy_amount[b_cust, b_cls]]), 2)[order],
        t_fee=np.concatenate([sell_fee[s_idx], buy_fee[b_cust, b_cls]])[order],
    )


def run_batch(parts: list[Partition], ctx: Context, *, client=None, progress=None) -> Proposals:
    """Run ``propose`` over partitions: in this process, or on a Dask ``distributed.Client``."""
    if client is None:
        out = []
        for part in parts:
            out.append(propose(part, ctx))
            if progress is not None:
                progress()
        return Proposals.concat(out)
    shared = client.scatter(ctx, broadcast=True)
    # Ship the partitions as data, not inside the task graph; in production each worker would
    # read its own partition (e.g. Parquet by customer-id range) instead.
    remote_parts = client.scatter(parts)
    futures = client.map(propose, remote_parts, ctx=shared, pure=False)
    results = client.gather(futures)
    if progress is not None:
        for _ in parts:
            progress()
    return Proposals.concat(results)


# --- building the context from the platform's instruments and the current models ----------


LARGE_CAPS_PATH = Path(__file__).parent / "data" / "large_caps.yaml"


@lru_cache(maxsize=1)
def large_caps() -> frozenset[str]:
    """The stocks counted as 大盘股 (``data/large_caps.yaml``): size by index membership, not by
    board; a main-board stock such as 丰原药业 is a small cap."""
    with open(LARGE_CAPS_PATH, encoding="utf-8") as fh:
        return frozenset(yaml.safe_load(fh)["symbols"])


def classify(kind: str, board: str, name: str = "", symbol: str = "") -> str | None:
    """Which model asset class an instrument counts towards (None: outside the models). A stock is
    a large cap only on the large-cap list, whatever its board."""
    kind, board = (kind or "").lower(), (board or "").lower()
    if kind == "repo" or board == "money":
        return "money"
    if kind in ("bond", "convertible") or board == "bond":
        return "bond"
    if board == "gold" or "黄金" in (name or ""):
        return "gold"
    if board == "qdii":
        return None
    if kind == "stock":
        return "large_cap" if symbol in large_caps() else "small_cap"
    if kind in ("etf", "fund") or board in ("index", "equity", "mixed"):
        small = any(t in (name or "") for t in ("500", "1000", "创业板", "科创", "中小"))
        return "small_cap" if small else "large_cap"
    return None


def order_shape(kind: str, board: str, exchange: str, lot_size: int | None) -> tuple[float, float]:
    """(minimum quantity, increment) for a sell order of this instrument."""
    if exchange == "OF":
        return 0.01, 0.01
    if board == "star":
        return 200.0, 1.0
    if board == "bse":
        return 100.0, 1.0
    if kind in ("bond", "convertible", "repo"):
        return 10.0, 10.0
    lot = float(lot_size or 100)
    return lot, lot


def allowed_matrix() -> np.ndarray:
    out = np.zeros((len(LEVELS), len(RISKS) + 1), dtype=bool)
    for i, lv in enumerate(LEVELS):
        for r in range(1, 6):
            out[i, r] = check(lv, f"R{r}").decision == "allow"
    return out


def build_context(instruments: list[dict], weights: np.ndarray | None = None) -> Context:
    """``instruments``: dicts with symbol, kind, board, exchange, name, lot_size, last_price, risk_rating.

    The vehicle ETFs named in ``portfolio_config.yaml`` are added if missing, priced from the
    shipped catalogue, so every class can be bought.
    """
    cfg = config()
    classes = list(cfg["asset_classes"])
    rows = {i["symbol"]: i for i in instruments}
    for spec in cfg["asset_classes"].values():
        if spec["product"] not in rows or not rows[spec["product"]].get("last_price"):
            rows[spec["product"]] = catalogue.instrument_row(spec["product"])
    symbols = list(rows)
    m = len(symbols)
    asset_class = np.full(m, -1, np.int8)
    price = np.zeros(m)
    min_qty, step = np.ones(m), np.ones(m)
    stamp, transfer, exch = np.zeros(m, bool), np.zeros(m, bool), np.zeros(m, bool)
    risk = np.full(m, 3, np.int8)
    for j, sym in enumerate(symbols):
        r = rows[sym]
        kind, board, exchange = r.get("kind", ""), r.get("board", ""), r.get("exchange", sym[-2:])
        c = classify(kind, board, r.get("name", ""), sym)
        asset_class[j] = classes.index(c) if c else -1
        price[j] = float(r.get("last_price") or 0.0)
        min_qty[j], step[j] = order_shape(kind, board, exchange, r.get("lot_size"))
        stamp[j] = kind == "stock"
        transfer[j] = kind == "stock" and exchange in ("SH", "SZ")
        exch[j] = exchange in ("SH", "SZ", "BJ")
        rr = r.get("risk_rating") or ("R4" if kind == "stock" else "R3")
        risk[j] = int(rr[1])
    vehicles = np.array([symbols.index(cfg["asset_classes"][c]["product"]) for c in classes])
    if weights is None:
        weights = portfolios.weight_matrix(portfolios.current_models())
    tr = trading_rules()
    return Context(
        classes, np.array(symbols, dtype=object), asset_class, price, min_qty, step, stamp, transfer,
        exch, risk, vehicles, weights, allowed_matrix(), band=tr["drift_band"],
        cash_reserve=tr["cash_reserve"], min_total=tr["min_total"], max_fee_ratio=tr["max_fee_ratio"],
        rules=tr,
    )
