"""Identity numbers, bank cards and mobile numbers are checked as a broker's back office would."""

from __future__ import annotations

from datetime import date

import pytest

from brokercare.core.identifiers import (
    id_check_char,
    is_valid_card,
    is_valid_id_number,
    is_valid_mobile,
    luhn_check_digit,
    normalise_mobile,
    parse_id_number,
)


def test_the_standards_own_example_reads_as_a_woman_born_in_chaoyang():
    # GB 11643-1999's example: Beijing Chaoyang (110105), born 1949-12-31, sequence 002
    number = parse_id_number(" 11010519491231002x ")
    assert number.number == "11010519491231002X"
    assert number.region == "110105"
    assert number.birth_date == date(1949, 12, 31)
    assert number.male is False
    assert id_check_char("11010519491231002") == "X"
    # Shanghai Pudong, born 1985-07-15, sequence 151 (odd: a man)
    body = "31011519850715151"
    assert parse_id_number(body + id_check_char(body)).male is True


@pytest.mark.parametrize(("number", "reason"), [
    ("110105194912310021", "check character"),  # one character off
    ("11010519491231002", "17 digits"),  # the check character missing
    ("1101051949123100A2", "17 digits"),
    ("110105194902300020", "not a date"),  # 30 February, check character right for the body
    ("440524188001010014", "out of range"),  # the standard's second example: born 1880
    ("99010519491231002" + id_check_char("99010519491231002"), "not in a province"),
])
def test_a_wrong_identity_number_is_refused_with_the_reason(number, reason):
    assert not is_valid_id_number(number)
    with pytest.raises(ValueError, match=reason):
        parse_id_number(number)


def test_a_birth_date_after_the_given_day_is_refused():
    body = "31011520300101001"
    number = body + id_check_char(body)
    assert is_valid_id_number(number)
    assert not is_valid_id_number(number, on=date(2026, 11, 27))


def test_bank_cards_carry_a_luhn_digit():
    assert is_valid_card("4111 1111 1111 1111")  # the 16-digit test card
    assert luhn_check_digit("622202123456789012") == "8"
    assert is_valid_card("6222021234567890128")  # ICBC debit BIN 622202, 19 digits
    assert not is_valid_card("6222021234567890123")  # wrong check digit
    assert not is_valid_card("62220212345678")  # 14 digits: too short
    assert not is_valid_card("62220212345678901280")  # 20 digits: too long
    assert not is_valid_card("6222-0212-3456-7890-128")


def test_mobile_numbers_are_normalised_to_eleven_digits():
    assert normalise_mobile("+86 138-0013-8000") == "13800138000"
    assert normalise_mobile("19912345678") == "19912345678"
    for bad in ("12800138000", "1380013800", "021-62345678", "1380013800a"):
        assert not is_valid_mobile(bad)
    with pytest.raises(ValueError, match="not a mainland mobile number"):
        normalise_mobile("010 8888 6666")
