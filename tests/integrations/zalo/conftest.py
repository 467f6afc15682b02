"""A Zalo class: the fake Zalo on 127.0.0.1, a channel connected to it, the approved templates of the kinds, and
Vietnamese students with a phone number and Zalo consent."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction

from classroom.models import Student
from integrations.zalo.models import ZaloChannel, ZaloTemplate
from notifications import outbox
from notifications.models import Notification

APP_ID = "1234567890123456789"
OA_ID = "9876543210987654321"
SECRET_KEY = "zalo-app-secret-key-0123456789"
OA_SECRET_KEY = "zalo-oa-secret-key-0123456789"
REFRESH_TOKEN = "zalo-refresh-token-first-0123456789"
ACCESS_TOKEN = "zalo-access-token-first-0123456789"

# kind -> (template id, {ZNS parameter: our value}, button parameter)
TEMPLATES = {
    "join_link": ("300001", {"ten": "name", "lop": "title", "ngay": "date", "gio": "start"}, "link_vao_lop"),
    "feedback_link": ("300002", {"ten": "name", "lop": "title", "ket_thuc": "end"}, "link_danh_gia"),
    "booking_refunded": ("300003", {"ten": "name", "lop": "title", "ngay": "date", "ly_do": "reason"}, ""),
    "class_rescheduled": ("300004", {"noi_dung": "message"}, ""),
}


@pytest.fixture
def zalo(settings):
    """The fake Zalo (ZNS and the OAuth v4 refresh), NOTIFICATION_CHANNEL=live pointed at it; read timeouts of 1 s,
    injected "timeouts" hang 1.2 s."""
    from integrations.zalo.fake import ZaloFake

    fake = ZaloFake(
        app_id=APP_ID,
        oa_id=OA_ID,
        secret_key=SECRET_KEY,
        oa_secret_key=OA_SECRET_KEY,
        refresh_token=REFRESH_TOKEN,
        access_token=ACCESS_TOKEN,
        hang_seconds=1.2,
        retry_after=60,
    )
    for template_id, params, button in TEMPLATES.values():
        fake.template(template_id, [*params, *([button] if button else [])])
    with fake:
        settings.NOTIFICATION_CHANNEL = "live"
        settings.ZALO_API_BASE_URL = fake.url
        settings.ZALO_OAUTH_BASE_URL = fake.url
        settings.HTTP_TIMEOUT_SECONDS = 1
        settings.HTTP_RETRIES = 0
        yield fake


@pytest.fixture
def zalo_channel(db, now):
    channel = ZaloChannel.objects.create(
        name="Trung tâm IELTS",
        slug="ielts-vn",
        app_id=APP_ID,
        oa_id=OA_ID,
        secret_key=SECRET_KEY,
        oa_secret_key=OA_SECRET_KEY,
        access_token=ACCESS_TOKEN,
        refresh_token=REFRESH_TOKEN,
        token_expires_at=now + dt.timedelta(hours=20),
    )
    for kind, (template_id, params, button) in TEMPLATES.items():
        ZaloTemplate.objects.create(
            zalo_channel=channel, kind=kind, template_id=template_id, parameters=params, button_parameter=button
        )
    return channel


def phone(n: int) -> str:
    return f"+8491234{n:04d}"


def vietnamese_students(count: int, *, now, start: int = 0, **fields) -> list[Student]:
    return [
        Student.objects.create(
            display_name=f"Nguyễn Văn {n}",
            time_zone="Asia/Ho_Chi_Minh",
            language="vi",
            phone=phone(n),
            zalo_consent=True,
            zalo_consent_at=now,
            zalo_consent_source="enrolment form",
            **fields,
        )
        for n in range(start, start + count)
    ]


def enqueue(kind: str, students, *, now, meeting, url_for=None, context=None) -> list[Notification]:
    with transaction.atomic():
        outbox.enqueue(
            row
            for s in students
            for row in outbox.to_student(
                kind, s, now=now, meeting=meeting, url=url_for(s) if url_for else None, context=context
            )
        )
    return list(Notification.objects.filter(kind=kind, student__in=students).order_by("pk"))
