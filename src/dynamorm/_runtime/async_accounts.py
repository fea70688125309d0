"""``AsyncPartnerDB``: a ``MultiAccount`` partner of an ``AsyncDB`` base (loaded with the first
one, so a ``DB``-only program never imports asyncio)."""

from __future__ import annotations

from dynamorm._orm.async_db import AsyncDB
from dynamorm._runtime.accounts import PartnerSettings


class AsyncPartnerDB(PartnerSettings, AsyncDB):
    """An :class:`AsyncDB` on a partner's account; ``partner_id`` names the partner."""
