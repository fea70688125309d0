"""Keys, payloads and results of ``@idempotent``: a key or payload selected from the call's
arguments and hashed (sha256 of canonical JSON), and a result encoded as JSON that replays as
the value the function returned.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from dynamorm._core.errors import IdempotencyKeyError, ValidationError
from dynamorm._orm.meta import ModelMeta
from dynamorm._orm.model import Model

Selector = str | Callable[..., Any] | None


class _Default:
    def __repr__(self) -> str:
        return "DEFAULT_PAYLOAD"


DEFAULT_PAYLOAD: Any = _Default()
"""``payload=``'s default: an HTTP event's method, path and body; no check for other Lambda
events; every argument of a plain function."""


def _select(selector: Selector, args: tuple[Any, ...], kwargs: dict[str, Any], what: str) -> Any:
    if callable(selector):
        value = selector(*args, **kwargs)
    else:
        assert isinstance(selector, str)
        if not args:
            raise IdempotencyKeyError(
                f"idempotency {what} {selector!r} is a path into the first argument, and the "
                "call has none"
            )
        value = _walk(args[0], selector, what)
    if value is None or value == "":
        raise IdempotencyKeyError(f"the idempotency {what} is empty ({selector!r} gave {value!r})")
    return value


def _walk(value: Any, path: str, what: str) -> Any:
    for part in path.split("."):
        if isinstance(value, str | bytes):
            try:
                value = json.loads(value)
            except ValueError:
                raise IdempotencyKeyError(
                    f"idempotency {what} {path!r}: a string on the way to {part!r} is not JSON"
                ) from None
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif not isinstance(value, Mapping | list) and hasattr(value, part):
            value = getattr(value, part)
        else:
            raise IdempotencyKeyError(f"idempotency {what} {path!r}: {part!r} is missing")
    return value


def _default_payload(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """What a repeat must match by default. An HTTP event (API Gateway, function URL, ALB):
    its method, path and body, as ids, timestamps and headers differ between deliveries of one
    request. Another Lambda event: nothing (None; its delivery metadata, such as SQS receive
    counts, differs too; pass ``payload=``). A plain function: every argument."""
    event = args[0] if args else None
    if isinstance(event, Mapping) and "requestContext" in event and "body" in event:
        context = event.get("requestContext")
        http = context.get("http") if isinstance(context, Mapping) else None
        body = event.get("body")
        if isinstance(body, str) and not event.get("isBase64Encoded"):
            with contextlib.suppress(ValueError):
                body = json.loads(body)
        return {
            "method": event.get("httpMethod") or (http or {}).get("method"),
            "path": event.get("path") or event.get("rawPath"),
            "body": body,
        }
    if len(args) > 1 and callable(getattr(args[1], "get_remaining_time_in_millis", None)):
        return None
    return {"args": list(args), "kwargs": kwargs}


def _digest(value: Any) -> str:
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=_jsonable)
    except (TypeError, ValueError) as exc:
        raise IdempotencyKeyError(
            f"the idempotency key or payload cannot be hashed ({exc}); pass key=/payload= "
            "selecting JSON-like values"
        ) from None
    return hashlib.sha256(text.encode()).hexdigest()


def _jsonable(value: Any) -> Any:
    meta = getattr(value, "__meta__", None)
    if isinstance(meta, ModelMeta):
        return meta.to_item(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    from decimal import Decimal

    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON-like")


# --- results --------------------------------------------------------------------------------


def encode_result(result: Any) -> str:
    """A result as stored JSON: ``{"json": value}`` or ``{"model": "mod:Class", "item": ...}``.

    Only values that replay exactly are accepted: dicts with str keys, lists, str, int, finite
    float, bool, None, or a model instance; anything else raises ``ValidationError``.
    """
    meta = getattr(result, "__meta__", None)
    if isinstance(meta, ModelMeta) and not isinstance(result, type):
        model = meta.model
        return json.dumps(
            {"model": f"{model.__module__}:{model.__qualname__}", "item": meta.to_item(result)},
            separators=(",", ":"),
        )
    _check_json(result, "result")
    return json.dumps({"json": result}, separators=(",", ":"), allow_nan=False)


def _check_json(value: Any, where: str) -> None:
    if value is None or type(value) in (str, int, bool):
        return
    if type(value) is float:
        if not math.isfinite(value):
            raise ValidationError(f"{where} is {value}, which JSON cannot hold", path=where)
        return
    if type(value) is list:
        for index, element in enumerate(value):
            _check_json(element, f"{where}[{index}]")
        return
    if type(value) is dict:
        for name, element in value.items():
            if type(name) is not str:
                raise ValidationError(f"{where} has a non-str key {name!r}", path=where)
            _check_json(element, f"{where}[{name!r}]")
        return
    raise ValidationError(
        f"{where} is a {type(value).__name__}, which would not replay as itself; return JSON "
        "values (dict, list, str, int, float, bool, None) or a model instance",
        path=where,
    )


def decode_result(data: str) -> Any:
    """A stored result back as the value the function returned."""
    stored = json.loads(data)
    if "json" in stored:
        return stored["json"]
    model = _model_class(str(stored["model"]))
    return model.__meta__.from_item(stored["item"])


def _model_class(path: str) -> type[Model]:
    """The model class stored as ``module:qualname``: a loaded one, else imported."""
    pending = list(Model.__subclasses__())
    while pending:
        cls = pending.pop()
        if f"{cls.__module__}:{cls.__qualname__}" == path:
            return cls
        pending += cls.__subclasses__()
    module_name, _, qualname = path.partition(":")
    import importlib

    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    if not (isinstance(target, type) and issubclass(target, Model)):
        raise ValidationError(f"the stored result names {path}, which is not a model")
    return target
