"""HTTPS: certificates are always verified (chain and host name), with a local TLS server."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dynamorm import EndpointUnreachable, HTTPTransport, Request
from dynamorm._io.transport import Endpoint

ANSWER = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _certificates(tmp: Path, host: str) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate it signed for ``host`` (an IP or a DNS name)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("dynamorm test CA"))
        .issuer_name(_name("dynamorm test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    try:
        alt: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        alt = x509.DNSName(host)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(host))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = tmp / "ca.pem", tmp / "cert.pem", tmp / "key.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_path, cert_path, key_path


@contextmanager
def tls_server(cert: Path, key: Path) -> Iterator[tuple[int, list[int]]]:
    """A TLS server on 127.0.0.1 answering every request with ``{}``; yields (port, accepts)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    accepts: list[int] = []

    def serve(conn: socket.socket) -> None:
        try:
            with context.wrap_socket(conn, server_side=True) as tls:
                while tls.recv(65536):
                    tls.sendall(ANSWER)
        except (OSError, ssl.SSLError):
            return

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepts.append(1)
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1], accepts
    finally:
        listener.close()


def _request(port: int, host: str = "127.0.0.1") -> Request:
    return Request(Endpoint(f"https://{host}:{port}"), {"host": host}, b"{}", read_timeout=5.0)


def test_untrusted_certificate_is_refused(tmp_path: Path) -> None:
    _, cert, key = _certificates(tmp_path, "127.0.0.1")
    with (
        tls_server(cert, key) as (port, _),
        pytest.raises(EndpointUnreachable, match=r"TLS handshake with https://127\.0\.0\.1"),
    ):
        HTTPTransport()(_request(port))


def test_trusted_certificate_works_and_connection_is_reused(tmp_path: Path) -> None:
    ca, cert, key = _certificates(tmp_path, "127.0.0.1")
    context = ssl.create_default_context(cafile=str(ca))
    transport = HTTPTransport(ssl_context=context)
    with tls_server(cert, key) as (port, accepts):
        for _ in range(3):
            assert transport(_request(port)).body == b"{}"
        assert len(accepts) == 1
    transport.close()


def test_host_name_must_match_the_certificate(tmp_path: Path) -> None:
    ca, cert, key = _certificates(tmp_path, "dynamodb.example.internal")
    context = ssl.create_default_context(cafile=str(ca))
    with tls_server(cert, key) as (port, _), pytest.raises(EndpointUnreachable, match="TLS"):
        HTTPTransport(ssl_context=context)(_request(port))
