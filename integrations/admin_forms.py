"""What the providers' admin pages share: secrets are write-only and never shown whole."""

from django import forms


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
            if not data.get(name):
                if not self.instance.pk:
                    self.add_error(name, f"Required for a new {self.new_row}.")
                data[name] = getattr(self.instance, name)
        return data
