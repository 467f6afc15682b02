from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from classroom import policies
from classroom.models import Course, Policy, Student, Teacher


@admin.register(Teacher)
class TeacherAdmin(admin.ModelAdmin):
    list_display = ["display_name", "user", "email", "time_zone", "commission_rate", "created_at"]
    list_filter = ["time_zone", "language"]
    search_fields = ["display_name", "email", "user__username"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    raw_id_fields = ["user"]


@admin.register(Student)
class StudentAdmin(admin.ModelAdmin):
    """Students; their LINE contacts (an inline, with the link actions) are added by integrations.line.admin."""

    list_display = ["display_name", "email", "time_zone", "created_at"]
    list_filter = ["time_zone", "language"]
    search_fields = ["display_name", "email", "user__username"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    raw_id_fields = ["user"]


@admin.register(Course)
class CourseAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "price",
        "currency",
        "capacity",
        "min_participants",
        "default_duration_minutes",
        "record_classes",
    ]
    list_filter = ["currency", "record_classes"]
    search_fields = ["title", "description"]
    date_hierarchy = "created_at"


# The form field of each kind of rule (whole numbers otherwise).
FIELD_OF_KIND = {"percent": forms.DecimalField, "switch": forms.BooleanField}


class PolicyVersionForm(forms.Form):
    """A new version, filled in with the values in force now; saving makes a new row (a version is never edited)."""

    course = forms.ModelChoiceField(
        queryset=Course.objects.all(),
        required=False,
        empty_label=_("the whole school"),
        help_text=_("A course: the values you change become that course's own (an override)."),
        label=_("Course"),
    )
    effective_from = forms.DateTimeField(
        required=False,
        help_text=_("UTC, e.g. 2026-03-25 00:00. Empty: now. Classes not yet open are re-pinned then."),
        label=_("Effective from"),
    )
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), help_text=_("Why the rules change (required)."), label=_("Note")
    )

    def __init__(self, *args, now, **kwargs):
        super().__init__(*args, **kwargs)
        self.now = now
        self.warnings: list[str] = []
        in_force = policies.current(now).values()
        for rule in policies.RULES:
            field_class = FIELD_OF_KIND.get(rule.kind, forms.IntegerField)
            self.fields[rule.key] = field_class(
                initial=in_force[rule.key],
                help_text=gettext("%(help)s (%(kind)s)") % {"help": rule.help, "kind": policies.KIND_WORDS[rule.kind]},
                # An unticked box is "off", not a missing value.
                **({"required": False} if rule.kind == "switch" else {}),
            )

    def changes(self) -> dict:
        """The values that differ from the version in force (for a course: those become its own)."""
        data = self.cleaned_data
        in_force = policies.current(data.get("effective_from") or self.now, getattr(data.get("course"), "pk", None))
        values = in_force.values()
        return {
            key: data[key]
            for key in policies.KEYS
            if data.get(key) is not None and policies.diff({key: values[key]}, {key: data[key]})
        }

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            self.warnings = policies.check(
                self.changes(),
                note=data.get("note", ""),
                now=self.now,
                effective_from=data.get("effective_from"),
                course=data.get("course"),
            )
        except policies.PolicyInvalid as exc:
            for key, message in exc.errors.items():
                self.add_error(key if key in self.fields else None, message)
        return data


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin):
    """Versions are listed and read here; "Add" makes a new version from the current one (thin: classroom.policies
    validates and saves). Nothing is ever changed or deleted: payouts and refunds cite these rows."""

    list_display = ["version", "course", "effective_from", "author_name", "note", "changed"]
    list_filter = [("course", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["note", "author_name"]
    date_hierarchy = "effective_from"
    list_select_related = ["course"]
    fields = readonly_fields = [
        "version",
        "course",
        "based_on",
        "effective_from",
        "created_at",
        "author_name",
        "note",
        "overrides",
        "diff_against_previous",
        "all_values",
    ]

    @admin.display(description=_("version"), ordering="id")
    def version(self, obj):
        return f"v{obj.pk}"

    @admin.display(description=_("changed from the previous version"))
    def changed(self, obj):
        previous = policies.previous_of(obj)
        if previous is None:
            return gettext("first version")
        changes = policies.diff(previous.values, obj.values)
        return ", ".join(f"{key} {old} → {new}" for key, (old, new) in changes.items()) or gettext("no value changed")

    @admin.display(description=_("diff against the previous version"))
    def diff_against_previous(self, obj):
        previous = policies.previous_of(obj)
        if previous is None:
            return gettext("first version")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((key, old, new) for key, (old, new) in policies.diff(previous.values, obj.values).items()),
        )
        return format_html(
            "<p>{}</p><table><tr><th>{}</th><th>{}</th><th>{}</th></tr>{}</table>",
            gettext("against v%(version)s") % {"version": previous.pk},
            gettext("value"),
            gettext("before"),
            gettext("now"),
            rows,
        )

    @admin.display(description=_("values"))
    def all_values(self, obj):
        return format_html(
            "<table>{}</table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td></tr>", ((k, obj.values.get(k)) for k in policies.KEYS)),
        )

    def has_change_permission(self, request, obj=None):
        return False  # never edited in place

    def has_delete_permission(self, request, obj=None):
        return False  # cited by classes, payouts and refunds

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        now = timezone.now()
        form = PolicyVersionForm(request.POST or None, now=now)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            made = policies.create_version(
                form.changes(),
                note=data["note"],
                now=now,
                author=request.user,
                effective_from=data.get("effective_from"),
                course=data.get("course"),
            )
            for warning in made.warnings:
                messages.warning(request, warning)
            changed = ", ".join(f"{k} {old} → {new}" for k, (old, new) in made.changes.items()) or gettext(
                "no value changed"
            )
            messages.success(request, f"{made.policy}: {changed}")
            return redirect("admin:classroom_policy_change", made.policy.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("New policy version"),
            "form": form,
            "opts": self.model._meta,
            "in_force": policies.current(now),
        }
        return TemplateResponse(request, "admin/classroom/policy/new_version.html", context)
