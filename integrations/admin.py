from django import forms
from django.contrib import admin

from integrations.line.models import LineChannel


def mask(secret: str) -> str:
    """Show enough of a secret to recognise it, never enough to use it."""
    if not secret:
        return "—"
    return f"{secret[:4]}…{'*' * 8}" if len(secret) > 8 else "*" * 8


class LineChannelForm(forms.ModelForm):
    # Secrets are write-only in the admin: blank keeps the stored value.
    channel_secret = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        help_text="Leave blank to keep the current secret.",
    )
    access_token = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        help_text="Leave blank to keep the current token.",
    )

    class Meta:
        model = LineChannel
        fields = ["name", "slug", "channel_id", "channel_secret", "access_token", "enabled"]

    def clean(self):
        data = super().clean()
        for field in ("channel_secret", "access_token"):
            if not data.get(field):
                if not self.instance.pk:
                    self.add_error(field, "Required for a new channel.")
                data[field] = getattr(self.instance, field)
        return data


@admin.register(LineChannel)
class LineChannelAdmin(admin.ModelAdmin):
    form = LineChannelForm
    list_display = ["name", "slug", "channel_id", "secret_masked", "token_masked", "enabled", "auth_failed_at"]
    list_filter = ["enabled"]
    search_fields = ["name", "slug", "channel_id"]
    readonly_fields = ["auth_failed_at"]

    @admin.display(description="channel secret")
    def secret_masked(self, obj):
        return mask(obj.channel_secret)

    @admin.display(description="access token")
    def token_masked(self, obj):
        return mask(obj.access_token)


# The video providers' sections (their modules register themselves; imported here so Django's admin autodiscovery,
# which imports only integrations.admin, finds them).
from integrations.livekit import admin as livekit_admin  # noqa: E402, F401
from integrations.zoom import admin as zoom_admin  # noqa: E402, F401
