"""AWS Lambda: the environment, memory-aware defaults, a warm-reused DB and init-phase pre-warm.

Everything here is cheap to import and to call: it reads environment variables and the context
object Lambda passes to the handler, nothing more.
"""

from __future__ import annotations

import os
import time
from _thread import allocate_lock  # threading.Lock, without loading threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from dynamorm._core.errors import ConfigurationError, TransportError
from dynamorm._core.signing import signing_key
from dynamorm._core.tuning import FULL_VCPU_MB, memory_defaults
from dynamorm._io.deadline import LambdaContextLike, remaining_seconds
from dynamorm._io.events import Hook
from dynamorm._orm.db import DB
from dynamorm._orm.meta import ModelMeta

if TYPE_CHECKING:
    from dynamorm._orm.model import Model


def is_lambda() -> bool:
    """True when running inside AWS Lambda (or an emulator that sets its environment)."""
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


class LambdaEnv:
    """What the Lambda environment says about this function (None outside Lambda)."""

    __slots__ = ("function_name", "function_version", "initialization_type", "memory_mb", "region")

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.function_name: str | None = env.get("AWS_LAMBDA_FUNCTION_NAME") or None
        self.function_version: str | None = env.get("AWS_LAMBDA_FUNCTION_VERSION") or None
        self.region: str | None = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None
        self.initialization_type: str | None = env.get("AWS_LAMBDA_INITIALIZATION_TYPE") or None
        memory = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
        self.memory_mb: int | None = int(memory) if memory.isdigit() and int(memory) > 0 else None

    def __repr__(self) -> str:
        return (
            f"LambdaEnv(function_name={self.function_name!r}, memory_mb={self.memory_mb}, "
            f"region={self.region!r})"
        )


def lambda_env() -> LambdaEnv:
    """A snapshot of the Lambda environment: function name and version, memory, region."""
    return LambdaEnv()


def remaining_time(context: LambdaContextLike) -> float:
    """Seconds left in the invocation, from the Lambda context (never negative)."""
    return max(0.0, remaining_seconds(context))


class Tuning:
    """Defaults derived from the function's memory size (Lambda's CPU share grows with it).

    ``page_size``: items per Query/Scan page; ``parallelism``: scan segments and concurrent
    batch requests; ``vcpus``: the CPU share the memory size buys.
    """

    __slots__ = ("memory_mb", "page_size", "parallelism", "vcpus")

    def __init__(self, memory_mb: int, page_size: int, parallelism: int) -> None:
        self.memory_mb: int = memory_mb
        self.vcpus: float = min(6.0, memory_mb / FULL_VCPU_MB)
        self.page_size: int = page_size
        self.parallelism: int = parallelism

    def __repr__(self) -> str:
        return (
            f"Tuning(memory_mb={self.memory_mb}, page_size={self.page_size}, "
            f"parallelism={self.parallelism})"
        )


