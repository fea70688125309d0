"""Suite-wide checks: every request the library sends is validated against botocore's model."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dynamorm._io import transport as transport_module
from dynamorm._io.transport import Request, Response
from tests.wire_model import validate_http_request, validate_kms_http_request

_real_call = transport_module.HTTPTransport.__call__


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "invalid_wire: the test sends invalid requests on purpose (no model check)"
    )


@pytest.fixture(autouse=True)
def _validate_wire(request: pytest.FixtureRequest) -> Iterator[None]:
    """Check each DynamoDB (and KMS) request sent over HTTP against botocore's service model
    before it leaves."""
    if request.node.get_closest_marker("invalid_wire"):
        yield
        return

    def checked(self: transport_module.HTTPTransport, req: Request) -> Response:
        target = req.headers.get("x-amz-target", "")
        if target.startswith("TrentService."):
            validate_kms_http_request(req.method, req.headers, req.body)
        elif target:
            validate_http_request(req.method, req.headers, req.body)
        return _real_call(self, req)

    transport_module.HTTPTransport.__call__ = checked  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        transport_module.HTTPTransport.__call__ = _real_call  # type: ignore[method-assign]
