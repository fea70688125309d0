"""OpenTelemetry spans for DynamoDB requests, through ``opentelemetry-api`` (imported when enabled).

``db.client.hooks.append(OTelHook())`` (or ``lambda_db(..., tracing="otel")``) records one
CLIENT span per request, a child of the span current when the request ran, with the semantic
conventions' AWS SDK and DynamoDB attributes.
"""

from __future__ import annotations

from typing import Any

from dynamorm._core.errors import ConfigurationError, ServiceError
from dynamorm._core.protocol import VERSION
from dynamorm._io.events import RequestEvent


class OTelHook:
    """A request hook recording an OpenTelemetry span per request.

    ``tracer_provider`` defaults to the global one set with ``trace.set_tracer_provider``.
    """

    def __init__(self, tracer_provider: Any = None) -> None:
        try:
            from opentelemetry import trace
        except ImportError:
            raise ConfigurationError(
                "OpenTelemetry tracing needs opentelemetry-api: pip install 'dynamorm-py[otel]'"
            ) from None
        self._trace = trace
        self.tracer: Any = trace.get_tracer("dynamorm", VERSION, tracer_provider=tracer_provider)

    def __call__(self, event: RequestEvent) -> None:
        """Record ``event`` as a finished span."""
        trace = self._trace
        start = int(event.started * 1e9)
        attributes: dict[str, Any] = {
            "rpc.system": "aws-api",
            "rpc.service": "DynamoDB",
            "rpc.method": event.operation,
            "db.system": "dynamodb",
            "db.operation": event.operation,
            "cloud.region": event.region,
            "dynamorm.attempts": event.attempts,
        }
        if event.table is not None:
            attributes["aws.dynamodb.table_names"] = event.table.split(",")
        if event.consumed_capacity is not None:
            attributes["dynamorm.consumed_capacity"] = event.consumed_capacity
        span = self.tracer.start_span(
            f"DynamoDB.{event.operation}",
            kind=trace.SpanKind.CLIENT,
            attributes=attributes,
            start_time=start,
        )
        error = event.error
        if error is not None:
            if isinstance(error, ServiceError):
                span.set_attribute("aws.request_id", error.request_id)
                span.set_attribute("error.type", error.type_name or type(error).__name__)
            else:
                span.set_attribute("error.type", type(error).__name__)
            span.record_exception(error)
            span.set_status(trace.Status(trace.StatusCode.ERROR, str(error)))
        span.end(end_time=start + int(event.duration * 1e9))
