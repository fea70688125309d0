"""Lambda test events: DynamoDB Streams records from model instances, API Gateway HTTP API
(payload 2.0) requests, S3 notifications. Each builder returns plain JSON-shaped dicts, the
way Lambda hands them to a handler."""

from __future__ import annotations

import base64
import itertools
import json
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote_plus, urlencode

from dynamorm._core.errors import ConfigurationError
from dynamorm._orm.meta import ModelMeta
from dynamorm._runtime.streams import _IMAGES, ViewType

ACCOUNT = "000000000000"
_SEQUENCE = itertools.count(1)


def _meta(instance: object) -> ModelMeta:
    meta = getattr(type(instance), "__meta__", None)
    if not isinstance(meta, ModelMeta):
        raise ConfigurationError(f"expected a model instance, got {instance!r}")
    return meta


def stream_record(
    event_name: Literal["INSERT", "MODIFY", "REMOVE"],
    *,
    old: object = None,
    new: object = None,
    view_type: ViewType = "NEW_AND_OLD_IMAGES",
    table_prefix: str = "",
    region: str = "us-east-1",
    expired: bool = False,
) -> dict[str, Any]:
    """One DynamoDB Streams record for a change from ``old`` to ``new`` (model instances).

    INSERT needs ``new``, REMOVE ``old``, MODIFY both; the record carries the images the view
    type promises. ``expired`` marks a REMOVE as done by TTL. Sequence numbers increase.
    """
    wanted = {"INSERT": (False, True), "MODIFY": (True, True), "REMOVE": (True, False)}
    if event_name not in wanted:
        raise ConfigurationError(f"event_name must be INSERT, MODIFY or REMOVE: {event_name!r}")
    if view_type not in _IMAGES:
        raise ConfigurationError(f"unknown stream view type {view_type!r}")
    if wanted[event_name] != (old is not None, new is not None):
        raise ConfigurationError(
            f"a {event_name} record needs "
            + {"INSERT": "new= only", "MODIFY": "old= and new=", "REMOVE": "old= only"}[event_name]
        )
    if expired and event_name != "REMOVE":
        raise ConfigurationError("only a REMOVE can be expired by TTL")
    subject = new if new is not None else old
    meta = _meta(subject)
    if (
        old is not None
        and new is not None
        and (_meta(old) is not meta or meta.key(old) != meta.key(new))
    ):
        raise ConfigurationError("old and new must be the same item (same model and key)")
    table = table_prefix + meta.require_table()
    body: dict[str, Any] = {
        "ApproximateCreationDateTime": int(time.time()),
        "Keys": meta.key(subject),
        "SequenceNumber": f"{next(_SEQUENCE):021d}",
        "StreamViewType": view_type,
    }
    carries_old, carries_new = _IMAGES[view_type][event_name]
    if carries_old:
        body["OldImage"] = meta.to_item(old)
    if carries_new:
        body["NewImage"] = meta.to_item(new)
    body["SizeBytes"] = len(json.dumps(body, separators=(",", ":")))
    record: dict[str, Any] = {
        "eventID": uuid.uuid4().hex,
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": body,
        "eventSourceARN": (
            f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{table}/stream/2024-01-01T00:00:00.000"
        ),
    }
    if expired:
        record["userIdentity"] = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    return record


def stream_insert(new: object, **options: Any) -> dict[str, Any]:
    """An INSERT record carrying ``new``."""
    return stream_record("INSERT", new=new, **options)


def stream_modify(old: object, new: object, **options: Any) -> dict[str, Any]:
    """A MODIFY record from ``old`` to ``new``."""
    return stream_record("MODIFY", old=old, new=new, **options)


def stream_remove(old: object, **options: Any) -> dict[str, Any]:
    """A REMOVE record of ``old`` (``expired=True``: removed by TTL)."""
    return stream_record("REMOVE", old=old, **options)


def stream_event(*records: Mapping[str, Any]) -> dict[str, Any]:
    """The event Lambda gives a DynamoDB Streams handler: ``{"Records": [...]}``."""
    return {"Records": [dict(r) for r in records]}


def http_api_event(
    method: str = "GET",
    path: str = "/",
    *,
    body: str | bytes | Mapping[str, Any] | list[Any] | None = None,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str | Iterable[str]] | None = None,
    path_parameters: Mapping[str, str] | None = None,
    route_key: str | None = None,
    stage: str = "$default",
    cookies: Iterable[str] = (),
    authorizer: Mapping[str, Any] | None = None,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """An API Gateway HTTP API request (payload format 2.0).

    A dict or list ``body`` is sent as JSON (``content-type: application/json`` unless
    given); ``bytes`` are base64-encoded with ``isBase64Encoded``. Repeated query values are
    joined by commas, as API Gateway does. Header names are lower-cased.
    """
    all_headers = {k.lower(): v for k, v in (headers or {}).items()}
    encoded = False
    text: str | None
    if isinstance(body, Mapping | list):
        text = json.dumps(body, separators=(",", ":"))
        all_headers.setdefault("content-type", "application/json")
    elif isinstance(body, bytes):
        text, encoded = base64.b64encode(body).decode(), True
    else:
        text = body
    pairs = [
        (name, value)
        for name, values in (query or {}).items()
        for value in ([values] if isinstance(values, str) else list(values))
    ]
    now = datetime.now(UTC)
    all_headers.setdefault("host", "local.execute-api.localhost")
    all_headers.setdefault("user-agent", "dynamorm-testing")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key or f"{method.upper()} {path}",
        "rawPath": path,
        "rawQueryString": urlencode(pairs),
        "headers": all_headers,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "local",
            "domainName": all_headers["host"],
            "domainPrefix": "local",
            "http": {
                "method": method.upper(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": all_headers["user-agent"],
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": route_key or f"{method.upper()} {path}",
            "stage": stage,
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": encoded,
    }
    if pairs:
        joined: dict[str, list[str]] = {}
        for name, value in pairs:
            joined.setdefault(name, []).append(value)
        event["queryStringParameters"] = {k: ",".join(v) for k, v in joined.items()}
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if cookies := list(cookies):
        event["cookies"] = cookies
    if authorizer is not None:
        event["requestContext"]["authorizer"] = dict(authorizer)
    if text is not None:
        event["body"] = text
    return event


def s3_event(
    bucket: str,
    *keys: str,
    event_name: str = "ObjectCreated:Put",
    size: int = 0,
    region: str = "us-east-1",
    etag: str | None = None,
) -> dict[str, Any]:
    """An S3 notification with one record per object key (keys are URL-encoded in the event,
    as S3 does: decode them with ``urllib.parse.unquote_plus``). ``etag``: the object's real
    ETag (as ``PutObject`` returned it, quotes removed as S3 events do), for handlers that pin
    reads to it; default: a stable made-up one per key."""
    if not keys:
        raise ConfigurationError("s3_event() needs at least one object key")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": now,
                "eventName": event_name,
                "userIdentity": {"principalId": "AWS:LOCAL"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {"x-amz-request-id": uuid.uuid4().hex[:16].upper()},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "local",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "LOCAL"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": {
                        "key": quote_plus(key, safe="/"),
                        "size": size,
                        "eTag": etag.strip('"')
                        if etag is not None
                        else uuid.uuid5(uuid.NAMESPACE_URL, f"{bucket}/{key}").hex,
                        "sequencer": f"{next(_SEQUENCE):016X}",
                    },
                },
            }
            for key in keys
        ]
    }
