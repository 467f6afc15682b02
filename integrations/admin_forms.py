"""What the providers' admin pages share: secrets are write-only and never shown whole."""

from django import forms
from django.contrib import admin


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
