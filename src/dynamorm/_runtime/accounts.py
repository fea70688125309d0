"""Multi-account partners: one DB per partner account, each on its own assumed-role credentials.

    acme = PartnerAccount(ROLE_ARN, external_id=EXTERNAL_ID, table_prefix="acme_")
    accounts = MultiAccount(DB(), {"acme": acme})
    db = accounts.partner("acme")  # cached per partner; STS is called on first use only

The STS machinery (:mod:`dynamorm._runtime.sts`) is imported when the first partner DB is built.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypedDict, Unpack, cast

from dynamorm._core.errors import ConfigurationError, UnknownPartner
from dynamorm._core.regions import check_region
from dynamorm._io.transport import Endpoint
from dynamorm._orm.base import DBBase
from dynamorm._orm.db import DB, valid_key_arn, valid_table_prefix
from dynamorm._runtime.context import credentials_deadline, mask_partner_id

if TYPE_CHECKING:
    from typing_extensions import TypeVar

    from dynamorm._orm.async_db import AsyncDB
    from dynamorm._runtime.sts import StsClient

    D = TypeVar("D", bound="DB | AsyncDB", default=DB)
    """The kind of handle: ``DB`` (the default) or ``AsyncDB``."""
else:
    from typing import TypeVar

    D = TypeVar("D")
    from dynamorm._runtime.sts import StsClient

ENV_PARTNERS = "DYNAMORM_PARTNERS"

_ROLE_ARN = re.compile(
    r"arn:(aws|aws-cn|aws-us-gov):iam::\d{12}:role/(?:[!-~]*/)?[\w+=,.@-]{1,64}", re.ASCII
)
_EXTERNAL_ID = re.compile(r"[\w+=,.@:/-]{2,1224}", re.ASCII)
_PARTNER_ID = re.compile(r"[\w+=,.@:-]{1,64}", re.ASCII)
_MIN_DURATION, _MAX_DURATION = 900, 43200
_SETTINGS = (
    "role_arn",
    "external_id",
    "region",
    "table_prefix",
    "session_duration",
    "endpoint_url",
    "kms_key_arn",
)


def _partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws-us-gov" if region.startswith("us-gov-") else "aws"


def _check_partner_id(partner_id: object) -> str:
    if not isinstance(partner_id, str) or not _PARTNER_ID.fullmatch(partner_id):
        raise ConfigurationError(
            f"invalid partner id {partner_id!r}: use 1-64 letters, digits or _+=,.@:-"
        )
    return partner_id


class PartnerAccount:
    """Where a partner's tables live and how to reach them: an IAM role to assume.

    ``role_arn`` is ``arn:aws[-cn|-us-gov]:iam::<12 digits>:role/<name>``; ``external_id`` is
    sent with AssumeRole (never shown in repr or errors); ``region`` defaults to the base DB's;
    ``table_prefix`` is prepended to every logical table name; ``session_duration`` is seconds,
    900 to 43200; ``endpoint_url`` overrides the partner's DynamoDB endpoint. ``kms_key_arn``
    is the partner's own KMS key for encrypted fields (used with the partner's credentials);
    without it the partner DB encrypts with the base DB's key and credentials.
    """

    __slots__ = (
        "endpoint_url",
        "external_id",
        "kms_key_arn",
        "region",
        "role_arn",
        "session_duration",
        "table_prefix",
    )

    role_arn: str
    external_id: str | None
    region: str | None
    table_prefix: str
    session_duration: int
    endpoint_url: str | None
    kms_key_arn: str | None

    def __init__(
        self,
        role_arn: str,
        *,
        external_id: str | None = None,
        region: str | None = None,
        table_prefix: str = "",
        session_duration: int = 3600,
        endpoint_url: str | None = None,
        kms_key_arn: str | None = None,
    ) -> None:
        if not isinstance(role_arn, str) or not _ROLE_ARN.fullmatch(role_arn):
            raise ConfigurationError(
                f"invalid role ARN {role_arn!r}: expected "
                "arn:aws[-cn|-us-gov]:iam::<12-digit account>:role/<name>"
            )
        if external_id is not None and (
            not isinstance(external_id, str) or not _EXTERNAL_ID.fullmatch(external_id)
        ):
            raise ConfigurationError(
                "invalid external_id: use 2-1224 letters, digits or _+=,.@:/- (value not shown)"
            )
        if region is not None:
            check_region(region, custom_endpoint=endpoint_url is not None)
        if not valid_table_prefix(table_prefix):
            raise ConfigurationError(
                "table_prefix may hold only letters, digits, '_', '-' and '.', "
                f"got {table_prefix!r}"
            )
        if (
            isinstance(session_duration, bool)
            or not isinstance(session_duration, int)
            or not _MIN_DURATION <= session_duration <= _MAX_DURATION
        ):
            raise ConfigurationError(
                f"session_duration must be whole seconds from {_MIN_DURATION} to "
                f"{_MAX_DURATION}, got {session_duration!r}"
            )
        if endpoint_url is not None:
            Endpoint(endpoint_url)
        if kms_key_arn is not None and not valid_key_arn(kms_key_arn):
            raise ConfigurationError(
                f"invalid kms_key_arn {kms_key_arn!r}: expected "
                "arn:aws:kms:<region>:<12-digit account>:key/<id> (or alias/<name>)"
            )
        set_ = object.__setattr__
        set_(self, "role_arn", role_arn)
        set_(self, "external_id", external_id)
        set_(self, "region", region)
        set_(self, "table_prefix", table_prefix)
        set_(self, "session_duration", session_duration)
        set_(self, "endpoint_url", endpoint_url)
        set_(self, "kms_key_arn", kms_key_arn)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PartnerAccount:
        """Build from a mapping with the constructor's keyword names; unknown keys are an error."""
        if not isinstance(data, Mapping):
            raise ConfigurationError(
                f"a partner account must be a mapping of settings, got {type(data).__name__}"
            )
        unknown = sorted(str(key) for key in data if key not in _SETTINGS)
        if unknown:
            raise ConfigurationError(
                f"unknown partner setting(s) {', '.join(unknown)}; expected: {', '.join(_SETTINGS)}"
            )
        if "role_arn" not in data:
            raise ConfigurationError("a partner account needs a role_arn")
        return cls(**data)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("PartnerAccount is immutable; build a new one")

    def _key(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in _SETTINGS)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PartnerAccount):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        external = "'****'" if self.external_id is not None else "None"
        return (
            f"PartnerAccount({self.role_arn!r}, external_id={external}, region={self.region!r}, "
            f"table_prefix={self.table_prefix!r}, session_duration={self.session_duration}, "
            f"endpoint_url={self.endpoint_url!r}, kms_key_arn={self.kms_key_arn!r})"
        )


