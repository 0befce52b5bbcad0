"""Entities a broker's customers actually write: codes, names, 万/亿 amounts, relative dates."""

from __future__ import annotations

from datetime import date

import pytest

from brokercare.assistant.entities import extract, infer_exchange, parse_cn_number
from brokercare.assistant.lexicon import get_lexicon

FRIDAY = date(2025, 9, 26)  # the Friday before the 2025 National Day closure


def ents(text: str, kind: str | None = None, today: date = FRIDAY):
    found = extract(text, get_lexicon(), today=today)
    return [e for e in found if kind is None or e.kind == kind]


@pytest.mark.parametrize(
    ("code", "exchange"),
    [("600519", "SH"), ("688981", "SH"), ("000001", "SZ"), ("300750", "SZ"), ("835185", "BJ"),
     ("430047", "BJ"), ("920118", "BJ"), ("204001", "SH"), ("131810", "SZ")],
)
def test_exchange_is_inferred_from_the_code(code, exchange):
    assert infer_exchange(code)[0] == exchange
    [e] = ents(f"帮我看下{code}")
    assert e.value == f"{code}.{exchange}" and e.text == code


def test_codes_are_not_taken_from_longer_numbers_or_amounts():
    assert ents("我的手机号13812345678", "stock") == []
    assert ents("转了100000元", "stock") == []
    [amount] = ents("转了100000元", "amount")
    assert amount.value == "100000.00"


def test_spans_point_at_the_original_text():
    text = "茅台今天跌了3.5%，我想转3万5进去补仓"
    for e in ents(text):
        assert text[e.start : e.end] == e.text
    kinds = {e.kind: e.value for e in ents(text)}
    assert kinds["stock"] == "600519.SH"
    assert kinds["percent"] == "0.035"
    assert kinds["amount"] == "35000.00"


@pytest.mark.parametrize(
    ("text", "value"),
    [("3万5", "35000.00"), ("三千块", "3000.00"), ("1.2亿", "120000000.00"), ("50w", "500000.00"),
     ("一万二", "12000.00"), ("两万块钱", "20000.00"), ("2000元", "2000.00"), ("10万元", "100000.00")],
)
def test_amounts(text, value):
    [e] = ents(f"我想转{text}进来", "amount")
    assert e.value == value


def test_chinese_numerals():
    assert parse_cn_number("三千") == 3000
    assert parse_cn_number("一千二") == 1200
    assert parse_cn_number("两百零五") == 205
    assert parse_cn_number("十五") == 15


def test_percentages():
    assert [e.value for e in ents("收益百分之五，回撤12%", "percent")] == ["0.05", "0.12"]


def test_relative_dates_use_the_trading_calendar():
    values = {e.text: e.value for e in ents("明天、下周一、T+2缴款", "date")}
    assert values["明天"] == "2025-09-27"
    assert values["下周一"] == "2025-09-29"
    # T+2 from Friday 26 Sep 2025: Mon 29th, Tue 30th (1-8 Oct is the National Day closure).
    assert values["T+2"] == "2025-09-30"
    [t] = ents("T+2", "date", today=date(2025, 9, 30))
    assert t.value == "2025-10-10"  # Oct 9 and 10 are the first trading days after the holiday


def test_banks_and_names():
    found = ents("工行卡转到证券账户，想买宁王和中国平安")
    banks = [e.value for e in found if e.kind == "bank"]
    stocks = [e.value for e in found if e.kind == "stock"]
    assert banks == ["中国工商银行"]
    assert stocks == ["300750.SZ", "601318.SH"]


def test_stock_names_segment_as_one_word():
    lex = get_lexicon()
    words = lex.tokenize(lex.normalise("宁德时代和贵州茅台被套了，两融担保比例跌到135%"))
    assert "宁德时代" in words and "贵州茅台" in words and "担保比例" in words


def test_a_bank_that_is_also_a_listed_stock():
    [bank] = ents("从工商银行卡转3万进来", "bank")
    assert bank.value == "中国工商银行"
    [stock] = ents("工商银行股价今天跌了", "stock")
    assert stock.value == "601398.SH"
