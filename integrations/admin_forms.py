"""What the providers' admin pages share: secrets are write-only and never shown whole."""

import datetime as dt

from django import forms
from django.contrib import admin
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy


def mask(secret: str) -> str:
    """Show enough of a secret to recognise it, never enough to use it."""
    if not secret:
        return "—"
    return f"{secret[:4]}…{'*' * 8}" if len(secret) > 8 else "*" * 8


class WriteOnlySecretsForm(forms.ModelForm):
    """The fields named in ``secrets`` are empty on the form (the stored value never reaches the page); left blank
    they keep the stored value, and a new row must have them. ``new_row`` names the row in the error ("channel")."""

    secrets: tuple[str, ...] = ()
    new_row = "entry"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.secrets:
            if name not in self.fields:
                continue  # not on this form (a view-only page: see WriteOnlySecretsAdmin)
            label = self.fields[name].label
            self.fields[name] = forms.CharField(
                label=label,
                widget=forms.PasswordInput(render_value=False),
                required=False,
                help_text=f"Leave blank to keep the current {label.lower()}.",
            )

    def clean(self):
        data = super().clean()
        for name in self.secrets:
            if name in self.fields and not data.get(name):
                if not self.instance.pk:
                    self.add_error(name, f"Required for a new {self.new_row}.")
                data[name] = getattr(self.instance, name)
        return data


class WriteOnlySecretsAdmin(admin.ModelAdmin):
    """A model admin whose form is a WriteOnlySecretsForm: a staff member who may only view the row gets a page
    without the secret fields (Django would show every field of a view-only page as read-only text, in full)."""

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if self.has_change_permission(request, obj):
            return fields
        return [name for name in fields if name not in self.form.secrets]


def today_start() -> dt.datetime:
    return timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)


class TodaysMessagesAdmin(admin.ModelAdmin):
    """A channel list with today's sent and failed messages: ``messages_path`` is the path from the channel to its
    notifications (``notification`` for LINE, ``messages__notification`` for Zalo)."""

    messages_path = "notification"

    def todays_counts(self) -> dict:
        path, since = self.messages_path, today_start()
        return {
            "sent_today_count": Count(path, filter=Q(**{f"{path}__state": "sent", f"{path}__sent_at__gte": since})),
            "failed_today_count": Count(
                path, filter=Q(**{f"{path}__state": "failed", f"{path}__failed_at__gte": since})
            ),
        }

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(**self.todays_counts())

    @admin.display(description=gettext_lazy("sent today (UTC)"), ordering="sent_today_count")
    def sent_today(self, obj):
        return obj.sent_today_count

    @admin.display(description=gettext_lazy("failed today (UTC)"), ordering="failed_today_count")
    def failed_today(self, obj):
        return obj.failed_today_count
