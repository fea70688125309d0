"""Multi-account partners end to end: STS AssumeRole on a local moto server, data on the
``dynamodb_local`` engine, everything over real HTTP with real signing."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from dynamorm import DB, DeadlineExceeded, HTTPTransport
from dynamorm._core.errors import AssumeRoleFailed, UnknownPartner
from dynamorm._io.transport import Endpoint, Request, Response
from dynamorm._runtime.accounts import MultiAccount, PartnerAccount
from dynamorm._runtime.context import mask_partner_id
from dynamorm.local import LOCAL_CREDENTIALS, LocalDynamoDB

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::111111111111:role/dynamorm-partner"
EXTERNAL_ID = "partner-external-id-77"


@pytest.fixture(scope="module")
def sts_server(moto_server: LocalDynamoDB) -> LocalDynamoDB:
    """moto's server (the session's): it answers STS AssumeRole with temporary credentials."""
    return moto_server


class StsWatch:
    """The shared transport: forwards everything, counts STS requests, can hold or misroute them."""

    def __init__(self, sts_url: str) -> None:
        self.inner = HTTPTransport()
        self.sts_url = sts_url
        self.sts_calls = 0
        self.hold: threading.Event | None = None
        self.misroute_next_to: str | None = None
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        if request.endpoint.url == self.sts_url:
            with self._lock:
                self.sts_calls += 1
                target, self.misroute_next_to = self.misroute_next_to, None
            if self.hold is not None:
                assert self.hold.wait(20)
            if target is not None:
                request = Request(
                    Endpoint(target),
                    request.headers,
                    request.body,
                    connect_timeout=request.connect_timeout,
                    read_timeout=request.read_timeout,
                )
        return self.inner(request)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def watch(sts_server: LocalDynamoDB) -> Iterator[StsWatch]:
    transport = StsWatch(sts_server.endpoint)
    yield transport
    transport.close()


def make_accounts(
    dynamodb_local: LocalDynamoDB,
    sts_server: LocalDynamoDB,
    watch: StsWatch,
    table_prefix: str,
    **kw: Any,
) -> MultiAccount:
    base = DB(
        region=dynamodb_local.region,
        endpoint_url=dynamodb_local.endpoint,
        credentials=LOCAL_CREDENTIALS,
        table_prefix=table_prefix,
        transport=watch,
    )
    partners: dict[str, PartnerAccount | dict[str, Any]] = {
        "acme": PartnerAccount(
            ROLE, external_id=EXTERNAL_ID, table_prefix=f"{table_prefix}acme_", session_duration=900
        ),
        "globex": {"role_arn": ROLE, "table_prefix": f"{table_prefix}globex_"},
    }
    return MultiAccount(base, partners, sts_endpoint_url=sts_server.endpoint, **kw)


def create_payments(db: DB) -> str:
    table = db.table_name("payments")
    db.client.call(
        "CreateTable",
        {
            "TableName": table,
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        },
    )
    return table


def put(db: DB, pk: str, owner: str) -> None:
    db.client.call(
        "PutItem",
        {"TableName": db.table_name("payments"), "Item": {"pk": {"S": pk}, "owner": {"S": owner}}},
    )


def scan_owners(db: DB) -> list[tuple[str, str]]:
    items = db.client.call("Scan", {"TableName": db.table_name("payments")})["Items"]
    return sorted((item["pk"]["S"], item["owner"]["S"]) for item in items)


def test_two_partners_write_and_read_only_their_own_items(
    dynamodb_local: LocalDynamoDB, sts_server: LocalDynamoDB, watch: StsWatch, table_prefix: str
) -> None:
    accounts = make_accounts(dynamodb_local, sts_server, watch, table_prefix)
    acme, globex = accounts.partner("acme"), accounts.partner("globex")
    acme_table, globex_table = create_payments(acme), create_payments(globex)
    assert (acme_table, globex_table) == (
        f"{table_prefix}acme_payments",
        f"{table_prefix}globex_payments",
    )
    # Both partners see one namespace here, so only the prefixes keep their data apart.
    names = acme.client.call("ListTables", {})["TableNames"]
    assert {acme_table, globex_table} <= set(names)
    put(acme, "p1", "acme")
    put(acme, "p2", "acme")
    put(globex, "p1", "globex")
    assert scan_owners(acme) == [("p1", "acme"), ("p2", "acme")]
    assert scan_owners(globex) == [("p1", "globex")]
    got = globex.client.call(
        "GetItem", {"TableName": globex.table_name("payments"), "Key": {"pk": {"S": "p2"}}}
    )
    assert "Item" not in got
    assert watch.sts_calls == 2  # one AssumeRole per partner, however many calls
    acme_creds = acme.client.credentials.get()
    globex_creds = globex.client.credentials.get()
    assert acme_creds.access_key_id != globex_creds.access_key_id
    assert acme_creds.session_token
    assert watch.sts_calls == 2


def test_credentials_near_expiry_are_refreshed_on_the_next_call(
    dynamodb_local: LocalDynamoDB, sts_server: LocalDynamoDB, watch: StsWatch, table_prefix: str
) -> None:
    offset = [0.0]
    accounts = make_accounts(
        dynamodb_local, sts_server, watch, table_prefix, clock=lambda: time.time() + offset[0]
    )
    acme = accounts.partner("acme")
    create_payments(acme)
    put(acme, "p1", "acme")
    first = acme.client.credentials.get()
    assert first.expiration is not None
    assert watch.sts_calls == 1
    offset[0] = first.expiration - time.time() - 301  # just outside the 5 minute margin
    put(acme, "p2", "acme")
    assert watch.sts_calls == 1
    offset[0] = first.expiration - time.time() - 299  # inside it: the next call refreshes
    assert scan_owners(acme) == [("p1", "acme"), ("p2", "acme")]
    assert watch.sts_calls == 2
    offset[0] = 0.0  # moto stamps the new expiry with the real clock: go back to it
    assert acme.client.credentials.get().access_key_id != first.access_key_id
    put(acme, "p3", "acme")
    assert watch.sts_calls == 2


def test_fifty_threads_first_use_makes_one_assume_role(
    dynamodb_local: LocalDynamoDB, sts_server: LocalDynamoDB, watch: StsWatch, table_prefix: str
) -> None:
    accounts = make_accounts(dynamodb_local, sts_server, watch, table_prefix)
    create_payments(accounts.base)  # the base's table; partners use their own prefixes
    hold = watch.hold = threading.Event()
    arrived = [0]
    lock = threading.Lock()
    results: list[object] = []

    def use() -> None:
        with lock:
            arrived[0] += 1
            if arrived[0] == 50:
                hold.set()  # STS answers only once every thread is on its way in
        try:
            results.append(accounts.partner("globex").client.call("ListTables", {}))
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=use) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert watch.sts_calls == 1
    assert len(results) == 50
    assert all(isinstance(result, dict) and "TableNames" in result for result in results)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_sts_failure_is_typed_and_the_next_call_retries_cleanly(
    dynamodb_local: LocalDynamoDB,
    sts_server: LocalDynamoDB,
    watch: StsWatch,
    table_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    accounts = make_accounts(dynamodb_local, sts_server, watch, table_prefix)
    acme = accounts.partner("acme")
    watch.misroute_next_to = f"http://127.0.0.1:{closed_port()}"
    with caplog.at_level(logging.DEBUG, logger="dynamorm.accounts"):
        with pytest.raises(AssumeRoleFailed) as info:
            acme.client.call("ListTables", {})
        error = info.value
        assert (error.partner_id, error.role_arn) == ("acme", ROLE)
        assert str(error).startswith(f"AssumeRole for partner 'acme' (role {ROLE}) failed: ")
        assert "could not connect" in str(error)
        assert watch.sts_calls == 1
        assert "TableNames" in acme.client.call("ListTables", {})
        assert watch.sts_calls == 2
    creds = acme.client.credentials.get()
    for text in (caplog.text, str(error), repr(error), repr(acme), repr(accounts)):
        token = creds.session_token.reveal() if creds.session_token else ""
        for secret in (creds.secret_access_key.reveal(), token, EXTERNAL_ID):
            assert secret not in text
    assert "acme" not in caplog.text
    assert mask_partner_id("acme") in caplog.text


def test_deadline_bounds_the_first_sts_call(
    dynamodb_local: LocalDynamoDB, sts_server: LocalDynamoDB, watch: StsWatch, table_prefix: str
) -> None:
    accounts = make_accounts(dynamodb_local, sts_server, watch, table_prefix)
    with pytest.raises(DeadlineExceeded):
        accounts.partner("acme", deadline=time.monotonic() - 0.001)
    assert watch.sts_calls == 0
    db = accounts.partner("acme", deadline=time.monotonic() + 20)
    assert watch.sts_calls == 1
    db.client.call("ListTables", {}, deadline=time.monotonic() + 20)
    assert watch.sts_calls == 1


def test_unknown_and_removed_partners(
    dynamodb_local: LocalDynamoDB, sts_server: LocalDynamoDB, watch: StsWatch, table_prefix: str
) -> None:
    accounts = make_accounts(dynamodb_local, sts_server, watch, table_prefix)
    with pytest.raises(UnknownPartner, match="unknown partner 'initech'"):
        accounts.partner("initech")
    accounts.add_partner("initech", PartnerAccount(ROLE, table_prefix=f"{table_prefix}ini_"))
    initech = accounts.partner("initech")
    create_payments(initech)
    put(initech, "p1", "initech")
    assert scan_owners(initech) == [("p1", "initech")]
    accounts.remove_partner("initech")
    with pytest.raises(UnknownPartner, match="unknown partner 'initech'"):
        accounts.partner("initech")
    assert accounts.partner(None) is accounts.base
