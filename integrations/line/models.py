from django.db import models


class LineChannel(models.Model):
    """One LINE Official Account. Each has its own webhook URL (/integrations/line/webhook/<slug>/) so the right
    secret is known before the body is parsed."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(unique=True)
    channel_id = models.CharField(max_length=64)
    channel_secret = models.CharField(max_length=128)
    access_token = models.TextField()
    enabled = models.BooleanField(default=True)
    # Set when LINE answered 401: the token is wrong or revoked; the admin shows it until staff fix the token.
    auth_failed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "integrations"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
