"""Dates and times <-> DynamoDB text and numbers (pure; no I/O).

Split from :mod:`dynamorm._core.codec` so that ``datetime`` loads only for models and values
that use it: a model declaring a ``datetime`` field imported it already, and a generic value
that is a datetime comes from a program that did.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from dynamorm._core.codec import decode_int
from dynamorm._core.errors import ValidationError


def _wrong_type(expected: str, value: object) -> ValidationError:
    got = "None" if value is None else type(value).__name__
    return ValidationError(f"expected {expected}, got {got}")


def encode_datetime(value: datetime) -> str:
    """UTC RFC 3339 with fixed-width microseconds; naive datetimes are rejected."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            "a naive datetime is ambiguous; use a timezone-aware datetime (e.g. datetime.now(UTC))"
        )
    if value.tzinfo is UTC:
        return value.isoformat(timespec="microseconds")[:-6] + "Z"
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValidationError("the datetime is out of range in UTC") from None
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def decode_datetime(text: str) -> datetime:
    """Parse a stored RFC 3339 timestamp into an aware datetime in UTC."""
    try:
        value = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise ValidationError("the stored text is not an RFC 3339 timestamp") from None
    if value.tzinfo is None:
        raise ValidationError("the stored timestamp has no timezone")
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def encode_epoch(value: datetime) -> str:
    """A datetime as whole epoch seconds (DynamoDB TTL format); sub-second parts are dropped."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError("a naive datetime is ambiguous; use a timezone-aware datetime")
    seconds = value.timestamp()
    return str(int(seconds // 1))


def decode_epoch(text: str) -> datetime:
    """Epoch seconds (a TTL attribute) as an aware UTC datetime."""
    try:
        return datetime.fromtimestamp(decode_int(text), UTC)
    except (OverflowError, OSError, ValueError):
        raise ValidationError("the stored epoch seconds are out of range") from None


def encode_date(value: date) -> str:
    """An ISO 8601 calendar date (``YYYY-MM-DD``)."""
    return value.isoformat()


def decode_date(text: str) -> date:
    """Parse a stored ``YYYY-MM-DD`` date."""
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        raise ValidationError("the stored text is not an ISO 8601 date") from None


# --- field checks (typed codecs: the text stored for a value of the declared type) ----------


def check_datetime(value: object) -> str:
    """The stored text of a ``datetime`` field's value."""
    if isinstance(value, datetime):
        return encode_datetime(value)
    raise _wrong_type("datetime", value)


def check_date(value: object) -> str:
    """The stored text of a ``date`` field's value (a datetime is not a date here)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return encode_date(value)
    raise _wrong_type("date", value)


def check_epoch(value: object) -> str:
    """The stored epoch seconds of a TTL ``datetime`` field's value."""
    if isinstance(value, datetime):
        return encode_epoch(value)
    raise _wrong_type("datetime", value)
