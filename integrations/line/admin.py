"""LINE in the admin: channels (today's sent/failed messages, the 401 flag, followers / linked / reachable
contacts; secrets write-only and never shown whole), contacts (link to a student, unlink, guardians' message kinds;
each link and unlink in the contact's history), the students' contacts and their "generate code" actions."""

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from classroom.admin import StudentAdmin
from classroom.models import Student
from core.admin_utils import ReadOnlyAdmin, ReadOnlyInline
from core.errors import DomainError
from integrations.admin_forms import TodaysMessagesAdmin, WriteOnlySecretsAdmin, WriteOnlySecretsForm, mask
from integrations.line import linking
from integrations.line.models import LineChannel, LineContact, LineWebhookEvent, clear_auth_flags
from notifications.messages import GUARDIAN_KINDS

SECRETS = ("channel_secret", "access_token")


class LineChannelForm(WriteOnlySecretsForm):
    secrets = SECRETS
    new_row = "channel"

    class Meta:
        model = LineChannel
        fields = ["name", "slug", "channel_id", "channel_secret", "access_token", "enabled"]


def _contacts(**conditions):
    """The channel's contacts matching ``conditions``, counted in a subquery (a second joined Count would
    multiply the notification counts)."""
    counted = (
        LineContact.objects.filter(line_channel=OuterRef("pk"), **conditions)
        .order_by()
        .values("line_channel")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


@admin.register(LineChannel)
class LineChannelAdmin(WriteOnlySecretsAdmin, TodaysMessagesAdmin):
    form = LineChannelForm
    list_display = [
        "name",
        "slug",
        "channel_id",
        "enabled",
        "sent_today",
        "failed_today",
        "followers",
        "linked",
        "reachable",
        "token_refused",
        "secret_masked",
        "token_masked",
    ]
    list_filter = ["enabled"]
    search_fields = ["name", "slug", "channel_id"]
    readonly_fields = ["auth_failed_at"]
    actions = ["clear_auth_flag"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                followers_count=_contacts(following=True),
                linked_count=_contacts(student__isnull=False),
                reachable_count=_contacts(following=True, student__isnull=False),
            )
        )

    @admin.display(description=gettext_lazy("followers"), ordering="followers_count")
    def followers(self, obj):
        return obj.followers_count

    @admin.display(description=gettext_lazy("linked"), ordering="linked_count")
    def linked(self, obj):
        return obj.linked_count

    @admin.display(description=gettext_lazy("reachable (linked and following)"), ordering="reachable_count")
    def reachable(self, obj):
        return obj.reachable_count

    @admin.display(description=gettext_lazy("token refused (401)"), ordering="auth_failed_at")
    def token_refused(self, obj):
        if obj.auth_failed_at is None:
            return "—"
        return f"since {obj.auth_failed_at:%Y-%m-%d %H:%M} UTC: replace the access token"

    @admin.display(description=gettext_lazy("channel secret"))
    def secret_masked(self, obj):
        return mask(obj.channel_secret)

    @admin.display(description=gettext_lazy("access token"))
    def token_masked(self, obj):
        return mask(obj.access_token)

    def save_model(self, request, obj, form, change):
        stored = LineChannel.objects.filter(pk=obj.pk).values_list("access_token", flat=True).first()
        if change and stored != obj.access_token:
            obj.auth_failed_at = None  # a new token deserves a new try
        super().save_model(request, obj, form, change)

    @admin.action(description=gettext_lazy("Clear the 401 flag (the token was fixed)"), permissions=["change"])
    def clear_auth_flag(self, request, queryset):
        count = clear_auth_flags(queryset, now=timezone.now(), actor=request.user)
        self.message_user(
            request,
            gettext("%(count)s channels cleared.") % {"count": count},
            messages.SUCCESS,
        )


@admin.register(LineWebhookEvent)
class LineWebhookEventAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "line_channel", "event_type", "line_user_id", "timestamp", "outcome"]
    list_filter = ["event_type", "line_channel", "outcome"]
    search_fields = ["line_user_id", "=webhook_event_id"]


