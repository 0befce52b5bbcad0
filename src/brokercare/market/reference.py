"""The shipped instrument master: how it is built from public data and how it is loaded.

``data/instruments.csv`` is built once by :func:`build_reference` from the public data sets cited
in ``data/SOURCE.md`` and shipped with the package, so an install needs no network. Boards, lot
sizes and risk-warning flags are derived from the code and the name by the exchanges' conventions;
product risk ratings (R1-R5) follow the fund type as Chinese distributors commonly rate them.
Reference prices are real closes or NAVs where the shipped history has them (510300: the real
沪深300 close per 1,000 points, shipped in ``data/index_closes.csv``); every other price is
a seeded, plausible model value flagged ``price_source='modelled'`` so nobody mistakes it for a quote.
"""

from __future__ import annotations

import csv
import re
import zlib
from datetime import date
from importlib import resources
from pathlib import Path

import numpy as np

COLUMNS = (
    "symbol", "code", "exchange", "name", "kind", "board", "industry", "area", "listed_on",
    "is_st", "lot_size", "risk_rating", "currency", "last_price", "price_source",
)

#: Government-bond pledged reverse repos (国债逆回购) of both exchanges, by tenor in days.
REVERSE_REPOS = (
    ("204001", "SH", "GC001", 1), ("204002", "SH", "GC002", 2), ("204003", "SH", "GC003", 3),
    ("204004", "SH", "GC004", 4), ("204007", "SH", "GC007", 7), ("204014", "SH", "GC014", 14),
    ("204028", "SH", "GC028", 28), ("204091", "SH", "GC091", 91), ("204182", "SH", "GC182", 182),
    ("131810", "SZ", "R-001", 1), ("131811", "SZ", "R-002", 2), ("131800", "SZ", "R-003", 3),
    ("131809", "SZ", "R-004", 4), ("131801", "SZ", "R-007", 7), ("131802", "SZ", "R-014", 14),
    ("131803", "SZ", "R-028", 28), ("131805", "SZ", "R-091", 91), ("131806", "SZ", "R-182", 182),
)


#: ETFs priced from their tracked index's real close: code -> (index file in the source's
#: ``a_share_index_daily``, ETF price per 1,000 index points). The ratio is the one the advisory
#: shelf (``advisory/data/products.yaml``) prices the ETF with, so both quote the same number.
INDEX_PRICED_ETFS = {"510300": ("sh000300", 1.02)}
INDEX_CLOSES = "index_closes.csv"  # the tracked indices' last year of real closes, shipped

# Index products on a broad large-cap index (沪深300, 上证50, not their sector sub-indices): R3, as
# the advisory shelf rates 510300 and 000051 (the suitability check reads the shelf first).
_BROAD_LARGE_CAP = re.compile(r"(沪深300|上证50)(ETF|指数|增强|联接|交易型|[A-Z]?$)")


def product_rating(board: str, rating: str, name: str) -> str:
    """A fund's or ETF's R1-R5 rating: by fund type, broad large-cap index products one level lower."""
    if board == "index" and _BROAD_LARGE_CAP.search(name):
        return "R3"
    return rating


def board_of(code: str) -> tuple[str, str]:
    """``(exchange, board)`` of an A-share code by the exchanges' code ranges."""
    if code.startswith(("688", "689")):
        return "SH", "star"
    if code.startswith(("600", "601", "603", "605")):
        return "SH", "main"
    if code.startswith(("300", "301")):
        return "SZ", "chinext"
    if code.startswith(("000", "001", "002", "003")):
        return "SZ", "main"
    if code.startswith(("8", "4", "92")):
        return "BJ", "bse"
    raise ValueError(f"not an A-share code: {code}")


def lot_size_of(board: str) -> int:
    """Minimum buy quantity: STAR 200 shares, every other board 100."""
    return 200 if board == "star" else 100


def is_risk_warning(name: str) -> bool:
    """ST and *ST (risk-warning) stocks carry the marker at the start of their short name."""
    return name.lstrip("*").upper().startswith("ST") or name.upper().startswith(("*ST", "S*ST"))


