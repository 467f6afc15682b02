"""Phone numbers: stored in E.164 (``+84912345678``), parsed and validated with ``phonenumbers`` (Google's
libphonenumber metadata), so "0912 345 678" typed by staff in Vietnam and "+84 912 345 678" are one number."""

from __future__ import annotations

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


def normalise(value: str, region: str | None = None) -> str:
    """``value`` in E.164, or "" for an empty value. A number without a country code is read in ``region`` (default
    PHONE_DEFAULT_REGION). Raises ValidationError naming the problem for anything that is not a valid number."""
    value = (value or "").strip()
    if not value:
        return ""
    try:
        number = phonenumbers.parse(value, region or settings.PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(
            _("%(value)s is not a phone number (%(reason)s)."),
            code="invalid_phone",
            params={"value": value, "reason": str(exc)},
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(
            _("%(value)s is not a valid phone number; give it with its country code, e.g. +84 912 345 678."),
            code="invalid_phone",
            params={"value": value},
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def region(e164: str) -> str:
    """The country (ISO 3166 alpha-2) of a stored number, "" when there is none."""
    if not e164:
        return ""
    return phonenumbers.region_code_for_number(phonenumbers.parse(e164)) or ""


def zns_number(e164: str) -> str:
    """The number as ZNS wants it (a Vietnamese number, country code without "+": ``84912345678``), or "" when
    ZNS cannot reach it (no number, or not a Vietnamese one: ZNS sends to Vietnamese numbers only)."""
    if region(e164) != "VN":
        return ""
    return e164.lstrip("+")
