"""Storage formats of other libraries, for tables shared with them during a migration."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dynamorm._core.errors import ValidationError
from dynamorm._core.timecodec import decode_datetime, encode_datetime


class PynamoDBDateTime:
    """A ``field(converter=...)`` storing datetimes as PynamoDB's ``UTCDateTimeAttribute``
    does (``2024-05-01T12:00:00.000000+0000``), for tables PynamoDB also reads and writes.

    Reading accepts that format and DynamORM's own (``...Z``); values come back as aware UTC
    datetimes. Works on ``created_at``/``updated_at`` fields too.
    """

    python_type = datetime

    def encode(self, value: Any, /) -> dict[str, Any]:
        """``{"S": "%Y-%m-%dT%H:%M:%S.%f+0000"}``; naive datetimes are refused."""
        if not isinstance(value, datetime):
            raise ValidationError(f"expected datetime, got {type(value).__name__}")
        return {"S": encode_datetime(value)[:-1] + "+0000"}

    def decode(self, av: dict[str, Any], /) -> datetime:
        """An aware UTC datetime from PynamoDB's format or DynamORM's."""
        text = av.get("S") if isinstance(av, dict) else None
        if not isinstance(text, str):
            raise ValidationError(f"expected a stored S timestamp, got {av!r:.60}")
        return decode_datetime(text)

    def __repr__(self) -> str:
        return "PYNAMODB_DATETIME"


PYNAMODB_DATETIME = PynamoDBDateTime()
"""The converter instance: ``field(created_at=True, converter=PYNAMODB_DATETIME)``."""
