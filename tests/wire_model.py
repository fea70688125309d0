"""Check DynamoDB wire requests against botocore's published DynamoDB service model.

For tests only: ``validate_request`` checks a JSON payload as DynamoDB receives it and raises
``AssertionError`` naming every offending path; ``validate_http_request`` also checks the method
and the ``X-Amz-Target`` / ``Content-Type`` headers. botocore's ``ParamValidator`` checks types,
required members, unknown keys and minimums; this module adds what it leaves out or reads
differently on the wire: enums, maximums, base64 blobs, epoch-second timestamps, JSON-only types
(no bool where a number is expected, no tuples, no NaN) and one data type per AttributeValue.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import math
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from botocore.loaders import Loader
from botocore.model import ServiceModel
from botocore.validate import ParamValidator

__all__ = ["operations", "validate_http_request", "validate_kms_http_request", "validate_request"]

TARGET_PREFIX = "DynamoDB_20120810."
CONTENT_TYPE = "application/x-amz-json-1.0"


@functools.cache
def _model() -> Any:
    return ServiceModel(Loader().load_service_model("dynamodb", "service-2"), "dynamodb")


@functools.cache
def operations() -> list[str]:
    """Every DynamoDB operation name in botocore's model, sorted."""
    return sorted(_model().operation_names)


def validate_request(operation: str, payload: Any) -> None:
    """Raise ``AssertionError`` unless ``payload`` is a valid wire JSON body for ``operation``."""
    if operation not in operations():
        raise AssertionError(f"{operation!r} is not a DynamoDB operation")
    shape = _model().operation_model(operation).input_shape
    problems: list[str] = []
    params = _to_params(payload, shape, "", problems)
    report = ParamValidator().validate(params, shape)
    if report.has_errors():
        problems[:0] = report.generate_report().split("\n")
    if problems:
        lines = "\n".join(f"  {problem}" for problem in problems)
        raise AssertionError(f"{operation} request does not match the DynamoDB model:\n{lines}")


def validate_http_request(method: str, headers: Mapping[str, str], body: bytes | str) -> str:
    """Check a whole DynamoDB HTTP request (method, target, content type, JSON body) and return
    the operation name; raise ``AssertionError`` listing what is wrong."""
    lowered = {name.lower(): value for name, value in headers.items()}
    problems = []
    if method.upper() != "POST":
        problems.append(f"method is {method!r}, DynamoDB takes POST")
    target = lowered.get("x-amz-target")
    operation = target.removeprefix(TARGET_PREFIX) if target else None
    if target is None:
        problems.append("X-Amz-Target header is missing")
    elif not target.startswith(TARGET_PREFIX) or operation not in operations():
        problems.append(
            f"X-Amz-Target is {target!r}, expected {TARGET_PREFIX}<Operation> naming a "
            "DynamoDB operation"
        )
    content_type = lowered.get("content-type")
    if content_type != CONTENT_TYPE:
        problems.append(f"Content-Type is {content_type!r}, expected {CONTENT_TYPE!r}")
    payload: Any = None
    try:
        payload = json.loads(body, parse_constant=_reject_constant)
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        problems.append(f"body is not JSON: {exc}")
    else:
        if not isinstance(payload, dict):
            problems.append(f"body is JSON {type(payload).__name__}, expected an object")
    if problems:
        raise AssertionError("invalid DynamoDB HTTP request:\n" + "\n".join(problems))
    assert operation is not None
    validate_request(operation, payload)
    return operation


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _display(name: str) -> str:
    return name[1:] if name.startswith(".") else (name or "input")


KMS_TARGET_PREFIX = "TrentService."
KMS_CONTENT_TYPE = "application/x-amz-json-1.1"


@functools.cache
def _kms_model() -> Any:
    return ServiceModel(Loader().load_service_model("kms", "service-2"), "kms")


