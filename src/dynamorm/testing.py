"""Testing helpers: run a Lambda handler module as Lambda would, and build its events.

    from dynamorm.testing import LambdaFunction, http_api_event, stream_event, stream_insert

    with LambdaFunction("handlers/payments.py", environment={...}) as fn:   # cold start
        response = fn.invoke({"account": "a1"}, timeout=2.0)               # LocalContext

In pytest, the ``lambda_function`` fixture does the wiring (engine endpoint, credentials,
region, ``TABLE_PREFIX``, tables) and the clean-up. Nothing here is imported by ``dynamorm``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any

from dynamorm._core.errors import ConfigurationError
from dynamorm._local_engines import LOCAL_CREDENTIALS, REGION
from dynamorm._testing_events import (
    http_api_event,
    s3_event,
    stream_event,
    stream_insert,
    stream_modify,
    stream_record,
    stream_remove,
)

if TYPE_CHECKING:
    from dynamorm._orm.db import DB
    from dynamorm._orm.model import Model
    from dynamorm._runtime.aws_lambda import LocalContext

__all__ = [
    "LambdaFunction",
    "http_api_event",
    "s3_event",
    "stream_event",
    "stream_insert",
    "stream_modify",
    "stream_record",
    "stream_remove",
]


class LambdaFunction:
    """A Lambda handler module, loaded and invoked the way Lambda does it.

    ``module`` is a file path or a dotted module name; ``handler`` the function's name in it.
    :meth:`load` sets the environment Lambda gives a function (name, version, memory, region,
    local credentials) plus ``environment``, forgets the process-wide ``lambda_db()``, imports
    the module afresh (a cold start: its init phase runs) and, with ``tables=True``, ensures
    the tables of the models it defines (or of the ``tables`` given), prefixed by
    ``$TABLE_PREFIX``, on ``$AWS_ENDPOINT_URL_DYNAMODB``. :meth:`invoke` calls the handler with
    a :class:`LocalContext` and returns its response. :meth:`close` undoes it all.
    """

    def __init__(
        self,
        module: str | os.PathLike[str],
        *,
        handler: str = "handler",
        environment: Mapping[str, str] | None = None,
        timeout: float = 3.0,
        memory_mb: int = 128,
        function_name: str = "local-function",
        tables: bool | Iterable[type[Model]] = True,
    ) -> None:
        self.source = module
        self.handler_name = handler
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.function_name = function_name
        self.tables = tables if isinstance(tables, bool) else tuple(tables)
        key, secret = LOCAL_CREDENTIALS
        self.environment = {
            "AWS_LAMBDA_FUNCTION_NAME": function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": key,
            "AWS_SECRET_ACCESS_KEY": secret,
            **(environment or {}),
        }
        if self.tables and not self.environment.get("AWS_ENDPOINT_URL_DYNAMODB"):
            raise ConfigurationError(
                "creating tables needs AWS_ENDPOINT_URL_DYNAMODB in environment= (a local "
                "engine; the lambda_function fixture sets it), or pass tables=False"
            )
        self.last_context: LocalContext | None = None
        self._module: ModuleType | None = None
        self._saved_env: dict[str, str | None] = {}
        self._saved_path: list[str] | None = None
        self._db: DB | None = None

    def __repr__(self) -> str:
        state = "loaded" if self._module is not None else "not loaded"
        return f"<LambdaFunction {self.source!s} {state}>"

    @property
    def module(self) -> ModuleType:
        """The loaded handler module (its models, its ``db``...)."""
        if self._module is None:
            raise ConfigurationError("the function is not loaded; call load()")
        return self._module

    @property
    def db(self) -> DB:
        """A DB of its own on the function's endpoint and prefix, to seed and check tables
        (its requests stay out of the function's metrics)."""
        if self._db is None:
            from dynamorm._orm.db import DB

            env = self.environment
            self._db = DB(
                region=env["AWS_REGION"],
                endpoint_url=env.get("AWS_ENDPOINT_URL_DYNAMODB"),
                credentials=(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]),
                table_prefix=env.get("TABLE_PREFIX", ""),
            )
        return self._db

    def load(self) -> ModuleType:
        """A cold start: set the environment, import the module afresh, ensure its tables."""
        from dynamorm._runtime.aws_lambda import reset_lambda_db

        self._forget()
        for name, value in self.environment.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value
        reset_lambda_db()
        self._module = self._import()
        if not callable(getattr(self._module, self.handler_name, None)):
            raise ConfigurationError(f"{self.source} has no function {self.handler_name!r}")
        if self.tables:
            models = self.tables if isinstance(self.tables, tuple) else self._models()
            if models:
                self.db.ensure_tables(*models)
        return self._module

    def context(self, timeout: float | None = None) -> LocalContext:
        """A fresh Lambda context with ``timeout`` seconds left (default: the function's)."""
        from dynamorm._runtime.aws_lambda import LocalContext

        return LocalContext(
            self.timeout if timeout is None else timeout,
            memory_mb=self.memory_mb,
            function_name=self.function_name,
        )

    def invoke(
        self, event: Any, *, timeout: float | None = None, context: Any | None = None
    ) -> Any:
        """Call the handler with ``event`` and a :class:`LocalContext`; return its response."""
        handler = getattr(self.module, self.handler_name)
        self.last_context = self.context(timeout) if context is None else context
        return handler(event, self.last_context)

    def close(self) -> None:
        """Forget the module and ``lambda_db()``, close the DB, restore the environment."""
        self._forget()
        if self._db is not None:
            self._db.close()
            self._db = None
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env = {}

    def __enter__(self) -> LambdaFunction:
        self.load()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _forget(self) -> None:
        from dynamorm._runtime.aws_lambda import reset_lambda_db

        if self._module is not None:
            sys.modules.pop(self._module.__name__, None)
            self._module = None
        if self._saved_path is not None:
            sys.path[:] = self._saved_path
            self._saved_path = None
        reset_lambda_db()

    def _import(self) -> ModuleType:
        source = os.fspath(self.source)
        if not source.endswith(".py") and os.sep not in source:
            sys.modules.pop(source, None)
            return importlib.import_module(source)
        path = Path(source).resolve()
        if not path.is_file():
            raise ConfigurationError(f"no handler file at {path}")
        self._saved_path = list(sys.path)
        sys.path.insert(0, str(path.parent))  # the handler may import its neighbours
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise ConfigurationError(f"cannot load {path} as a module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(path.stem, None)
            raise
        return module

    def _models(self) -> tuple[type[Model], ...]:
        from dynamorm._orm.tables import models_in

        return tuple(models_in(self.module))
