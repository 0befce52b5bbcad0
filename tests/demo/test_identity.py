"""The vectorised identity numbers and cards of the generator follow the one-number checks."""

from __future__ import annotations

import numpy as np

from brokercare.core.identifiers import id_check_char, is_valid_card, parse_id_number
from brokercare.demo.identity import id_body, id_numbers, luhn_complete


def test_generated_identity_numbers_pass_the_check_and_say_who_was_born_where():
    rng = np.random.default_rng(5)
    region = np.array([110105, 310115, 440305, 650102, 540102] * 40)
    birth = np.datetime64("1940-01-01") + rng.integers(0, 30_000, len(region)).astype("timedelta64[D]")
    seq = rng.integers(0, 1000, len(region))
    numbers = id_numbers(id_body(region, birth, seq))
    for number, r, b, s in zip(numbers.tolist(), region, birth.tolist(), seq, strict=True):
        parsed = parse_id_number(number)
        assert parsed.region == str(r) and parsed.birth_date == b
        assert parsed.male == bool(s % 2)
        assert number[17] == id_check_char(number[:17])


def test_generated_cards_pass_the_luhn_check():
    rng = np.random.default_rng(6)
    bodies = 622202 * 10**12 + rng.integers(0, 10**12, 500)
    cards = luhn_complete(bodies, 18).tolist()
    assert all(len(c) == 19 and c.startswith("622202") and is_valid_card(c) for c in cards)
    # one digit changed is caught
    assert not is_valid_card(cards[0][:10] + str((int(cards[0][10]) + 1) % 10) + cards[0][11:])
