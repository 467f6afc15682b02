"""``manage.py policy show | set KEY=VALUE ... --note "..." | history``: the school's rules, changed without a restart
(README "Policies"). Every refusal is a non-zero exit with the reason."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from classroom import policies
from classroom.models import Course, Policy
from core.management.cli import actor, parse_now


class Command(BaseCommand):
    help = "Show, change (a new version) or list the versions of the class windows and money rules."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        show = sub.add_parser("show", help="The version in force now, as JSON.")
        show.add_argument("--course", type=int, help="A course's rules (its override, if any).")
        change = sub.add_parser("set", help="Make a new version from the current one with KEY=VALUE changes.")
        change.add_argument("assignments", nargs="+", metavar="KEY=VALUE", help=", ".join(policies.KEYS))
        change.add_argument("--note", required=True, help="Why the rules change (kept with the version).")
        change.add_argument("--course", type=int, help="Make these values the course's own (an override).")
        change.add_argument("--effective-from", help="ISO 8601 with an offset; default: now.")
        change.add_argument("--by", help="The staff user making the change (default: the operator at this terminal).")
        history = sub.add_parser("history", help="Every version, newest first.")
        history.add_argument("--course", type=int, help="Only this course's versions.")

    def handle(self, *args, action, **options):
        course = self._course(options.get("course"))
        getattr(self, f"_{action}")(course, options)

    def _course(self, course_id):
        if course_id is None:
            return None
        course = Course.objects.filter(pk=course_id).first()
        if course is None:
            raise CommandError(f"--course {course_id}: there is no such course")
        return course

    def _show(self, course, options):
        rules = policies.current(parse_now(None), course.pk if course else None)
        self.stdout.write(json.dumps(policies.describe(rules), indent=2))

    def _set(self, course, options):
        now = parse_now(None)
        effective_from = (
            parse_now(options["effective_from"], option="--effective-from") if options["effective_from"] else None
        )
        try:
            made = policies.create_version(
                policies.parse_assignments(options["assignments"]),
                note=options["note"],
                now=now,
                author=actor(options["by"]),
                effective_from=effective_from,
                course=course,
            )
        except policies.PolicyInvalid as exc:
            raise CommandError(f"refused, nothing saved: {exc}") from None
        self.stdout.write(f"{made.policy} ({made.policy.note})")
        if not made.changes:
            self.stdout.write("no value changed")
        for key, (old, new) in made.changes.items():
            self.stdout.write(f"  {key}: {old} -> {new}")
        for remade in made.course_versions:
            self.stdout.write(f"  remade {remade} (keeps its own {', '.join(remade.overrides)})")
        for warning in made.warnings:
            self.stderr.write(f"warning: {warning}")

    def _history(self, course, options):
        versions = Policy.objects.filter(course=course) if course else Policy.objects.all()
        for row in versions.order_by("-effective_from", "-id"):
            previous = policies.previous_of(row)
            changed = policies.diff(previous.values if previous else None, row.values)
            summary = ", ".join(f"{k}={new}" for k, (_, new) in changed.items()) if previous else "first version"
            self.stdout.write(
                f"v{row.pk}\t{row.effective_from:%Y-%m-%dT%H:%MZ}\t{row.author_name}\t{row.note}\t{summary}"
            )
