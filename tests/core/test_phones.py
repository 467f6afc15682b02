"""Phone numbers in E.164 (core.phones), and the student's phone and Zalo consent."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from classroom.models import Student
from core import phones


@pytest.mark.parametrize(
    "typed",
    ["0912 345 678", "+84 912 345 678", "84912345678", "(+84) 91-234-5678", "+84912345678"],
)
def test_a_vietnamese_number_is_stored_in_e164_however_it_is_typed(typed):
    assert phones.normalise(typed, "VN") == "+84912345678"
    assert phones.zns_number(phones.normalise(typed, "VN")) == "84912345678"


@pytest.mark.parametrize("bad", ["12", "not a phone", "+84 12", "0912 345 678 999 999"])
def test_a_bad_number_is_refused_naming_it(bad):
    with pytest.raises(ValidationError) as caught:
        phones.normalise(bad, "VN")
    assert bad in " ".join(caught.value.messages)


def test_zns_reaches_vietnamese_numbers_only():
    assert phones.zns_number("+886912345678") == ""  # Taiwan
    assert phones.zns_number("") == ""
    assert phones.region("+886912345678") == "TW" and phones.region("+84912345678") == "VN"


def test_a_student_is_saved_with_the_normalised_number_and_clean_names_the_field(db, now):
    student = Student.objects.create(display_name="An", phone="0912 345 678")
    assert Student.objects.get(pk=student.pk).phone == "+84912345678"
    student.phone = "12"
    with pytest.raises(ValidationError) as caught:
        student.full_clean()
    assert "phone" in caught.value.message_dict


def test_zalo_consent_needs_its_time_and_source(db, now):
    student = Student(display_name="An", phone="+84912345678", zalo_consent=True)
    with pytest.raises(ValidationError) as caught:
        student.full_clean()
    assert "zalo_consent_source" in caught.value.message_dict
    student.zalo_consent_source = "enrolment form"
    student.full_clean()  # ticked in the admin: recorded now
    assert student.zalo_consent_at is not None
    with pytest.raises(IntegrityError):
        Student.objects.create(display_name="B", zalo_consent=True, zalo_consent_source="x")  # no time: refused


def test_a_channel_order_names_known_channels_once(db):
    student = Student(display_name="An", channel_order="zalo,fax")
    with pytest.raises(ValidationError) as caught:
        student.full_clean()
    assert "channel_order" in caught.value.message_dict
    student.channel_order = "line,email"
    student.full_clean()
