"""Errors that name what is wrong and what to do: service errors with their table, prefix,
region and endpoint; region typos; TLS to a plain-http server; key values by position;
conditions on another model's attributes; typed ``current``."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import pytest

from dynamorm import (
    DB,
    AlreadyExists,
    Attr,
    ConfigurationError,
    EndpointUnreachable,
    InvalidOperator,
    Model,
    Request,
    ResourceInUse,
    Response,
    RetryPolicy,
    TableNotFound,
    VersionConflict,
    field,
    key,
)


class Payment(Model, table="payments"):
    merchant_id: Attr[str] = field(pk=True)
    payment_id: Attr[str] = field(sk=True)
    amount: Attr[int] = field(default=0)


class Refund(Model, table="refunds"):
    merchant_id: Attr[str] = field(pk=True)
    amount: Attr[int] = field(default=0)


def failing(type_name: str, message: str) -> DB:
    def transport(request: Request) -> Response:
        body = {"__type": f"com.amazonaws.dynamodb.v20120810#{type_name}", "message": message}
        return Response(400, {"x-amzn-requestid": "RID"}, json.dumps(body).encode())

    return DB(
        region="eu-west-1",
        endpoint_url="https://dynamodb.eu-west-1.amazonaws.com",
        credentials=("AKIDEXAMPLE", "secret"),
        table_prefix="prod_",
        transport=transport,
        retry=RetryPolicy(1),
    )


def test_missing_table_names_table_prefix_region_endpoint_and_the_fix() -> None:
    db = failing("ResourceNotFoundException", "Cannot do operations on a non-existent table")
    with pytest.raises(TableNotFound) as info:
        db.get(Payment, merchant_id="m1", payment_id="p1")
    exc = info.value
    assert (exc.table, exc.logical_table) == ("prod_payments", "payments")
    assert exc.table_prefix == "prod_"
    assert (exc.region, exc.endpoint) == ("eu-west-1", "https://dynamodb.eu-west-1.amazonaws.com")
    assert str(exc) == (
        "GetItem: ResourceNotFoundException: Cannot do operations on a non-existent table "
        "[table prod_payments (logical 'payments', table_prefix 'prod_'), region eu-west-1, "
        "endpoint https://dynamodb.eu-west-1.amazonaws.com]. Hint: check the stage "
        "(table_prefix 'prod_'), the region and the endpoint, or create the table with "
        "db.ensure_tables(<model>)"
    )


def test_missing_index_gets_its_own_hint() -> None:
    db = failing("ResourceNotFoundException", "Requested resource not found")
    with pytest.raises(TableNotFound, match="its index 'by-x' does not"):
        db.client.call("Query", {"TableName": "prod_payments", "IndexName": "by-x"})


def test_preexisting_table_points_at_ensure_tables() -> None:
    db = failing("ResourceInUseException", "Cannot create preexisting table")
    with pytest.raises(ResourceInUse, match=r"Hint: the table exists already; db.ensure_tables"):
        db.create_table(Payment)


@pytest.mark.parametrize(
    ("region", "suggestion"),
    [
        ("us-east1", "'us-east-1'"),
        ("eu-wset-1", "'eu-west-1'"),
        ("US-EAST-1", "'us-east-1'"),
        ("us-east-3", "'us-east-1' or 'us-east-2'"),
    ],
)
def test_region_typos_are_refused_with_a_suggestion(
    region: str, suggestion: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError, match=f"did you mean {suggestion}"):
        DB(region=region, credentials=("a", "b"))


def test_any_well_formed_region_goes_with_an_endpoint_of_your_own() -> None:
    db = DB(region="xx-newregion-1", endpoint_url="http://127.0.0.1:9", credentials=("a", "b"))
    assert db.region == "xx-newregion-1"


@pytest.fixture
def plain_http_server() -> Iterator[int]:
    listener = socket.create_server(("127.0.0.1", 0))
    port: int = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)  # the TLS ClientHello, answered in plain HTTP
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port
    listener.close()
    thread.join(5)


def test_https_to_a_plain_http_endpoint_says_use_http(plain_http_server: int) -> None:
    db = DB(
        region="us-east-1",
        endpoint_url=f"https://127.0.0.1:{plain_http_server}",
        credentials=("a", "b"),
        retry=RetryPolicy(1),
    )
    with pytest.raises(EndpointUnreachable) as info:
        db.client.call("ListTables", {})
    assert f"use http://127.0.0.1:{plain_http_server}" in str(info.value)


def test_key_values_by_position_show_the_keyword_form() -> None:
    db = DB(region="us-east-1", credentials=("a", "b"))
    with pytest.raises(TypeError) as info:
        db.get(Payment, "m1", "p1")  # type: ignore[arg-type]
    assert str(info.value) == (
        "db.get() takes the key as keyword arguments, not by position: "
        "db.get(Payment, merchant_id='m1', payment_id='p1')"
    )
    with pytest.raises(TypeError, match=r"key\(Payment, merchant_id='m1'\)"):
        key(Payment, "m1")  # type: ignore[arg-type]


def test_conditions_on_another_models_attributes_are_refused() -> None:
    db = DB(region="us-east-1", credentials=("a", "b"))
    with pytest.raises(InvalidOperator, match=r"where\(\) got Refund.merchant_id, an attribute"):
        db.query(Payment).where(Refund.merchant_id == "m1")
    with pytest.raises(InvalidOperator, match=r"filter\(\) got Refund.amount"):
        db.scan(Payment).filter((Payment.amount > 1) & (Refund.amount > 1))

    class Settled(Payment, table="settled"):
        pass

    db.query(Settled).where(Payment.merchant_id == "m1")  # a base class's attribute is its own


def test_current_as_types_the_stored_item_and_checks_it() -> None:
    stored = Payment(merchant_id="m1", payment_id="p1", amount=5)
    exc = AlreadyExists("exists", current=stored)
    assert exc.current_as(Payment) is stored
    assert VersionConflict("gone").current_as(Payment) is None
    with pytest.raises(TypeError, match=r"AlreadyExists\.current is a Payment, not a Refund"):
        exc.current_as(Refund)
