"""Behind a corporate proxy: CONNECT tunnels (proxy credentials, NO_PROXY) and a private CA
(AWS_CA_BUNDLE), with a local proxy and a local certificate authority."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from dynamorm import DB, EndpointUnreachable, RetryPolicy
from dynamorm._io import transport as transport_module
from dynamorm._io.proxy import Proxy, bypassed
from dynamorm.local import LOCAL_CREDENTIALS, LocalDynamoDB
from tests.unit.test_transport_tls import _certificates, tls_server


class LocalProxy:
    """A CONNECT proxy on 127.0.0.1 that sends every tunnel to one local port."""

    def __init__(self, upstream_port: int, *, password: str | None = None) -> None:
        self.upstream_port = upstream_port
        self.password = password
        self.heads: list[str] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            chunk = conn.recv(1)
            if not chunk:
                conn.close()
                return
            head += chunk
        text = head.decode()
        self.heads.append(text)
        if self.password is not None and "proxy-authorization: basic " not in text.lower():
            conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
            conn.close()
            return
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        for a, b in ((conn, upstream), (upstream, conn)):
            threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    def close(self) -> None:
        self.listener.close()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    monkeypatch.setattr(transport_module, "_ssl_context", None)  # rebuilt with the bundle
    return monkeypatch


@pytest.fixture
def private_tls(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A TLS server for dynamodb.corp.internal (a name this machine cannot resolve) whose
    certificate a private CA signed; yields (CA file, port)."""
    ca, cert, key = _certificates(tmp_path, "dynamodb.corp.internal")
    with tls_server(cert, key) as (port, _):
        yield ca, port


def _db(url: str) -> DB:
    return DB(region="us-east-1", endpoint_url=url, credentials=("a", "b"), retry=RetryPolicy(1))


def test_https_goes_through_a_connect_tunnel_with_the_private_ca(
    clean_env: pytest.MonkeyPatch, private_tls: tuple[Path, int]
) -> None:
    ca, port = private_tls
    proxy = LocalProxy(port, password="s3cret")
    clean_env.setenv("HTTPS_PROXY", f"http://alice:s3cret@127.0.0.1:{proxy.port}")
    clean_env.setenv("AWS_CA_BUNDLE", str(ca))
    try:
        db = _db(f"https://dynamodb.corp.internal:{port}")
        assert db.client.call("ListTables", {}) == {}  # the test server answers {}
    finally:
        proxy.close()
    (head,) = proxy.heads
    assert head.startswith(f"CONNECT dynamodb.corp.internal:{port} HTTP/1.1\r\n")
    assert "proxy-authorization: Basic YWxpY2U6czNjcmV0" in head  # alice:s3cret


def test_without_the_ca_bundle_the_private_certificate_is_refused(
    clean_env: pytest.MonkeyPatch, private_tls: tuple[Path, int]
) -> None:
    _, port = private_tls
    proxy = LocalProxy(port)
    clean_env.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    try:
        with pytest.raises(EndpointUnreachable, match="TLS handshake"):
            _db(f"https://dynamodb.corp.internal:{port}").client.call("ListTables", {})
    finally:
        proxy.close()


def test_a_proxy_asking_for_credentials_is_reported_without_secrets(
    clean_env: pytest.MonkeyPatch, private_tls: tuple[Path, int]
) -> None:
    _, port = private_tls
    proxy = LocalProxy(port, password="s3cret")
    clean_env.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    try:
        with pytest.raises(EndpointUnreachable) as info:
            _db(f"https://dynamodb.corp.internal:{port}").client.call("ListTables", {})
    finally:
        proxy.close()
    message = str(info.value)
    assert "refused the tunnel ('HTTP/1.1 407 Proxy Authentication Required')" in message
    assert "put them in the proxy URL" in message


def test_no_proxy_hosts_are_reached_directly(
    clean_env: pytest.MonkeyPatch, private_tls: tuple[Path, int]
) -> None:
    ca, port = private_tls
    proxy = LocalProxy(port)
    clean_env.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    clean_env.setenv("NO_PROXY", "localhost,127.0.0.1")
    clean_env.setenv("AWS_CA_BUNDLE", str(ca))
    try:
        # 127.0.0.1 is in NO_PROXY: a direct connection (the certificate names another host).
        with pytest.raises(EndpointUnreachable, match="TLS handshake"):
            _db(f"https://127.0.0.1:{port}").client.call("ListTables", {})
    finally:
        proxy.close()
    assert proxy.heads == []


def test_an_unreachable_proxy_is_named_and_its_password_is_not() -> None:
    db = _db("https://dynamodb.corp.internal:443")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HTTPS_PROXY", "http://bob:hunter2@127.0.0.1:9")
        with pytest.raises(EndpointUnreachable) as info:
            db.client.call("ListTables", {})
    assert "the proxy http://127.0.0.1:9 could not be reached" in str(info.value)
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in repr(Proxy("http://bob:hunter2@127.0.0.1:9"))


@pytest.mark.parametrize(
    ("host", "port", "no_proxy", "expected"),
    [
        ("dynamodb.us-east-1.amazonaws.com", 443, "amazonaws.com", True),
        ("dynamodb.us-east-1.amazonaws.com", 443, ".amazonaws.com", True),
        ("notamazonaws.com", 443, "amazonaws.com", False),
        ("db.internal", 443, "db.internal:8443", False),
        ("db.internal", 8443, "db.internal:8443", True),
        ("10.1.2.3", 443, "10.0.0.0/8", True),
        ("11.1.2.3", 443, "10.0.0.0/8", False),
        ("anything", 443, "*", True),
        ("anything", 443, "", False),
    ],
)
def test_no_proxy_matching(host: str, port: int, no_proxy: str, expected: bool) -> None:
    assert bypassed(host, port, no_proxy) is expected


def test_the_default_path_imports_no_proxy_code() -> None:
    code = (
        "import sys, dynamorm; dynamorm.DB(region='us-east-1', credentials=('a', 'b'));"
        "print('dynamorm._io.proxy' in sys.modules, 'ipaddress' in sys.modules)"
    )
    env = {"PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert out.stdout.split() == ["False", "False"], out.stderr


@pytest.mark.integration
def test_a_local_engine_behind_http_proxy_works_through_the_tunnel(
    clean_env: pytest.MonkeyPatch, dynamodb_local: LocalDynamoDB
) -> None:
    port = int(dynamodb_local.endpoint.rsplit(":", 1)[1])
    proxy = LocalProxy(port)
    clean_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    try:
        db = DB(
            region="us-east-1",
            endpoint_url=dynamodb_local.endpoint,
            credentials=LOCAL_CREDENTIALS,
        )
        assert "TableNames" in db.client.call("ListTables", {})
    finally:
        proxy.close()
    assert [h.split("\r\n", 1)[0] for h in proxy.heads] == [f"CONNECT 127.0.0.1:{port} HTTP/1.1"]
