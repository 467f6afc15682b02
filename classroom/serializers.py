"""API shapes of people and courses, and the time fields every API response uses (UTC plus the caller's local time)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from classroom.models import Course
from core.timezones import to_local, validate_time_zone

STAFF, TEACHER, STUDENT = "staff", "teacher", "student"


def roles_of(user) -> list[str]:
    """A user's roles, derived from the account: staff (``is_staff``), teacher and/or student (a linked record)."""
    if not user or not user.is_authenticated:
        return []
    roles = []
    if user.is_staff:
        roles.append(STAFF)
    if teacher_of(user) is not None:
        roles.append(TEACHER)
    if student_of(user) is not None:
        roles.append(STUDENT)
    return roles


def teacher_of(user):
    return getattr(user, "teacher", None) if user.is_authenticated else None


def student_of(user):
    return getattr(user, "student", None) if user.is_authenticated else None


def zone_of(user) -> str:
    """The zone a user's times are shown in: their teacher record's, else their student record's, else the default."""
    person = teacher_of(user) or student_of(user)
    return person.time_zone if person is not None else settings.DEFAULT_USER_TIME_ZONE


def language_of(user) -> str:
    """The language a user is written to in: their teacher record's, else their student record's, else the default
    (then a request's own language applies: Accept-Language, the admin's chooser)."""
    person = teacher_of(user) or student_of(user)
    return person.language if person is not None else settings.LANGUAGE_CODE


def utc_iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def local_iso(value: dt.datetime | None, tz_name: str) -> str | None:
    return None if value is None else to_local(value, tz_name).isoformat()


def request_zone(context) -> str:
    request = context.get("request")
    return zone_of(request.user) if request is not None else settings.DEFAULT_USER_TIME_ZONE


# --- strict JSON input: DRF would turn 7 into "7" and "7" into 7; a request that breaks the schema is refused ---------


class StrictCharField(serializers.CharField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    def to_internal_value(self, data):
        if not isinstance(data, int) or isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    def to_internal_value(self, data):
        if not isinstance(data, int) or isinstance(data, bool):
            self.fail("incorrect_type", data_type=type(data).__name__)
        return super().to_internal_value(data)


class TimeZoneField(StrictCharField):
    """An IANA zone name, checked against the zones this machine knows."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("help_text", "IANA time zone, e.g. Asia/Ho_Chi_Minh or America/New_York.")
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            validate_time_zone(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages[0]) from exc
        return value


class UserZoneField(TimeZoneField):
    """A user's zone: read from their teacher/student record (see :func:`zone_of`), written by MeSerializer."""

    def get_attribute(self, user):
        return zone_of(user)


class LineContactSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="DELETE /api/v1/me/line-contacts/{id}/ unlinks it.")
    channel = serializers.CharField(help_text="The LINE channel's slug.")
    line_user_id = serializers.CharField()
    role = serializers.CharField(help_text="student (your own LINE) or guardian (a parent's).")
    following = serializers.BooleanField(help_text="False after the LINE account blocked the school's account.")
    linked_at = serializers.DateTimeField()


class UserLanguageField(serializers.ChoiceField):
    """A user's language: read from their teacher/student record (see :func:`language_of`), written by MeSerializer."""

    default_error_messages = {
        # DRF's own message has no Vietnamese; ours names the languages there are.
        "invalid_choice": gettext_lazy('"{input}" is not one of our languages: en, vi, zh-hant.'),
    }

    def __init__(self, **kwargs):
        super().__init__(choices=settings.LANGUAGES, **kwargs)

    def get_attribute(self, user):
        return language_of(user)

    def to_internal_value(self, data):
        if not isinstance(data, str):  # a ChoiceField would take 7 as "7"
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data)


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)
    email = serializers.EmailField(read_only=True)
    roles = serializers.SerializerMethodField(help_text="staff, teacher, student: what this account may do.")
    display_name = serializers.SerializerMethodField()
    teacher_id = serializers.SerializerMethodField()
    student_id = serializers.SerializerMethodField()
    time_zone = UserZoneField(
        help_text="IANA zone every local time in the API is given in; change it with PATCH (e.g. Asia/Taipei).",
    )
    line_contacts = serializers.SerializerMethodField(
        help_text="The LINE accounts linked to you: yours and your guardians'. Link more with POST "
        "/api/v1/me/line-code/."
    )
    language = UserLanguageField(
        help_text="The language your messages (LINE, e-mail) are written in: en, vi or zh-hant. Change it with PATCH. "
        "The API's own texts follow the request's Accept-Language header.",
    )

    def get_roles(self, user) -> list[str]:
        return roles_of(user)

    def get_display_name(self, user) -> str:
        person = teacher_of(user) or student_of(user)
        return person.display_name if person is not None else (user.get_full_name() or user.get_username())

    def get_teacher_id(self, user) -> int | None:
        teacher = teacher_of(user)
        return teacher.pk if teacher is not None else None

    def get_student_id(self, user) -> int | None:
        student = student_of(user)
        return student.pk if student is not None else None

    @extend_schema_field(LineContactSerializer(many=True))
    def get_line_contacts(self, user) -> list[dict]:
        student = student_of(user)
        if student is None:
            return []
        # Through the reverse relation of Student: classroom imports no integration.
        rows = student.line_contacts.order_by("pk").values(
            "id", "line_channel__slug", "line_user_id", "role", "following", "linked_at"
        )
        return [
            {
                "id": row["id"],
                "channel": row["line_channel__slug"],
                "line_user_id": row["line_user_id"],
                "role": row["role"],
                "following": row["following"],
                "linked_at": utc_iso(row["linked_at"]),
            }
            for row in rows
        ]

    def validate_time_zone(self, value):
        user = self.instance
        if teacher_of(user) is None and student_of(user) is None:
            raise serializers.ValidationError(
                _("this account has no teacher or student profile to keep a time zone on; times are shown in %(zone)s")
                % {"zone": settings.DEFAULT_USER_TIME_ZONE}
            )
        return value

    def validate_language(self, value):
        user = self.instance
        if teacher_of(user) is None and student_of(user) is None:
            raise serializers.ValidationError(
                _(
                    "this account has no teacher or student profile to keep a language on; send Accept-Language "
                    "with each request instead"
                )
            )
        return value

    def update(self, user, validated_data):
        changes = {name: validated_data[name] for name in ("time_zone", "language") if validated_data.get(name)}
        if changes:
            for person in (teacher_of(user), student_of(user)):
                if person is not None:
                    for name, value in changes.items():
                        setattr(person, name, value)
                    person.save(update_fields=list(changes))
        return user


class LoginSerializer(serializers.Serializer):
    username = StrictCharField(max_length=150)
    password = StrictCharField(max_length=128, style={"input_type": "password"}, trim_whitespace=False)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`. Shown only this once.")
    expires_at = serializers.DateTimeField(
        help_text="When the token stops working (UTC, API_TOKEN_TTL_HOURS after the login); then log in again."
    )
    user = MeSerializer()


class CourseSerializer(serializers.ModelSerializer):
    class Meta:
        model = Course
        fields = [
            "id",
            "title",
            "description",
            "price",
            "currency",
            "capacity",
            "min_participants",
            "default_duration_minutes",
        ]
        read_only_fields = fields


class PersonSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    display_name = serializers.CharField()
    time_zone = serializers.CharField()
