"""Zalo's webhook signature (no Django here: the fake signs with it too, run by hand outside Django)."""

from __future__ import annotations

import hashlib


def signature(app_id: str, body: bytes, timestamp: str, oa_secret_key: str) -> str:
    """The value of X-ZEvent-Signature for ``body``: ``mac=`` and the SHA-256 of app id + body + timestamp + the OA
    secret key (as Zalo computes it)."""
    signed = app_id.encode() + body + timestamp.encode() + oa_secret_key.encode()
    return "mac=" + hashlib.sha256(signed).hexdigest()