def tuning(
    memory_mb: int | None = None, *, page_size: int | None = None, parallelism: int | None = None
) -> Tuning:
    """Memory-aware defaults; ``memory_mb`` defaults to the function's (1769 MB outside Lambda).

    Page size: 100 items below 512 MB, 250 below 1769 MB, 500 below 3538 MB, else 1000.
    Parallelism: ``round(1 + 2 * vcpus)``, 1 to 8. Pass ``page_size``/``parallelism`` to override.
    """
    memory = memory_mb if memory_mb is not None else LambdaEnv().memory_mb or FULL_VCPU_MB
    if isinstance(memory, bool) or not isinstance(memory, int) or memory <= 0:
        raise ConfigurationError(f"memory_mb must be a positive int, got {memory_mb!r}")
    for name, value in (("page_size", page_size), ("parallelism", parallelism)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigurationError(f"{name} must be an int, got {value!r}")
        if value is not None and value < 1:
            raise ConfigurationError(f"{name} must be at least 1, got {value}")
    default_page_size, default_parallelism = memory_defaults(memory)
    return Tuning(memory, page_size or default_page_size, parallelism or default_parallelism)


# --- the warm-reused DB ---------------------------------------------------------------------

_lock = allocate_lock()
_db: DB | None = None
_db_options: dict[str, Any] = {}


def lambda_db(
    *models: type[Model],
    prewarm: bool = False,
    hooks: Iterable[Hook] = (),
    tracing: str | None = None,
    **options: Any,
) -> DB:
    """The process-wide DB of this function: built by the first call, returned by every later one.

    Call it at module level so the work happens once, in Lambda's init phase; warm invocations
    reuse the DB and its open connections. Thread safe. ``options`` are ``DB(...)`` arguments;
    they and ``tracing`` may only be given again unchanged (use ``DB(...)`` for another account).
    ``models`` are checked now, in the init phase: each must be a model class with a table
    whose physical name is valid. ``hooks`` are appended to the client's request hooks;
    ``tracing`` adds an ``"xray"`` or ``"otel"`` hook (default: ``$DYNAMORM_TRACING``).
    ``prewarm=True`` opens the connection to the endpoint now (see :func:`warm_up`).
    """
    global _db, _db_options
    fixed = dict(options) if tracing is None else {**options, "tracing": tracing}
    with _lock:
        db = _db
        if db is None:
            db = DB(**options)
            _register(db, models)
            db.client.hooks.extend(hooks)
            kind = tracing if tracing is not None else os.environ.get("DYNAMORM_TRACING") or None
            if kind is not None:
                db.client.hooks.append(_tracing_hook(kind))
            _db, _db_options = db, fixed
        else:
            _check_same_options(fixed)
            _register(db, models)
            _add_hooks(db, hooks)
    if prewarm:
        warm_up(db)
    return db


def _check_same_options(options: dict[str, Any]) -> None:
    for name, value in sorted(options.items()):
        if name not in _db_options or _db_options[name] != value:
            first = f"{name}={_db_options[name]!r}" if name in _db_options else f"no {name}"
            raise ConfigurationError(
                f"lambda_db() was first called with {first}, now {name}={value!r}: its options "
                "are fixed by the first call (build a DB(...) for another account or setup)"
            )


def _add_hooks(db: DB, hooks: Iterable[Hook]) -> None:
    present = db.client.hooks
    present.extend(hook for hook in hooks if not any(hook is h for h in present))


def _tracing_hook(kind: str) -> Hook:
    if kind == "xray":
        from dynamorm._runtime.xray import XRayHook

        return XRayHook()
    if kind == "otel":
        from dynamorm._runtime.otel import OTelHook

        return OTelHook()
    raise ConfigurationError(f"tracing must be 'xray' or 'otel', got {kind!r}")


def _register(db: DB, models: tuple[type[Model], ...]) -> None:
    for model in models:
        meta = getattr(model, "__meta__", None)
        if not isinstance(model, type) or not isinstance(meta, ModelMeta):
            raise ConfigurationError(f"lambda_db() takes Model classes, got {model!r}")
        db.table_name(meta.require_table())  # DynamoDB's naming rule, checked up front


def reset_lambda_db() -> None:
    """Forget the process-wide DB (for tests) and close its connections."""
    global _db, _db_options
    with _lock:
        db, _db, _db_options = _db, None, {}
    if db is not None:
        db.close()


def warm_up(db: DB) -> bool:
    """Do a request's one-time work now, in the init phase, without a billable request.

    Loads the credentials, derives today's signing key and opens the TCP (and TLS) connection
    to the endpoint, which the first request then reuses. Returns False when the connection
    could not be opened: the first request will reconnect and report the problem itself.
    """
    client = db.client
    creds = client.credentials.get()
    signing_key(
        creds.secret_access_key, time.strftime("%Y%m%d", time.gmtime()), db.region, "dynamodb"
    )
    warm: Callable[..., None] | None = getattr(client.transport, "warm", None)
    if warm is None:
        return False
    try:
        warm(client.endpoint, connect_timeout=client.connect_timeout)
    except TransportError:
        return False
    return True


class LocalContext:
    """A Lambda context for running handlers locally and in tests; you control the time left.

    ``timeout`` is the invocation's budget in seconds from creation. ``clock`` (default
    ``time.monotonic``) lets tests move time by hand.
    """

    def __init__(
        self,
        timeout: float = 3.0,
        *,
        memory_mb: int = 128,
        function_name: str = "local-function",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._deadline = clock() + timeout
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb: str = str(memory_mb)
        self.aws_request_id: str = os.urandom(16).hex()
        self.invoked_function_arn: str = (
            f"arn:aws:lambda:us-east-1:000000000000:function:{function_name}"
        )
        self.log_group_name: str = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the invocation's timeout (0 once it has passed)."""
        return max(0, int((self._deadline - self._clock()) * 1000))

    def __repr__(self) -> str:
        return (
            f"LocalContext({self.function_name!r}, "
            f"{self.get_remaining_time_in_millis()} ms left, {self.memory_limit_in_mb} MB)"
        )
