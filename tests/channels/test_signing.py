"""Webhook signatures: HMAC over timestamp and body, constant-time compare, a replay window."""

from __future__ import annotations

import pytest

from townhall.core import signing

SECRET = "s3cret-for-tests"
BODY = b'{"items": []}'
NOW = 1_800_000_000


def headers(**overrides: str | None) -> tuple[str | None, str | None]:
    signed = signing.signed_headers(SECRET, BODY, timestamp=NOW)
    values = {
        "timestamp": signed[signing.TIMESTAMP_HEADER],
        "signature": signed[signing.SIGNATURE_HEADER],
    }
    values.update(overrides)  # type: ignore[arg-type]
    return values["timestamp"], values["signature"]


def test_a_fresh_correct_signature_passes() -> None:
    timestamp, signature = headers()
    assert signature is not None and signature.startswith("sha256=")
    signing.verify(SECRET, BODY, timestamp, signature, now=NOW + 10)


def test_the_known_answer_matches_the_documented_recipe() -> None:
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert signing.signature(SECRET, NOW, BODY) == f"sha256={expected}"


@pytest.mark.parametrize(
    ("secret", "body", "timestamp", "signature", "reason"),
    [
        ("other-secret", BODY, None, None, "does not match"),
        (SECRET, BODY + b" ", None, None, "does not match"),  # body changed after signing
        (SECRET, BODY, str(NOW + 1), None, "does not match"),  # timestamp changed after signing
        (SECRET, BODY, None, "sha256=" + "0" * 64, "does not match"),
        (SECRET, BODY, None, "sha256=é", "does not match"),
        (SECRET, BODY, "", None, "missing X-Townhall-Timestamp"),
        (SECRET, BODY, None, "", "missing X-Townhall-Signature"),
        (SECRET, BODY, "yesterday", None, "unix seconds"),
        (SECRET, BODY, "-5", None, "unix seconds"),
    ],
)
def test_bad_or_missing_signatures_are_refused(
    secret: str, body: bytes, timestamp: str | None, signature: str | None, reason: str
) -> None:
    good_timestamp, good_signature = headers()
    with pytest.raises(signing.SignatureInvalid, match=reason):
        signing.verify(
            secret,
            body,
            good_timestamp if timestamp is None else timestamp,
            good_signature if signature is None else signature,
            now=NOW,
        )


@pytest.mark.parametrize(
    ("now", "reason"),
    [
        (NOW + signing.TOLERANCE_SECONDS + 1, "too old"),
        (NOW - signing.TOLERANCE_SECONDS - 1, "future"),
    ],
)
def test_stale_and_future_deliveries_are_refused_even_when_signed(now: int, reason: str) -> None:
    timestamp, signature = headers()
    with pytest.raises(signing.SignatureInvalid, match=reason):
        signing.verify(SECRET, BODY, timestamp, signature, now=now)


def test_the_edges_of_the_window_are_accepted() -> None:
    timestamp, signature = headers()
    for now in (NOW - signing.TOLERANCE_SECONDS, NOW + signing.TOLERANCE_SECONDS):
        signing.verify(SECRET, BODY, timestamp, signature, now=now)
