from decimal import Decimal

import pytest
from django.utils import translation

from bookings.transitions import split_revenue
from core.money import format_money, round_money


def test_it_rounds_half_up_to_the_currency_minor_unit():
    assert round_money(Decimal("2.345"), "USD") == Decimal("2.35")
    assert round_money(Decimal("2.344"), "USD") == Decimal("2.34")
    assert round_money(Decimal("1500.5"), "VND") == Decimal("1501")
    assert round_money(Decimal("-2.345"), "USD") == Decimal("-2.35")


def test_it_refuses_floats():
    with pytest.raises(TypeError):
        round_money(2.345, "USD")


def test_three_bookings_of_9_99_at_17_5_percent():
    gross = Decimal("9.99") * 3  # 29.97
    commission, net = split_revenue(gross, Decimal("0.175"), "USD")
    assert commission == Decimal("5.24")  # 5.24475 rounds down
    assert net == Decimal("24.73")
    assert commission + net == gross


def test_a_zero_gross_splits_into_zeros():
    assert split_revenue(Decimal("0.00"), Decimal("0.2"), "USD") == (Decimal("0.00"), Decimal("0.00"))


def test_amounts_for_people_have_thousands_separators_and_the_currencys_places():
    assert format_money(Decimal("240000"), "VND") == "240,000 VND"
    assert format_money(Decimal("1200"), "TWD") == "1,200.00 TWD"
    assert format_money(Decimal("-82499.33"), "VND") == "-82,499 VND"
    assert format_money(Decimal("9.995"), "USD") == "10.00 USD"


@pytest.mark.parametrize(
    ("language", "vnd", "twd", "negative"),
    [
        ("en", "240,000 VND", "1,200.00 TWD", "-82,499 VND"),
        ("vi", "240.000 VND", "1.200,00 TWD", "-82.499 VND"),
        ("zh-hant", "240,000 VND", "1,200.00 TWD", "-82,499 VND"),
    ],
)
def test_amounts_follow_the_active_languages_separators(language, vnd, twd, negative):
    with translation.override(language):
        assert format_money(Decimal("240000"), "VND") == vnd
        assert format_money(Decimal("1200"), "TWD") == twd
        assert format_money(Decimal("-82499.33"), "VND") == negative
        assert format_money(Decimal("1234567.891"), "USD").endswith(" USD")
