"""factory-boy factories. Times default to "around now"; tests pass explicit times at boundaries."""

import datetime as dt
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from bookings.models import Booking
from classroom.models import Course, Student, Teacher
from integrations.line.models import LineChannel
from integrations.zoom.models import ZoomAccount
from meetings.models import Meeting


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


class StaffFactory(UserFactory):
    is_staff = True
    is_superuser = True


class TeacherFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Teacher

    user = factory.SubFactory(UserFactory)
    display_name = factory.Sequence(lambda n: f"Teacher {n}")
    email = factory.LazyAttribute(lambda t: f"{t.display_name.lower().replace(' ', '.')}@example.com")
    time_zone = "America/New_York"


class StudentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Student

    display_name = factory.Sequence(lambda n: f"Student {n}")
    email = factory.LazyAttribute(lambda s: f"{s.display_name.lower().replace(' ', '.')}@example.com")
    time_zone = "Asia/Ho_Chi_Minh"


class LineChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LineChannel

    name = factory.Sequence(lambda n: f"Channel {n}")
    slug = factory.Sequence(lambda n: f"channel-{n}")
    channel_id = factory.Sequence(lambda n: f"{1650000000 + n}")
    channel_secret = factory.Sequence(lambda n: f"secret-{n:032d}")
    access_token = factory.Sequence(lambda n: f"token-{n:040d}")


class CourseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Course

    title = factory.Sequence(lambda n: f"Course {n}")
    price = Decimal("10.00")
    currency = "USD"
    capacity = 10
    min_participants = 0


class MeetingFactory(factory.django.DjangoModelFactory):
    """A scheduled meeting; ``start_time`` defaults to one hour from now, lasting an hour."""

    class Meta:
        model = Meeting

    teacher = factory.SubFactory(TeacherFactory)
    course = factory.SubFactory(CourseFactory)
    title = factory.LazyAttribute(lambda m: m.course.title)
    start_time = factory.LazyFunction(lambda: timezone.now().replace(microsecond=0) + dt.timedelta(hours=1))
    end_time = factory.LazyAttribute(lambda m: m.start_time + dt.timedelta(hours=1))
    capacity = factory.LazyAttribute(lambda m: m.course.capacity)


def book(student, meeting, *, now=None, confirm=True) -> Booking:
    """A booking made the way the product makes them (seat taken, history, appointment)."""
    from bookings.transitions import book as book_seat

    return book_seat(student, meeting, now=now or timezone.now(), confirm=confirm)


class ZoomAccountFactory(factory.django.DjangoModelFactory):
    """A Pro host account; ``suffix`` names its ids the way the ``zoom_accounts`` fixture registers them in the fake."""

    class Meta:
        model = ZoomAccount

    class Params:
        suffix = factory.Sequence(lambda n: f"h{n}")

    name = factory.LazyAttribute(lambda a: f"Zoom {a.suffix}")
    account_id = factory.LazyAttribute(lambda a: f"acct-{a.suffix}")
    client_id = factory.LazyAttribute(lambda a: f"client-{a.suffix}")
    client_secret = factory.LazyAttribute(lambda a: f"secret-{a.suffix}")
    host_user_id = factory.LazyAttribute(lambda a: f"host-{a.suffix}")
    plan = ZoomAccount.Plan.PRO