def _account(partner_id: str, value: object) -> PartnerAccount:
    if isinstance(value, PartnerAccount):
        return value
    if isinstance(value, Mapping):
        try:
            return PartnerAccount.from_dict(value)
        except ConfigurationError as exc:
            raise ConfigurationError(f"partner {partner_id!r}: {exc.message}") from None
    raise ConfigurationError(
        f"partner {partner_id!r}: expected a PartnerAccount or a mapping of settings, "
        f"got {type(value).__name__}"
    )


class PartnerSettings:
    """What makes a handle a partner's: its id and label (shared by ``PartnerDB`` and the async
    ``AsyncPartnerDB``); every other setting goes to the handle's own constructor."""

    partner_id: str
    _label: str
    region: str
    table_prefix: str
    client: Any

    def __init__(self, partner_id: str, *, label: str, **settings: Any) -> None:
        super().__init__(**settings)
        self.partner_id = partner_id
        self._label = label

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(partner={self._label!r}, region={self.region!r}, "
            f"endpoint_url={self.client.endpoint.url!r}, table_prefix={self.table_prefix!r})"
        )


class PartnerDB(PartnerSettings, DB):
    """A :class:`DB` on a partner's account; ``partner_id`` names the partner."""


class MultiAccountOptions(TypedDict, total=False):
    """Keyword options shared by :class:`MultiAccount` and its ``from_*`` constructors."""

    sts_endpoint_url: str | None
    refresh_margin: float
    mask_partner_ids: bool
    clock: Callable[[], float] | None


