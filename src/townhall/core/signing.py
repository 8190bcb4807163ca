"""Signed webhooks, one scheme for both directions: HMAC-SHA256 over the timestamp and the raw body.

A sender computes ``sha256=<hex HMAC-SHA256(secret, f"{timestamp}." + body)>`` and sends it in
``X-Townhall-Signature`` together with ``X-Townhall-Timestamp`` (unix seconds). Signing the
timestamp binds it to the body, so an old delivery cannot be replayed with a fresh time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

SIGNATURE_HEADER = "X-Townhall-Signature"
TIMESTAMP_HEADER = "X-Townhall-Timestamp"
# Deliveries older or newer than this are refused: a captured request is useless after it.
TOLERANCE_SECONDS = 300
PREFIX = "sha256="


class SignatureInvalid(Exception):
    """The delivery cannot be trusted; the message says why (never anything secret)."""


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int | str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return PREFIX + mac.hexdigest()


def signed_headers(secret: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    """The headers a sender adds; used by tests, the benchmark and integrators' examples."""
    stamp = int(time.time()) if timestamp is None else timestamp
    return {TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: signature(secret, stamp, body)}


def verify(
    secret: str,
    body: bytes,
    timestamp_header: str | None,
    signature_header: str | None,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    """Raise :class:`SignatureInvalid` unless the delivery was signed with ``secret`` just now."""
    if not timestamp_header:
        raise SignatureInvalid(f"missing {TIMESTAMP_HEADER} header")
    if not signature_header:
        raise SignatureInvalid(f"missing {SIGNATURE_HEADER} header")
    stamp = timestamp_header.strip()
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        raise SignatureInvalid(f"{TIMESTAMP_HEADER} must be unix seconds")
    skew = (time.time() if now is None else now) - int(stamp)
    if abs(skew) > tolerance:
        raise SignatureInvalid(
            f"{TIMESTAMP_HEADER} is {'too old' if skew > 0 else 'in the future'} "
            f"(more than {tolerance} s away from the server's clock)"
        )
    expected = signature(secret, stamp, body)
    # compare_digest needs ASCII on both sides; a non-ASCII header is simply wrong.
    given = signature_header.strip()
    if not given.isascii() or not hmac.compare_digest(expected, given):
        raise SignatureInvalid(f"{SIGNATURE_HEADER} does not match the body")
