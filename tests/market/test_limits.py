"""Price limits are dated data: the rule in force on the day, including the 2026 ST change."""

from __future__ import annotations

from datetime import date

import pytest

from brokercare.market.limits import limit_pct, limit_prices, rule_for


@pytest.mark.parametrize(
    ("board", "st", "day", "expected"),
    [
        ("main", False, date(2024, 9, 30), 0.10),
        ("main", True, date(2025, 7, 7), 0.05),  # the 2025-06-27 text was only a draft
        ("main", True, date(2026, 7, 3), 0.05),  # last trading day before the 2026 rules
        ("main", True, date(2026, 7, 6), 0.10),  # 交易规则（2026年修订） in force
        ("chinext", False, date(2020, 8, 21), 0.10),
        ("chinext", True, date(2020, 8, 24), 0.20),
        ("star", True, date(2026, 7, 6), 0.20),
        ("bse", False, date(2026, 7, 6), 0.30),
    ],
)
def test_rule_in_force_on_the_day(board, st, day, expected):
    assert limit_pct(board, st, day) == expected


def test_the_st_rule_cites_the_enacting_rule_texts():
    source = rule_for("main", True, date(2026, 7, 6)).source
    assert "上证发〔2026〕41号" in source and "深证上〔2026〕551号" in source


def test_registration_listings_trade_without_a_limit_for_five_days():
    listed = date(2026, 6, 1)  # a Monday
    assert limit_pct("main", False, date(2026, 6, 5), listed) is None  # 5th trading day
    assert limit_pct("main", False, date(2026, 6, 8), listed) == 0.10
    assert limit_prices(10.05, 0.05) == (10.55, 9.55)  # half up to the fen