class LineContactForm(forms.ModelForm):
    """Staff link a contact to a student here (an unlinked one only: a linked one is unlinked first), and choose
    which messages a guardian gets."""

    link_to_student = forms.ModelChoiceField(
        queryset=Student.objects.order_by("display_name"),
        required=False,
        help_text=gettext_lazy("Link this LINE contact to a student (it must be unlinked first)."),
        label=gettext_lazy("Link to student"),
    )
    link_role = forms.ChoiceField(
        choices=LineContact.Role.choices,
        initial=LineContact.Role.STUDENT,
        required=False,
        label=gettext_lazy("Link role"),
    )
    guardian_kinds = forms.MultipleChoiceField(
        choices=[(kind, kind.replace("_", " ")) for kind in GUARDIAN_KINDS],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("What a guardian gets about their student (the join link by default)."),
        label=gettext_lazy("Guardian kinds"),
    )

    class Meta:
        model = LineContact
        fields = ["display_name", "guardian_kinds"]

    def clean(self):
        cleaned = super().clean()
        student = cleaned.get("link_to_student")
        contact = self.instance
        if student is not None and contact.student_id not in (None, student.pk):
            raise forms.ValidationError(
                gettext('This contact is linked to %(student)s; unlink it first (action "Unlink").')
                % {"student": contact.student}
            )
        return cleaned


class ContactInline(ReadOnlyInline):
    model = LineContact
    fields = ["line_user_id", "line_channel", "role", "following", "linked_at", "guardian_kinds"]
    readonly_fields = fields
    verbose_name = gettext_lazy("LINE contact")
    verbose_name_plural = gettext_lazy("LINE contacts (the student's own and guardians')")


@admin.register(LineContact)
class LineContactAdmin(admin.ModelAdmin):
    form = LineContactForm
    list_display = [
        "line_user_id",
        "display_name",
        "line_channel",
        "following",
        "student",
        "role",
        "linked_at",
        "unlinked_at",
    ]
    list_filter = ["line_channel", "following", "role", ("student", admin.EmptyFieldListFilter)]
    search_fields = ["line_user_id", "display_name", "student__display_name"]
    list_select_related = ["line_channel", "student"]
    readonly_fields = [
        "line_channel",
        "line_user_id",
        "following",
        "status_changed_at",
        "student",
        "role",
        "linked_at",
        "unlinked_at",
        "code_failures",
        "created_at",
    ]
    actions = ["unlink"]

    def has_add_permission(self, request):
        return False  # contacts come from LINE (a follow or a message)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        student = form.cleaned_data.get("link_to_student")
        if student is not None:
            role = form.cleaned_data.get("link_role") or LineContact.Role.STUDENT
            try:
                outcome = linking.link_contact(
                    obj.pk, student, role=role, now=timezone.now(), actor=request.user, how="staff in the admin"
                )
            except DomainError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(
                    request,
                    gettext("%(contact)s: %(outcome)s to %(student)s.")
                    % {"contact": obj, "outcome": linking.OUTCOME_WORDS.get(outcome, outcome), "student": student},
                    messages.SUCCESS,
                )

    @admin.action(description=gettext_lazy("Unlink (nothing more is sent to them)"), permissions=["change"])
    def unlink(self, request, queryset):
        now = timezone.now()
        outcomes = [
            linking.unlink_contact(pk, now=now, actor=request.user, how="staff in the admin")
            for pk in queryset.values_list("pk", flat=True)
        ]
        self.message_user(
            request,
            gettext("%(count)s contacts unlinked.") % {"count": outcomes.count(linking.UNLINKED)},
            messages.SUCCESS,
        )


admin.site.unregister(Student)


@admin.register(Student)
class StudentWithContactsAdmin(StudentAdmin):
    """The students' admin with their LINE contacts and the binding-code actions."""

    inlines = [*StudentAdmin.inlines, ContactInline]
    actions = [*StudentAdmin.actions, "line_code_student", "line_code_guardian"]

    def _codes(self, request, queryset, role: str):
        now = timezone.now()
        for student in queryset[:20]:
            try:
                code, expires_at, channel = linking.issue_code(student, role=role, now=now, actor=request.user)
            except DomainError as exc:
                self.message_user(
                    request, gettext("%(student)s: %(error)s") % {"student": student, "error": exc}, messages.ERROR
                )
                continue
            self.message_user(
                request,
                gettext(
                    "%(student)s (%(role)s): LINE code %(code)s for channel %(channel)s, valid until %(until)s UTC. "
                    "Give it to them; it is shown only now."
                )
                % {
                    "student": student,
                    "role": LineContact.Role(role).label,
                    "code": code,
                    "channel": channel.slug,
                    "until": f"{expires_at:%Y-%m-%d %H:%M}",
                },
                messages.SUCCESS,
            )

    @admin.action(description=gettext_lazy("Generate a LINE code for the student"), permissions=["change"])
    def line_code_student(self, request, queryset):
        self._codes(request, queryset, LineContact.Role.STUDENT)

    @admin.action(description=gettext_lazy("Generate a LINE code for a parent or guardian"), permissions=["change"])
    def line_code_guardian(self, request, queryset):
        self._codes(request, queryset, LineContact.Role.GUARDIAN)