class MultiAccount(Generic[D]):
    """A base :class:`DB` plus one cached DB per partner account (an ``AsyncDB`` base gives
    ``AsyncDB`` partners: ``await accounts.partner("acme").get(...)``).

    ``base`` (default ``DB()``) supplies the credentials that call STS, the default region, the
    retry policy, timeouts and the HTTP transport; each partner DB gets the partner's assumed-role
    credentials, region and table prefix. ``partners`` maps partner ids to
    :class:`PartnerAccount` objects or dicts of their settings. STS is reached at
    ``sts_endpoint_url`` (default: ``$AWS_ENDPOINT_URL_STS``, else the base region's endpoint);
    partner DBs share the base's ``cursor_secret``. Credentials are refreshed
    ``refresh_margin`` seconds before they expire, judged by ``clock`` (default ``time.time``).
    Partner ids in this library's logs and reprs are masked unless ``mask_partner_ids=False``.
    """

    def __init__(
        self,
        base: D | None = None,
        partners: Mapping[str, PartnerAccount | Mapping[str, Any]] | None = None,
        *,
        sts_endpoint_url: str | None = None,
        refresh_margin: float = 300.0,
        mask_partner_ids: bool = True,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if base is None:
            base = DB()  # type: ignore[assignment]  # D's default
        if sts_endpoint_url is None:  # the standard per-service variable, as DB reads its own
            sts_endpoint_url = os.environ.get("AWS_ENDPOINT_URL_STS") or None
        if not isinstance(base, DBBase):
            raise ConfigurationError(f"base must be a DB or an AsyncDB, got {type(base).__name__}")
        if (
            isinstance(refresh_margin, bool)
            or not isinstance(refresh_margin, int | float)
            or not 0 <= refresh_margin < _MIN_DURATION
        ):
            raise ConfigurationError(
                f"refresh_margin must be seconds from 0 to under {_MIN_DURATION}, "
                f"got {refresh_margin!r}"
            )
        if sts_endpoint_url is not None:
            Endpoint(sts_endpoint_url)
        if partners is not None and not isinstance(partners, Mapping):
            raise ConfigurationError(
                f"partners must map partner ids to accounts, got {type(partners).__name__}"
            )
        self._base = base
        self._sts_endpoint_url = sts_endpoint_url
        self._margin = float(refresh_margin)
        self._mask = mask_partner_ids
        self._clock = clock
        self._lock = threading.Lock()
        self._accounts: dict[str, PartnerAccount] = {}
        self._dbs: dict[str, D] = {}
        self._sts: StsClient | None = None
        for partner_id, account in (partners or {}).items():
            self._accounts[_check_partner_id(partner_id)] = self._checked(partner_id, account)

    @classmethod
    def from_json(
        cls,
        source: str | os.PathLike[str],
        *,
        base: DB | None = None,
        **options: Unpack[MultiAccountOptions],
    ) -> MultiAccount:
        """Load the partner map from JSON text (starting with ``{``) or a JSON file's path."""
        if isinstance(source, str) and source.lstrip().startswith("{"):
            text, origin = source, "the partner JSON"
        else:
            path = os.fspath(source)
            origin = f"partner file {path}"
            try:
                with open(path, encoding="utf-8") as handle:
                    text = handle.read()
            except OSError as exc:
                raise ConfigurationError(
                    f"cannot read {origin}: {exc.strerror or type(exc).__name__}"
                ) from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(
                f"{origin} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            ) from None
        if not isinstance(data, dict):
            raise ConfigurationError(
                f"{origin} must be a JSON object mapping partner ids to settings"
            )
        return MultiAccount(DB() if base is None else base, data, **options)

    @classmethod
    def from_env(
        cls,
        *,
        base: DB | None = None,
        variable: str = ENV_PARTNERS,
        environ: Mapping[str, str] | None = None,
        **options: Unpack[MultiAccountOptions],
    ) -> MultiAccount:
        """Load the partner map from ``$DYNAMORM_PARTNERS``: JSON text or a JSON file's path.

        An unset or empty variable configures no partners (only the base DB).
        """
        value = (os.environ if environ is None else environ).get(variable, "").strip()
        if not value:
            return MultiAccount(DB() if base is None else base, None, **options)
        return cls.from_json(value, base=base, **options)

    @property
    def base(self) -> D:
        """The base DB (also returned by ``partner(None)``)."""
        return self._base

    @property
    def partners(self) -> dict[str, PartnerAccount]:
        """A copy of the partner map."""
        with self._lock:
            return dict(self._accounts)

    def __contains__(self, partner_id: object) -> bool:
        return partner_id in self._accounts

    def __len__(self) -> int:
        return len(self._accounts)

    def partner(self, partner_id: str | None, *, deadline: float | None = None) -> D:
        """The DB for ``partner_id`` (built once, then cached); None or "" gives the base DB.

        With ``deadline`` (a ``time.monotonic()`` instant) the partner's credentials are made
        ready now, and any STS call this needs must finish by then. Unknown ids raise
        :class:`UnknownPartner`.
        """
        if partner_id is None or partner_id == "":
            return self._base
        db = self._dbs.get(partner_id)
        if db is None:
            with self._lock:
                db = self._dbs.get(partner_id)
                if db is None:
                    account = self._accounts.get(partner_id)
                    if account is None:
                        raise self._unknown(partner_id)
                    db = self._dbs[partner_id] = self._build(partner_id, account)
        if deadline is not None:
            with credentials_deadline(deadline):
                db.client.credentials.get()
        return db

    def add_partner(
        self,
        partner_id: str,
        account: PartnerAccount | Mapping[str, Any],
        *,
        replace: bool = False,
    ) -> None:
        """Add a partner at runtime; ``replace=True`` changes an existing one, rebuilding its DB."""
        checked = self._checked(_check_partner_id(partner_id), account)
        with self._lock:
            if partner_id in self._accounts and not replace:
                raise ConfigurationError(
                    f"partner {partner_id!r} already exists; pass replace=True to change it"
                )
            self._accounts[partner_id] = checked
            self._dbs.pop(partner_id, None)

    def remove_partner(self, partner_id: str) -> None:
        """Remove a partner and drop its cached DB (handles already taken keep working)."""
        with self._lock:
            if partner_id not in self._accounts:
                raise self._unknown(partner_id)
            del self._accounts[partner_id]
            self._dbs.pop(partner_id, None)

    def _unknown(self, partner_id: object) -> UnknownPartner:
        shown = repr(partner_id)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        count = len(self._accounts)
        known = f"{count} partner(s) are configured" if count else "no partners are configured"
        return UnknownPartner(
            f"unknown partner {shown}; {known}",
            partner_id=partner_id if isinstance(partner_id, str) else "",
        )

    def _checked(self, partner_id: str, value: object) -> PartnerAccount:
        account = _account(partner_id, value)
        region = self._base.region
        partition = account.role_arn.split(":", 2)[1]
        if self._sts_endpoint_url is None and region != "local" and partition != _partition(region):
            raise ConfigurationError(
                f"partner {partner_id!r}: role {account.role_arn} is in partition {partition}, "
                f"but STS is called in {region} ({_partition(region)}); set sts_endpoint_url"
            )
        return account

    def _label(self, partner_id: str) -> str:
        return mask_partner_id(partner_id) if self._mask else partner_id

    def _sts_client(self) -> StsClient:
        from dynamorm._runtime.sts import StsClient, sts_url

        if self._sts is None:
            client = self._base.client
            self._sts = StsClient(
                region=self._base.region,
                endpoint=Endpoint(self._sts_endpoint_url or sts_url(self._base.region)),
                credentials=client.credentials,
                transport=cast("Any", client.transport),  # an AsyncDB's is async: STS flows
                retry=client.retry,
                connect_timeout=client.connect_timeout,
                read_timeout=client.read_timeout,
            )
        return self._sts

    def _build(self, partner_id: str, account: PartnerAccount) -> D:
        from dynamorm._runtime.sts import AssumeRoleProvider

        base = self._base
        client = base.client
        region = account.region or base.region
        endpoint_url = account.endpoint_url
        if endpoint_url is None and region == base.region:
            endpoint_url = client.endpoint.url
        provider = AssumeRoleProvider(
            self._sts_client(),
            partner_id=partner_id,
            role_arn=account.role_arn,
            external_id=account.external_id,
            duration=account.session_duration,
            refresh_margin=self._margin,
            clock=self._clock,
            label=self._label(partner_id),
        )
        partner_class: Any = PartnerDB
        if not isinstance(base, DB):
            from dynamorm._runtime.async_accounts import AsyncPartnerDB

            partner_class = AsyncPartnerDB
        db = partner_class(
            partner_id,
            label=self._label(partner_id),
            region=region,
            endpoint_url=endpoint_url,
            credentials=provider,
            table_prefix=account.table_prefix,
            retry=client.retry,
            timeout=(client.connect_timeout, client.read_timeout),
            transport=client.transport,
            kms_key_arn=account.kms_key_arn,
            kms_endpoint_url=base.kms_endpoint_url,
            data_keys=base.data_keys if account.kms_key_arn else None,
            cursor_secret=base.cursor_secret,  # a cursor one instance issues, another accepts
        )
        db._usage.partner = partner_id  # its costs roll up to the base DB, under its id
        db._usage.parent = base._usage
        if account.kms_key_arn is None:
            db.keyring = base.keyring  # the platform's key, cache and credentials
        built: D = db
        return built

    def __repr__(self) -> str:
        with self._lock:
            ids = sorted(self._accounts)
        shown = ", ".join(repr(self._label(partner_id)) for partner_id in ids)
        return f"MultiAccount(base={self._base!r}, partners=[{shown}])"