def validate_kms_http_request(method: str, headers: Mapping[str, str], body: bytes | str) -> str:
    """Check a KMS JSON 1.1 request against botocore's KMS model; return the operation."""
    lowered = {name.lower(): value for name, value in headers.items()}
    target = lowered.get("x-amz-target", "")
    operation = target.removeprefix(KMS_TARGET_PREFIX)
    model = _kms_model()
    problems = []
    if method.upper() != "POST":
        problems.append(f"method is {method!r}, KMS takes POST")
    if not target.startswith(KMS_TARGET_PREFIX) or operation not in model.operation_names:
        problems.append(f"X-Amz-Target is {target!r}, expected TrentService.<Operation>")
    if lowered.get("content-type") != KMS_CONTENT_TYPE:
        problems.append(f"Content-Type is {lowered.get('content-type')!r}")
    payload = json.loads(body)
    if problems:
        raise AssertionError("invalid KMS HTTP request:\n" + "\n".join(problems))
    shape = model.operation_model(operation).input_shape
    params = _to_params(payload, shape, "", problems)
    report = ParamValidator().validate(params, shape)
    if report.has_errors():
        problems[:0] = report.generate_report().split("\n")
    if problems:
        raise AssertionError(f"{operation} request does not match the KMS model: {problems}")
    return operation


def _to_params(value: Any, shape: Any, name: str, problems: list[str]) -> Any:
    """Walk ``value`` along ``shape``, report wire-only problems, and return the value in
    botocore's parameter form (blobs decoded) for ``ParamValidator``."""
    kind = shape.type_name
    where = _display(name)
    if kind == "structure" and isinstance(value, dict):
        if shape.name == "AttributeValue" and len(value) != 1:
            problems.append(
                f"Invalid AttributeValue for parameter {where}: exactly one data type must be "
                f"set, got {sorted(value)}"
            )
        return {
            key: _to_params(item, shape.members[key], f"{name}.{key}", problems)
            if key in shape.members
            else item
            for key, item in value.items()
        }
    if kind == "list":
        if isinstance(value, tuple):
            problems.append(f"Invalid type for parameter {where}: a tuple is not a JSON array")
        elif isinstance(value, list):
            _check_max(len(value), shape, where, "length", problems)
            return [
                _to_params(item, shape.member, f"{name}[{i}]", problems)
                for i, item in enumerate(value)
            ]
    elif kind == "map" and isinstance(value, dict):
        _check_max(len(value), shape, where, "length", problems)
        for key in value:
            _to_params(key, shape.key, f"{name} (key: {key})", problems)
        return {
            key: _to_params(item, shape.value, f"{name}.{key}", problems)
            for key, item in value.items()
        }
    elif kind == "string" and isinstance(value, str):
        if shape.enum and value not in shape.enum:
            problems.append(
                f"Invalid value for parameter {where}, value: {value}, valid values: "
                + ", ".join(shape.enum)
            )
        _check_max(len(value), shape, where, "length", problems)
    elif kind in ("integer", "long", "double", "float"):
        _check_number(value, shape, where, problems)
    elif kind == "blob":
        return _decode_blob(value, where, problems)
    elif kind == "timestamp" and isinstance(value, bool | str | datetime):
        problems.append(
            f"Invalid type for parameter {where}, value: {value!r}: a timestamp is sent as "
            "epoch seconds (a JSON number)"
        )
    return value


def _check_number(value: Any, shape: Any, where: str, problems: list[str]) -> None:
    decimal_kind = shape.type_name in ("double", "float")
    if isinstance(value, bool):
        problems.append(
            f"Invalid type for parameter {where}, value: {value}: a JSON boolean is not a number"
        )
    elif isinstance(value, float) and not math.isfinite(value):
        problems.append(f"Invalid value for parameter {where}, value: {value}: not valid JSON")
    elif isinstance(value, Decimal) and decimal_kind:
        problems.append(
            f"Invalid type for parameter {where}, value: {value}: a Decimal is not a JSON number"
        )
    elif isinstance(value, int) or (isinstance(value, float) and decimal_kind):
        _check_max(value, shape, where, "value", problems)


def _check_max(size: float, shape: Any, where: str, what: str, problems: list[str]) -> None:
    maximum = shape.metadata.get("max")
    if maximum is not None and size > maximum:
        problems.append(
            f"Invalid {what} for parameter {where}, value: {size}, valid max {what}: {maximum}"
        )


def _decode_blob(value: Any, where: str, problems: list[str]) -> Any:
    if isinstance(value, bytes | bytearray):
        problems.append(
            f"Invalid type for parameter {where}: raw bytes; a blob is sent as a base64 string"
        )
    elif isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error:
            problems.append(
                f"Invalid value for parameter {where}, value: {value!r}: not a base64 string"
            )
    return value
