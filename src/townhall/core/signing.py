"""The webhook signature scheme, one for both directions: HMAC-SHA256 over "<timestamp>.<body>".

Headers: ``X-Townhall-Timestamp: <unix seconds>`` and
``X-Townhall-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}." + body)>``.
Signing the timestamp with the body lets a receiver refuse replays of an old request.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_PREFIX = "sha256="
# How far a signed timestamp may be from the receiver's clock before the request is refused.
DEFAULT_TOLERANCE_SECONDS = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Townhall-Signature value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return SIGNATURE_PREFIX + digest.hexdigest()


def signature_matches(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: float,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """True when ``signature`` is ours for this body and the timestamp is recent enough."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent_at) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, sent_at, body).encode(), signature.strip().encode())