# Eastmoney fund type -> (board, risk rating).
_FUND_TYPES = {
    "货币型": ("money", "R1"),
    "债券型-长债": ("bond", "R2"),
    "债券型-中短债": ("bond", "R2"),
    "债券型-混合一级": ("bond", "R2"),
    "债券型-混合二级": ("bond", "R3"),
    "债券型-普通债券": ("bond", "R2"),
    "债券型-债券指数": ("bond", "R2"),
    "债券型-可转债": ("bond", "R3"),
    "指数型-固收": ("bond", "R2"),
    "指数型-股票": ("index", "R4"),
    "股票型-标准指数": ("index", "R4"),
    "股票型-增强指数": ("index", "R4"),
    "股票型": ("equity", "R4"),
    "股票型-普通": ("equity", "R4"),
    "混合型-偏股": ("mixed", "R4"),
    "混合型-灵活": ("mixed", "R3"),
    "混合型-灵活配置": ("mixed", "R3"),
    "混合型-平衡": ("mixed", "R3"),
    "混合型-股债平衡": ("mixed", "R3"),
    "混合型-偏债": ("mixed", "R2"),
    "混合型-绝对收益": ("mixed", "R3"),
    "FOF-稳健型": ("mixed", "R2"),
    "FOF-均衡型": ("mixed", "R3"),
    "FOF-进取型": ("mixed", "R4"),
    "商品": ("gold", "R3"),
    "商品型-非QDII": ("gold", "R3"),
    "指数型-海外股票": ("qdii", "R4"),
    "QDII-纯债": ("qdii", "R3"),
    "QDII-混合债": ("qdii", "R3"),
}

# How many funds of each board the shipped catalogue keeps (all money funds; a stable sample of
# the others so the catalogue stays a few thousand products like a broker's fund supermarket).
_FUND_QUOTA = {"money": 10_000, "bond": 1_100, "index": 700, "equity": 350, "mixed": 1_100,
               "gold": 10_000, "qdii": 250}


def _fund_class(fund_type: str) -> tuple[str, str] | None:
    if fund_type.startswith("货币型"):
        return _FUND_TYPES["货币型"]
    if fund_type in _FUND_TYPES:
        return _FUND_TYPES[fund_type]
    if fund_type.startswith("QDII"):
        return ("qdii", "R4")
    return None


def _stable_order(code: str) -> int:
    return zlib.crc32(code.encode())


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def _index_closes(folder: Path, out: Path, days: int = 250) -> dict[str, list[tuple[str, float]]]:
    """The last ``days`` real closes of each index an ETF is priced from, also written to ``out``."""
    closes = {}
    out.parent.mkdir(parents=True, exist_ok=True)
    for index in sorted({i for i, _ in INDEX_PRICED_ETFS.values()}):
        closes[index] = [(r["date"], float(r["close"])) for r in _read_csv(folder / f"{index}.csv")[-days:]]
    with out.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["index", "date", "close"])
        for index, rows in closes.items():
            w.writerows((index, d, f"{c:.4f}") for d, c in rows)
    return closes


def shipped_index_closes() -> dict[str, list[tuple[date, float]]]:
    """The shipped real closes of the indices ETFs are priced from (``data/index_closes.csv``)."""
    text = resources.files("brokercare.market").joinpath(f"data/{INDEX_CLOSES}").read_text("utf-8")
    out: dict[str, list[tuple[date, float]]] = {}
    for r in csv.DictReader(text.splitlines()):
        out.setdefault(r["index"], []).append((date.fromisoformat(r["date"]), float(r["close"])))
    return out


def _last_close(path: Path, column: str = "close") -> tuple[str, float]:
    rows = _read_csv(path)
    return rows[-1]["date"], float(rows[-1][column])


def build_reference(source: Path, out: Path, *, seed: int = 20230816) -> dict[str, int]:
    """Build ``instruments.csv`` from the public market data folder ``source``.

    One seeded generator models every missing price, drawn in a fixed order (stocks, ETFs,
    funds), so a rebuild from the same data writes the same file byte for byte."""
    rng = np.random.default_rng(seed)
    etfs, funds = _fund_catalogue(source)
    rows = _stock_rows(source, rng)
    rows += _etf_rows(etfs, _index_closes(source / "a_share_index_daily", out.parent / INDEX_CLOSES), rng)
    rows += _fund_rows(funds, source / "cn_fund_nav", rng)
    rows += _repo_rows()
    _write_rows(rows, out)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["kind"]] = counts.get(row["kind"], 0) + 1
    return counts


