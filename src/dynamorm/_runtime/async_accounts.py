"""``AsyncPartnerDB``: a ``MultiAccount`` partner of an ``AsyncDB`` base (loaded with the first
one, so a ``DB``-only program never imports asyncio)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dynamorm._orm.async_db import AsyncDB
from dynamorm._runtime.accounts import PartnerDB

if TYPE_CHECKING:
    from dynamorm._core.retry import RetryPolicy
    from dynamorm._features.encryption import DataKeyPolicy
    from dynamorm._io.provider import CredentialsProvider


class AsyncPartnerDB(AsyncDB):
    """An :class:`AsyncDB` on a partner's account; ``partner_id`` names the partner."""

    __repr__ = PartnerDB.__repr__

    def __init__(
        self,
        partner_id: str,
        *,
        label: str,
        region: str,
        endpoint_url: str | None,
        credentials: CredentialsProvider,
        table_prefix: str,
        retry: RetryPolicy,
        timeout: tuple[float, float],
        transport: Any,
        kms_key_arn: str | None = None,
        kms_endpoint_url: str | None = None,
        data_keys: DataKeyPolicy | None = None,
        cursor_secret: bytes | None = None,
    ) -> None:
        super().__init__(
            region=region,
            endpoint_url=endpoint_url,
            credentials=credentials,
            table_prefix=table_prefix,
            retry=retry,
            timeout=timeout,
            transport=transport,
            kms_key_arn=kms_key_arn,
            kms_endpoint_url=kms_endpoint_url,
            data_keys=data_keys,
            cursor_secret=cursor_secret,
        )
        self.partner_id = partner_id
        self._label = label
