"""维持担保比例 has one definition: the same function gives the workbench's figure for one account
(Decimal), the monitor's for a whole book (NumPy) and the CDP's feature column (Polars)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import polars as pl

from brokercare.accounts.service import maintenance_ratio

# 三个信用账户: 总资产 / 总负债 (元) — 一个低于 140% 警戒线, 一个正常, 一个没有负债
ASSETS = ["630000.00", "1500000.00", "88000.00"]
LIABILITIES = ["462000.00", "600000.00", "0.00"]


def test_one_account_is_a_decimal_to_four_places_and_none_without_debt():
    got = [maintenance_ratio(Decimal(a), Decimal(d)) for a, d in zip(ASSETS, LIABILITIES, strict=True)]
    assert got == [Decimal("1.3636"), Decimal("2.5000"), None]
    # half up, as statements round: 100,005 / 100,000 = 1.00005 -> 1.0001
    assert maintenance_ratio(Decimal("100005"), Decimal("100000")) == Decimal("1.0001")


def test_a_book_is_float_and_nan_without_debt_so_it_is_never_below_a_line():
    ratio = maintenance_ratio(np.array([float(a) for a in ASSETS]), np.array([float(d) for d in LIABILITIES]))
    assert ratio.dtype == np.float64
    assert np.isnan(ratio[2]) and not (ratio < 1.4)[2]
    assert (ratio < 1.4).tolist() == [True, False, False]
    one_by_one = [maintenance_ratio(Decimal(a), Decimal(d)) for a, d in zip(ASSETS, LIABILITIES, strict=True)]
    assert [Decimal(r).quantize(Decimal("0.0001")) for r in ratio[:2]] == one_by_one[:2]


def test_the_cdp_column_is_the_same_number_and_null_without_debt():
    frame = pl.DataFrame({"assets_fen": [int(Decimal(a) * 100) for a in ASSETS],
                          "liabilities_fen": [int(Decimal(d) * 100) for d in LIABILITIES]})
    column = frame.select(maintenance_ratio(pl.col("assets_fen"), pl.col("liabilities_fen")).alias("r"))["r"]
    assert column.dtype == pl.Float64 and column.null_count() == 1 and column[2] is None
    book = maintenance_ratio(np.array([float(a) for a in ASSETS]), np.array([float(d) for d in LIABILITIES]))
    assert column[:2].to_list() == book[:2].tolist()