def _stock_rows(source: Path, rng: np.random.Generator) -> list[dict]:
    """Every listed A-share: the real last close where the shipped history has one, else a
    log-normal draw per board around the boards' typical price levels."""
    closes: dict[str, float] = {}
    for folder in ("stocks", "micro"):
        for path in sorted((source / "a_share_daily_qfq_2010_2026" / folder).glob("*.csv")):
            data = _read_csv(path)
            closes[path.stem] = float(data[-1]["close"])
    medians = {"main": 11.0, "chinext": 21.0, "star": 33.0, "bse": 13.0}
    rows = []
    for r in _read_csv(source / "a_share_reference" / "stock_basic_tushare_20230816.csv"):
        code = r["symbol"].zfill(6)
        exchange, board = board_of(code)
        st = is_risk_warning(r["name"])
        if code in closes:
            price, src = closes[code], "history"
        else:
            mu = np.log(3.2 if st else medians[board])
            price = float(np.clip(np.exp(rng.normal(mu, 0.45 if st else 0.75)), 1.5, 1500.0))
            src = "modelled"
        ld = r["list_date"]
        rows.append({
            "symbol": f"{code}.{exchange}", "code": code, "exchange": exchange, "name": r["name"],
            "kind": "stock", "board": board, "industry": r["industry"] or None,
            "area": r["area"] or None, "listed_on": f"{ld[:4]}-{ld[4:6]}-{ld[6:]}",
            "is_st": int(st), "lot_size": lot_size_of(board),
            "risk_rating": "R5" if st else ("R3" if board == "main" else "R4"),
            "currency": "CNY", "last_price": f"{price:.2f}", "price_source": src,
        })
    return rows


def _fund_catalogue(source: Path) -> tuple[list[tuple], list[tuple]]:
    """``(code, name, (board, rating))`` of the exchange-traded funds and of the OTC funds in the
    Eastmoney list; where the NAV set has the fund's current type too, the more prudent of the two
    ratings (华夏成长混合: 混合型-灵活 in the list, 混合型-偏股 now -> R4, as the advisory shelf rates it)."""
    meta = _nav_meta(source / "cn_fund_nav")
    etfs, funds = [], []
    for r in _read_csv(source / "a_share_reference" / "fund_list_eastmoney_invest-lab.csv"):
        code, name, ftype = r["基金代码"].zfill(6), r["基金简称"], r["基金类型"]
        if "后端" in name or not ftype:
            continue
        types = [c for c in (_fund_class(ftype), _fund_class(meta[code]["基金类型"]) if code in meta else None) if c]
        cls = max(types, key=lambda c: c[1]) if types else None
        if "黄金" in name and cls is not None and cls[0] in ("index", "equity", "mixed"):
            cls = ("gold", "R3")
        if cls is None:
            continue
        if code[:2] in ("51", "56", "58", "15") and "ETF" in name and "联接" not in name:
            etfs.append((code, name, cls))
        else:
            funds.append((code, name, cls))
    return etfs, funds


def _nav_meta(nav_dir: Path) -> dict[str, dict[str, str]]:
    return {r["基金代码"].zfill(6): r for r in _read_csv(nav_dir / "fund_universe_meta_506.csv")}


def _etf_rows(etfs: list[tuple], index_closes: dict[str, list[tuple[str, float]]],
              rng: np.random.Generator) -> list[dict]:
    """ETFs at a modelled price, those in ``INDEX_PRICED_ETFS`` at their index's real close."""
    rows = []
    for code, name, (board, rating) in etfs:
        exchange = "SZ" if code.startswith("15") else "SH"
        src = "modelled"
        if board == "money":
            price = 100.0
        else:
            price = float(np.clip(np.exp(rng.normal(np.log(1.3), 0.55)), 0.4, 9.0))
        if code in INDEX_PRICED_ETFS:  # after the draw, so every other modelled price stays put
            index, per_1000 = INDEX_PRICED_ETFS[code]
            price, src = index_closes[index][-1][1] / 1000 * per_1000, "index"
        rows.append({
            "symbol": f"{code}.{exchange}", "code": code, "exchange": exchange, "name": name,
            "kind": "etf", "board": board, "industry": None, "area": None, "listed_on": None,
            "is_st": 0, "lot_size": 100, "risk_rating": product_rating(board, rating, name),
            "currency": "CNY", "last_price": f"{price:.3f}", "price_source": src,
        })
    return rows


