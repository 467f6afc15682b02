"""The school's policy: every class window and money rule, versioned (``classroom.models.Policy``), read at run time.

Staff change a value by making a new version (the admin, ``manage.py policy set KEY=VALUE ... --note``); nothing is
restarted. Every process reads the policy through :func:`current` (or :func:`version` for a row a class already
cites), which keeps all versions in memory for at most one clock tick (``core.clock.TICK_SECONDS``), so a new
version is seen everywhere within a tick plus the next query, and the cost is one small query per tick per process.

Which version applies (DESIGN.md "Policies and series"):
- a class pins the version in force when it is scheduled (``Meeting.policy``); a newer version that takes effect
  before the class opens re-pins it (``meetings.sweeps.repin_policies``, with a history row); opening pins the
  version in force at that moment, and an opened class keeps it;
- the join gate asks :func:`current` for a class that has not opened yet, so it is exact even between two ticks;
- payouts, refunds, late-cancel charges and review decisions store the version they applied (``policy`` columns).

The environment variables of the same names (upper case) are the first version's defaults
(:func:`defaults_from_settings`, used by the migration and, on an empty table, on first use).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.db.models import DurationField, ExpressionWrapper, F, Min, Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from classroom.models import Course, Policy
from core.audit import actor_name
from core.clock import TICK_SECONDS
from core.errors import DomainError


class PolicyInvalid(DomainError, code="policy_invalid", http_status=400):
    """A new version's values break a rule (a negative window, a percentage above 100...): nothing was saved."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{key}: {message}" for key, message in errors.items()))

    @property
    def fields(self) -> dict[str, list[str]]:
        return {key: [message] for key, message in self.errors.items()}


@dataclass(frozen=True)
class Rule:
    key: str
    # "minutes", "seconds", "hours" (whole numbers, never negative), "percent" (0-100, Decimal) or "switch" (on/off)
    kind: str
    help: str  # shown in the admin form, translated


RULES = (
    Rule("teacher_early_join_minutes", "minutes", _("The teacher may enter this many minutes before the start.")),
    Rule(
        "student_late_join_grace_minutes",
        "minutes",
        _("Students may enter for the first time until this many minutes after the start."),
    ),
    Rule("meeting_auto_close_delay_minutes", "minutes", _("The room closes this many minutes after the end.")),
    Rule("join_link_lead_minutes", "minutes", _("The join link goes out this many minutes before the start.")),
    Rule("feedback_link_lead_minutes", "minutes", _("The feedback link goes out this many minutes before the end.")),
    Rule("teacher_min_attendance_seconds", "seconds", _("The teacher counts as present after this long in the room.")),
    Rule("payout_dispute_hours", "hours", _("A clean payout is approved this many hours after the class closed.")),
    Rule(
        "booking_cancellation_cutoff_minutes",
        "minutes",
        _("A student cancelling until this many minutes before the start is refunded in full; later is a late cancel."),
    ),
    Rule(
        "platform_commission_percent",
        "percent",
        _("The school's share of a payout's gross, unless the teacher has their own rate."),
    ),
    Rule("late_cancel_percent", "percent", _("What a student who cancels after the cutoff is charged (of the price).")),
    Rule(
        "student_absence_share_percent",
        "percent",
        _(
            "The teacher's share of what a late-cancelled or no-show student was charged, "
            "if the teacher held the class."
        ),
    ),
    Rule(
        "close_empty_classes_early",
        "switch",
        _("A class no booked student has joined by the end of the late-join grace closes then, not at its end."),
    ),
)
RULE_BY_KEY = {rule.key: rule for rule in RULES}
KEYS = tuple(RULE_BY_KEY)
# The unit of a rule, in words (the admin form's help text).
KIND_WORDS = {
    "minutes": _("minutes"),
    "seconds": _("seconds"),
    "hours": _("hours"),
    "percent": _("percent"),
    "switch": _("on or off"),
}
# How a switch may be written at a terminal (``policy set close_empty_classes_early=off``); JSON stores true/false.
SWITCH_WORDS = {"true": True, "on": True, "yes": True, "1": True, "false": False, "off": False, "no": False, "0": False}

# The first version applies to everything before it, too (classes scheduled before policies existed).
FIRST_EFFECTIVE_FROM = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
# Validation: a room that stays open longer than this after the end is a mistake, not a policy.
MAX_CLOSE_DELAY_MINUTES = 24 * 60


