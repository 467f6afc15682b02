"""Money is Decimal in the course currency, rounded in exactly one place: :func:`round_money`."""

from decimal import ROUND_HALF_UP, Decimal

from django.utils.formats import number_format

# ISO 4217 minor units. Adding a currency here is all it takes (the database stores two decimal places for all).
CURRENCY_PLACES = {
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "AUD": 2,
    "SGD": 2,
    "THB": 2,
    "TWD": 2,
    "VND": 0,
    "JPY": 0,
    "KRW": 0,
}
CURRENCY_CHOICES = [(code, code) for code in CURRENCY_PLACES]
ZERO = Decimal("0.00")


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round half up to the currency's minor unit. Call once, on the final figure, never on intermediate ones."""
    if not isinstance(amount, Decimal):
        raise TypeError(f"money must be Decimal, got {type(amount).__name__}")
    exponent = Decimal(1).scaleb(-CURRENCY_PLACES[currency])
    return amount.quantize(exponent, rounding=ROUND_HALF_UP)


def format_money(amount: Decimal, currency: str) -> str:
    """An amount for people: thousands separators and the currency's places, then its code, in the active
    language's separators (English 240,000 VND and 1,200.00 TWD; Vietnamese 240.000 VND and 1.200,00 TWD). The one
    formatting helper: admin pages, the review queue and history reasons all use it.

    Grouping is forced here rather than with USE_THOUSAND_SEPARATOR, which would also group ids and years."""
    places = CURRENCY_PLACES[currency]
    shown = number_format(round_money(amount, currency), decimal_pos=places, use_l10n=True, force_grouping=True)
    return f"{shown} {currency}"