def _fund_rows(funds: list[tuple], nav_dir: Path, rng: np.random.Generator) -> list[dict]:
    """OTC funds: every fund with a NAV history (its real last NAV and inception date) first, then
    a stable sample of the others up to each board's quota, money funds at par."""
    meta = _nav_meta(nav_dir)
    navs = {path.stem: float(_read_csv(path)[-1]["单位净值"]) for path in sorted((nav_dir / "nav").glob("*.csv"))}
    kept: dict[str, int] = {}
    rows = []
    for code, name, (board, rating) in sorted(funds, key=lambda f: (f[0] not in navs, _stable_order(f[0]))):
        if code not in navs and kept.get(board, 0) >= _FUND_QUOTA[board]:
            continue
        kept[board] = kept.get(board, 0) + 1
        m = meta.get(code)
        if code in navs:
            price, src = navs[code], "nav"
        elif board == "money":
            price, src = 1.0, "par"
        else:
            sigma = {"bond": 0.12, "gold": 0.25}.get(board, 0.45)
            center = {"bond": 1.12, "gold": 1.6}.get(board, 1.45)
            price, src = float(np.clip(np.exp(rng.normal(np.log(center), sigma)), 0.35, 8.0)), "modelled"
        rows.append({
            "symbol": f"{code}.OF", "code": code, "exchange": "OF", "name": name, "kind": "fund",
            "board": board, "industry": None, "area": None,
            "listed_on": (m["成立时间"] or None) if m else None, "is_st": 0, "lot_size": 1,
            "risk_rating": product_rating(board, rating, name), "currency": "CNY",
            "last_price": f"{price:.4f}", "price_source": src,
        })
    return rows


def _repo_rows() -> list[dict]:
    return [{
        "symbol": f"{code}.{exchange}", "code": code, "exchange": exchange,
        "name": f"{days}天国债逆回购({name})", "kind": "repo", "board": "repo", "industry": None,
        "area": None, "listed_on": None, "is_st": 0, "lot_size": 10, "risk_rating": "R1",
        "currency": "CNY", "last_price": "100.00", "price_source": "par",
    } for code, exchange, name, days in REVERSE_REPOS]


def _write_rows(rows: list[dict], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        for row in rows:
            w.writerow({k: ("" if row[k] is None else row[k]) for k in COLUMNS})


def shipped_instruments() -> list[dict]:
    """The shipped instrument rows, typed (dates as ``date``, flags as ``bool``)."""
    text = resources.files("brokercare.market").joinpath("data/instruments.csv").read_text("utf-8")
    out = []
    for r in csv.DictReader(text.splitlines()):
        out.append({
            **r,
            "industry": r["industry"] or None,
            "area": r["area"] or None,
            "listed_on": date.fromisoformat(r["listed_on"]) if r["listed_on"] else None,
            "is_st": r["is_st"] == "1",
            "lot_size": int(r["lot_size"]),
            "risk_rating": r["risk_rating"] or None,
            "last_price": float(r["last_price"]) if r["last_price"] else None,
            "price_source": r["price_source"] or None,
        })
    return out


def reverse_repo_tenor(name: str) -> int | None:
    """Tenor in days from a reverse-repo name such as ``GC001`` or ``R-007``."""
    for _code, _ex, short, days in REVERSE_REPOS:
        if short in name:
            return days
    return None


__all__ = ["COLUMNS", "INDEX_PRICED_ETFS", "REVERSE_REPOS", "board_of", "build_reference",
           "is_risk_warning", "lot_size_of", "product_rating", "reverse_repo_tenor",
           "shipped_index_closes", "shipped_instruments"]
