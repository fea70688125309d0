"""AWS X-Ray subsegments for DynamoDB requests, through ``aws_xray_sdk`` (imported when enabled).

``db.client.hooks.append(XRayHook())`` (or ``lambda_db(..., tracing="xray")``) records one
``aws`` subsegment per request under the current segment, as the SDK's own AWS integrations do:
operation, region, table, retries, consumed capacity and the error, if any.
"""

from __future__ import annotations

from typing import Any

from dynamorm._core.errors import ConfigurationError, ServiceError, Throttled
from dynamorm._io.events import RequestEvent


class XRayHook:
    """A request hook recording an X-Ray subsegment per request.

    ``recorder`` defaults to ``aws_xray_sdk.core.xray_recorder``. Requests made outside any
    segment (or unsampled) are not recorded.
    """

    def __init__(self, recorder: Any = None) -> None:
        if recorder is None:
            try:
                from aws_xray_sdk.core import xray_recorder
            except ImportError:
                raise ConfigurationError(
                    "X-Ray tracing needs aws-xray-sdk: pip install 'dynamorm-py[xray]'"
                ) from None
            recorder = xray_recorder
        self.recorder = recorder

    def __call__(self, event: RequestEvent) -> None:
        """Record ``event`` as a finished subsegment of the current segment."""
        recorder = self.recorder
        if recorder.current_segment() is None:
            return
        subsegment = recorder.begin_subsegment("DynamoDB", namespace="aws")
        if subsegment is None:
            return
        subsegment.start_time = event.started
        aws: dict[str, Any] = {
            "operation": event.operation,
            "region": event.region,
            "retries": max(0, event.attempts - 1),
        }
        if event.table is not None:
            aws["table_name"] = event.table
        if event.consumed_capacity is not None:
            aws["consumed_capacity"] = event.consumed_capacity
        error = event.error
        if isinstance(error, ServiceError):
            if error.request_id:
                aws["request_id"] = error.request_id
            if error.status:
                subsegment.put_http_meta("status", error.status)
        subsegment.set_aws(aws)
        if error is not None:
            import traceback

            stack = traceback.extract_tb(error.__traceback__)
            subsegment.add_exception(error, stack, remote=isinstance(error, ServiceError))
            status = error.status if isinstance(error, ServiceError) else 0
            if 400 <= status < 500:
                subsegment.fault = False
                subsegment.add_error_flag()
                if isinstance(error, Throttled):
                    subsegment.add_throttle_flag()
        recorder.end_subsegment(end_time=event.started + event.duration)