def defaults_from_settings() -> dict:
    """The first version: today's environment variables (config/settings.py)."""
    return {
        "teacher_early_join_minutes": settings.TEACHER_EARLY_JOIN_MINUTES,
        "student_late_join_grace_minutes": settings.STUDENT_LATE_JOIN_GRACE_MINUTES,
        "meeting_auto_close_delay_minutes": settings.MEETING_AUTO_CLOSE_DELAY_MINUTES,
        "join_link_lead_minutes": settings.JOIN_LINK_LEAD_MINUTES,
        "feedback_link_lead_minutes": settings.FEEDBACK_LINK_LEAD_MINUTES,
        "teacher_min_attendance_seconds": settings.TEACHER_MIN_ATTENDANCE_SECONDS,
        "payout_dispute_hours": settings.PAYOUT_DISPUTE_HOURS,
        "booking_cancellation_cutoff_minutes": settings.BOOKING_CANCELLATION_CUTOFF_MINUTES,
        "platform_commission_percent": str(Decimal(settings.PLATFORM_COMMISSION_RATE) * 100),
        "late_cancel_percent": str(settings.LATE_CANCEL_PERCENT),
        "student_absence_share_percent": str(settings.STUDENT_ABSENCE_SHARE_PERCENT),
        "close_empty_classes_early": settings.CLOSE_EMPTY_CLASSES_EARLY,
    }


# --- the values of one version ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rules:
    """The values of one version, typed. ``version`` is the ``Policy`` row's id: what a class or a payout cites."""

    version: int
    course_id: int | None
    effective_from: dt.datetime
    teacher_early_join_minutes: int
    student_late_join_grace_minutes: int
    meeting_auto_close_delay_minutes: int
    join_link_lead_minutes: int
    feedback_link_lead_minutes: int
    teacher_min_attendance_seconds: int
    payout_dispute_hours: int
    booking_cancellation_cutoff_minutes: int
    platform_commission_percent: Decimal
    late_cancel_percent: Decimal
    student_absence_share_percent: Decimal
    close_empty_classes_early: bool

    @property
    def early_entry(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.teacher_early_join_minutes)

    @property
    def late_join_grace(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.student_late_join_grace_minutes)

    @property
    def close_delay(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.meeting_auto_close_delay_minutes)

    @property
    def cancellation_cutoff(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.booking_cancellation_cutoff_minutes)

    @property
    def commission_rate(self) -> Decimal:
        """The school's commission as a fraction (a payout's ``commission_rate``)."""
        return self.platform_commission_percent / 100

    def values(self) -> dict:
        """The values as JSON-ready data (percentages as strings, exact)."""
        return {key: _dump(getattr(self, key)) for key in KEYS}


def _dump(value):
    return str(value) if isinstance(value, Decimal) else value


def _rules(row) -> Rules:
    parsed = {key: _parse(key, row.values.get(key)) for key in KEYS}
    return Rules(version=row.pk, course_id=row.course_id, effective_from=row.effective_from, **parsed)


def _parse(key: str, value):
    kind = RULE_BY_KEY[key].kind
    if kind == "switch":
        return value if isinstance(value, bool) else SWITCH_WORDS[str(value).strip().lower()]
    return Decimal(str(value)) if kind == "percent" else int(value)


# --- the one read function, cached for at most one tick ---------------------------------------------------------------


# At most one tick: half of one, so that a clock ticking every second sees a new version on its next tick or the one
# after, 2 s at the very worst (tests/classroom/test_policy_processes.py).
CACHE_SECONDS = TICK_SECONDS / 2


class _Cache:
    """Every version, read at most once per tick per process. Versions are few (one per change of rules), so one
    query reading them all is cheaper than one per question, and every question in a tick sees the same versions."""

    def __init__(self):
        self.lock = threading.Lock()
        self.loaded_at: float | None = None
        self.by_id: dict[int, Rules] = {}
        # Per scope (None: the school; a course id: its overrides), oldest first.
        self.timelines: dict[int | None, list[Rules]] = {}

    def clear(self) -> None:
        with self.lock:
            self.loaded_at = None

    def get(self):
        with self.lock:
            fresh = self.loaded_at is not None and time.monotonic() - self.loaded_at < CACHE_SECONDS
            if not fresh:
                self._load()
            return self.by_id, self.timelines

    def _load(self) -> None:

        rows = list(Policy.objects.order_by("effective_from", "id"))
        if not rows:
            rows = [ensure_first_version()]
        by_id, timelines = {}, {}
        for row in rows:
            rules = _rules(row)
            by_id[row.pk] = rules
            timelines.setdefault(row.course_id, []).append(rules)
        self.by_id, self.timelines = by_id, timelines
        self.loaded_at = time.monotonic()


_cache = _Cache()


