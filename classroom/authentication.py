"""``Authorization: Token <token>`` against classroom.tokens (digests, expiry) instead of DRF's plaintext authtoken."""

from django.utils import timezone
from rest_framework import authentication, exceptions

from classroom import tokens


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's header parsing and ``WWW-Authenticate: Token``; the lookup is by digest and refuses expired tokens."""

    def authenticate_credentials(self, key):
        try:
            record = tokens.authenticate(key, now=timezone.now())
        except tokens.TokenRefused as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc
        return record.user, record