def clear_cache() -> None:
    """Forget the versions read in this process (after this process made a new one; tests)."""
    _cache.clear()


def _in_force(timeline: list[Rules], now: dt.datetime) -> Rules | None:
    found = None
    for rules in timeline:
        if rules.effective_from <= now:
            found = rules
        else:
            break
    return found


def current(now: dt.datetime, course_id: int | None = None) -> Rules:
    """The rules in force at ``now`` for a class of ``course_id`` (its course's override, if it has one in force,
    else the school's). Before the first version's date: the first version."""
    _, timelines = _cache.get()
    school = timelines[None]
    found = _in_force(school, now) or school[0]
    if course_id is not None and course_id in timelines:
        override = _in_force(timelines[course_id], now)
        # A course row is remade for every new school version, so the newer of the two is the one that applies.
        if override is not None and override.effective_from >= found.effective_from:
            return override
    return found


def version(pk: int) -> Rules:
    """The rules of version ``pk`` (what a class or a payout cites)."""
    by_id, _ = _cache.get()
    if pk not in by_id:
        clear_cache()  # made in the last tick by another process
        by_id, _ = _cache.get()
    return by_id[pk]


def override_course_ids() -> list[int]:
    """The courses that have (or had) their own version."""
    _, timelines = _cache.get()
    return [course_id for course_id in timelines if course_id is not None]


def all_versions() -> list[Rules]:
    by_id, _ = _cache.get()
    return list(by_id.values())


def by_rule(key: str, condition, now: dt.datetime, *, field: str = "policy") -> Q:
    """A query condition that depends on each class's own version: ``condition(value)`` (a ``Q``) for the classes
    pinned to a version whose ``key`` is ``value``, OR-ed over the values in use (a class not pinned yet: the
    school's version at ``now``). Exact in SQL although the values live in JSON; the versions are few, so the
    condition stays small."""
    groups: dict = {}
    for rules in all_versions():
        groups.setdefault(getattr(rules, key), []).append(rules.version)
    unpinned = getattr(current(now), key)
    if set(groups) <= {unpinned}:
        # Every version says the same (the usual school): one condition for every class, pinned or not. Its SQL
        # names no policy, so PostgreSQL plans it in a fraction of the time (a meeting list's count: issue 22).
        return condition(unpinned)
    unpinned_rows = Q(**{f"{field}__isnull": True})
    combined = Q() if unpinned in groups else unpinned_rows & condition(unpinned)
    for value, ids in groups.items():
        rows = Q(**{f"{field}_id__in": ids})
        combined |= (rows | unpinned_rows if value == unpinned else rows) & condition(value)
    return combined


# --- making versions -------------------------------------------------------------------------------------------------


def ensure_first_version():
    """The first version, from the environment, when there is none (an empty database, or a flushed test one)."""

    with transaction.atomic():
        first = Policy.objects.filter(course__isnull=True).order_by("effective_from", "id").first()
        if first is None:
            first = Policy.objects.create(
                values=defaults_from_settings(),
                effective_from=FIRST_EFFECTIVE_FROM,
                created_at=dt.datetime.now(dt.UTC),
                author_name="system",
                note="first version: the environment variables",
            )
    return first


def parse_assignments(pairs: list[str]) -> dict:
    """``["student_late_join_grace_minutes=15", ...]`` -> {key: text}; PolicyInvalid naming an unknown key."""
    changes, errors = {}, {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().lower()
        if not sep:
            errors[pair] = "expected KEY=VALUE"
        elif key not in RULE_BY_KEY:
            errors[key] = f"unknown key; the keys are {', '.join(KEYS)}"
        else:
            changes[key] = value.strip()
    if errors:
        raise PolicyInvalid(errors)
    return changes


def clean_values(values: dict) -> dict:
    """Each value converted to its kind and checked on its own; PolicyInvalid listing every refusal."""
    cleaned, errors = {}, {}
    for key, raw in values.items():
        rule = RULE_BY_KEY[key]
        if rule.kind == "percent":
            try:
                number = Decimal(str(raw).strip())
            except InvalidOperation:
                errors[key] = gettext("%(value)s is not a number") % {"value": repr(raw)}
                continue
            if not number.is_finite() or not Decimal(0) <= number <= Decimal(100):
                errors[key] = gettext("a percentage is from 0 to 100, got %(value)s") % {"value": raw}
                continue
            cleaned[key] = str(number)
        elif rule.kind == "switch":
            word = raw if isinstance(raw, bool) else SWITCH_WORDS.get(str(raw).strip().lower())
            if word is None:
                errors[key] = gettext("%(value)s is not on or off (say true or false)") % {"value": repr(raw)}
                continue
            cleaned[key] = word
        else:
            try:
                number = int(str(raw).strip())
            except ValueError:
                errors[key] = gettext("%(value)s is not a whole number of %(unit)s") % {
                    "value": repr(raw),
                    "unit": KIND_WORDS[rule.kind],
                }
                continue
            if number < 0:
                errors[key] = gettext("a window cannot be negative, got %(value)s") % {"value": number}
                continue
            cleaned[key] = number
    if errors:
        raise PolicyInvalid(errors)
    return cleaned


def shortest_class_minutes(now: dt.datetime, course_id: int | None = None) -> int | None:
    """The shortest class a late-join grace must fit into: classes not yet over, and the courses' default
    duration (a new class). None when there is neither."""
    Meeting = apps.get_model("meetings", "Meeting")  # meetings sits above classroom: looked up, not imported

    meetings = Meeting.objects.filter(state__in=["scheduled", "open", "in_progress"], end_time__gt=now)
    courses = Course.objects.all()
    if course_id is not None:
        meetings, courses = meetings.filter(course_id=course_id), courses.filter(pk=course_id)
    span = ExpressionWrapper(F("end_time") - F("start_time"), output_field=DurationField())
    shortest = meetings.aggregate(shortest=Min(span))["shortest"]
    default = courses.aggregate(shortest=Min("default_duration_minutes"))["shortest"]
    candidates = [int(shortest.total_seconds() // 60)] if shortest is not None else []
    candidates += [default] if default is not None else []
    return min(candidates) if candidates else None


def overlap_warnings(values: dict, now: dt.datetime, course_id: int | None = None) -> list[str]:
    """A teacher's early entry reaching into their previous class (back-to-back classes): a warning, not an error —
    the room of the next class opens for them while they are still teaching the last one."""
    Meeting = apps.get_model("meetings", "Meeting")  # meetings sits above classroom: looked up, not imported

    early = dt.timedelta(minutes=values["teacher_early_join_minutes"])
    upcoming = Meeting.objects.filter(state__in=["scheduled", "open", "in_progress"], end_time__gt=now)
    if course_id is not None:
        upcoming = upcoming.filter(course_id=course_id)
    overlapping, previous = 0, {}
    for teacher_id, start, end in upcoming.order_by("teacher_id", "start_time").values_list(
        "teacher_id", "start_time", "end_time"
    ):
        if teacher_id in previous and start - early < previous[teacher_id]:
            overlapping += 1
        previous[teacher_id] = max(end, previous.get(teacher_id, end))
    if not overlapping:
        return []
    return [
        gettext(
            "teacher_early_join_minutes=%(minutes)s: %(count)s upcoming class(es) start less than that after the same "
            "teacher's previous class ends; the teacher may enter while still teaching"
        )
        % {"minutes": values["teacher_early_join_minutes"], "count": overlapping}
    ]


def validate(values: dict, *, now: dt.datetime, course_id: int | None = None) -> list[str]:
    """The rules between values and against the timetable; PolicyInvalid for refusals, the warnings returned."""
    errors = {}
    grace = values["student_late_join_grace_minutes"]
    shortest = shortest_class_minutes(now, course_id)
    if shortest is not None and grace > shortest:
        errors["student_late_join_grace_minutes"] = gettext(
            "a late-join grace of %(grace)s min is longer than the shortest class (%(shortest)s min)"
        ) % {"grace": grace, "shortest": shortest}
    if values["meeting_auto_close_delay_minutes"] > MAX_CLOSE_DELAY_MINUTES:
        errors["meeting_auto_close_delay_minutes"] = gettext("a close delay of %(minutes)s min is more than a day") % {
            "minutes": values["meeting_auto_close_delay_minutes"]
        }
    if errors:
        raise PolicyInvalid(errors)
    return overlap_warnings(values, now, course_id)


def diff(before: dict | None, after: dict) -> dict[str, tuple]:
    """{key: (old, new)} for every key whose value changed (all of them against nothing)."""
    before = before or {}
    return {
        key: (before.get(key), after[key])
        for key in KEYS
        if key in after and str(before.get(key)) != str(after[key]) and _differs(key, before.get(key), after[key])
    }


def _differs(key: str, old, new) -> bool:
    if old is None:
        return True
    return _parse(key, old) != _parse(key, new)


def previous_of(policy):
    """The version before ``policy`` in its scope (the school's, or its course's): what the admin diffs against."""

    return (
        Policy.objects.filter(course_id=policy.course_id)
        .filter(Q(effective_from__lt=policy.effective_from) | Q(effective_from=policy.effective_from, pk__lt=policy.pk))
        .order_by("-effective_from", "-id")
        .first()
    )


def check(
    changes: dict, *, note: str, now: dt.datetime, effective_from: dt.datetime | None = None, course=None
) -> list[str]:
    """What :func:`create_version` would refuse (PolicyInvalid) or warn about, without saving anything: the admin's
    form validation."""
    with transaction.atomic():
        made = create_version(changes, note=note, now=now, effective_from=effective_from, course=course)
        transaction.set_rollback(True)
    clear_cache()
    return made.warnings


@dataclass(frozen=True)
class NewVersion:
    policy: object
    changes: dict[str, tuple]
    warnings: list[str]
    # Course versions remade on the new school version (each keeps its course's own keys).
    course_versions: list


def create_version(
    changes: dict,
    *,
    note: str,
    now: dt.datetime,
    author=None,
    effective_from: dt.datetime | None = None,
    course=None,
) -> NewVersion:
    """A new version from the one in force at ``effective_from`` (default ``now``) with ``changes`` applied.

    ``course``: a course override holding ``changes`` as its own keys on top of the school's version (its earlier
    own keys are kept). A new school version remakes every course's override on top of itself, so a course keeps
    its own keys and gets the school's new values. Refuses (PolicyInvalid) a missing note, bad values or a grace
    longer than the shortest class; returns the warnings (an early entry reaching into the previous class)."""

    note = (note or "").strip()
    if not note:
        raise PolicyInvalid(
            {"note": gettext("a note is required: say why the rules change (it is kept with the version)")}
        )
    effective_from = effective_from or now
    if effective_from < now - dt.timedelta(minutes=1):
        raise PolicyInvalid(
            {"effective_from": gettext("a version cannot start in the past: classes already decided on")}
        )
    cleaned = clean_values(changes)
    user = None if author is None or isinstance(author, str) else author
    with transaction.atomic():
        clear_cache()
        school = current(effective_from)  # without a course: always the school's version
        if course is None:
            base = school.values()
            values = {**base, **cleaned}
            warnings = validate(_typed(values), now=now)
            policy = Policy.objects.create(
                values=values,
                effective_from=effective_from,
                created_at=now,
                author=user,
                author_name=actor_name(author),
                note=note,
            )
            remade = [
                _remake_override(row, policy, note=note, now=now, user=user, author=author) for row in _overrides()
            ]
            changed = diff(base, values)
        else:
            in_force = current(effective_from, course.pk)
            own = {key: in_force.values()[key] for key in _own_keys(in_force, course.pk)}
            own.update(cleaned)
            values = {**school.values(), **own}
            warnings = validate(_typed(values), now=now, course_id=course.pk)
            policy = Policy.objects.create(
                course=course,
                based_on_id=school.version,
                values=values,
                overrides=sorted(own),
                effective_from=effective_from,
                created_at=now,
                author=user,
                author_name=actor_name(author),
                note=note,
            )
            remade = []
            changed = diff(in_force.values(), values)
        # This process sees it at once (other processes within a tick); again after commit, in case a read in
        # between cached the versions without it.
        clear_cache()
        transaction.on_commit(clear_cache)
    return NewVersion(policy, changed, warnings, remade)


def _typed(values: dict) -> dict:
    return {key: _parse(key, value) for key, value in values.items()}


def _own_keys(rules: Rules, course_id: int) -> list[str]:

    if rules.course_id != course_id:
        return []
    return list(Policy.objects.values_list("overrides", flat=True).get(pk=rules.version))


def _overrides():
    """Each course's newest override row (the ones a new school version remakes)."""

    newest = {}
    for row in Policy.objects.filter(course__isnull=False).order_by("effective_from", "id"):
        newest[row.course_id] = row
    return [row for row in newest.values() if row.overrides]


def _remake_override(row, school, *, note: str, now, user, author):

    values = {**school.values, **{key: row.values[key] for key in row.overrides}}
    return Policy.objects.create(
        course_id=row.course_id,
        based_on=school,
        values=values,
        overrides=row.overrides,
        effective_from=school.effective_from,
        created_at=now,
        author=user,
        author_name=actor_name(author),
        note=f"school version v{school.pk} with this course's own {', '.join(row.overrides)}: {note}",
    )


def describe(rules: Rules) -> dict:
    """``manage.py policy show``: the version, its scope and date, and its values."""
    return {
        "version": rules.version,
        "course": rules.course_id,
        "effective_from": rules.effective_from.isoformat().replace("+00:00", "Z"),
        "values": rules.values(),
    }
