"""Corporate networks: HTTP(S) proxies from the environment, reached with a CONNECT tunnel.

``HTTPS_PROXY`` (https endpoints) and ``HTTP_PROXY`` (http endpoints), in upper or lower case,
name an ``http://[user:password@]host:port`` proxy; ``NO_PROXY`` lists hosts reached directly
(``*``, ``host``, ``.suffix`` or ``suffix`` for a domain and its subdomains, optional ``:port``,
IP addresses and CIDR ranges). As with boto3, a local engine behind a proxy needs
``NO_PROXY=localhost,127.0.0.1``. Every connection through a proxy is a tunnel
(``CONNECT host:port``), so TLS stays end to end with DynamoDB. Nothing here is imported
unless a proxy variable is set.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import TYPE_CHECKING

from dynamorm._core.errors import ConfigurationError

if TYPE_CHECKING:
    from dynamorm._io.transport import Endpoint

PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")
_MAX_REPLY = 16 * 1024


class Proxy:
    """A proxy to tunnel through: address, port, and the ``Proxy-Authorization`` header."""

    __slots__ = ("authorization", "host", "port", "shown")

    def __init__(self, url: str) -> None:
        scheme, sep, rest = url.strip().partition("://")
        if not sep:
            scheme, rest = "http", url.strip()
        if scheme.lower() != "http":
            raise ConfigurationError(
                f"proxy URL scheme {scheme!r} is not supported; use http://host:port "
                "(the tunnel to DynamoDB is TLS either way)"
            )
        rest = rest.split("/", 1)[0]
        userinfo, at, hostport = rest.rpartition("@")
        self.authorization: str | None = None
        if at:
            import base64
            from urllib.parse import unquote

            user, _, password = userinfo.partition(":")
            token = f"{unquote(user)}:{unquote(password)}".encode()
            self.authorization = "Basic " + base64.b64encode(token).decode()
        host, port = _split_port(hostport, 8080)
        if not host:
            raise ConfigurationError(
                "proxy URL has no host (value not shown: it may hold a password)"
            )
        self.host: str = host
        self.port: int = port
        self.shown: str = f"http://{host}:{port}"  # never the credentials

    def __repr__(self) -> str:
        return f"Proxy({self.shown})"


def _split_port(hostport: str, default: int) -> tuple[str, int]:
    if hostport.startswith("["):  # [::1]:3128
        host, _, tail = hostport[1:].partition("]")
        port_text = tail[1:] if tail.startswith(":") else ""
    else:
        host, _, port_text = hostport.partition(":")
    if not port_text:
        return host.lower(), default
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigurationError("proxy URL has an invalid port (value not shown)")
    return host.lower(), int(port_text)


def proxy_for(endpoint: Endpoint, env: Mapping[str, str] | None = None) -> Proxy | None:
    """The proxy ``endpoint`` is reached through, or None (no proxy, or bypassed)."""
    env = os.environ if env is None else env
    names = PROXY_VARIABLES[:2] if endpoint.scheme == "https" else PROXY_VARIABLES[2:]
    url = next((env[n] for n in names if env.get(n)), None)
    if url is None:
        return None
    no_proxy = env.get("NO_PROXY") or env.get("no_proxy") or ""
    if bypassed(endpoint.host, endpoint.port, no_proxy):
        return None
    return Proxy(url)


def bypassed(host: str, port: int, no_proxy: str) -> bool:
    """True when ``NO_PROXY`` names ``host`` (and ``port``, if the entry has one)."""
    host = host.lower().strip("[]")
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        if "/" in entry:
            if _in_network(host, entry):
                return True
            continue
        if entry.startswith("["):  # [::1]:8000
            name, _, tail = entry[1:].partition("]")
            wanted = int(tail[1:]) if tail[1:].isdigit() else 0
        elif entry.count(":") == 1:  # host:port
            name, _, port_text = entry.partition(":")
            wanted = int(port_text) if port_text.isdigit() else 0
        else:  # a host, or a bare IPv6 address
            name, wanted = entry, 0
        if wanted and wanted != port:
            continue
        name = name.lstrip(".")
        if host == name or host.endswith("." + name):
            return True
    return False


def _in_network(host: str, cidr: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(host) in ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False


def open_tunnel(proxy: Proxy, endpoint: Endpoint, timeout: float) -> socket.socket:
    """A socket to ``endpoint`` through ``proxy`` (``CONNECT``), ready for TLS or HTTP.

    Failures raise ``OSError`` whose ``strerror`` names the proxy (never its credentials); the
    transport reports them as ``EndpointUnreachable`` for the endpoint.
    """
    try:
        sock = socket.create_connection((proxy.host, proxy.port), timeout=timeout)
    except OSError as exc:
        reason = (
            "timed out" if isinstance(exc, TimeoutError) else exc.strerror or type(exc).__name__
        )
        raise OSError(None, f"the proxy {proxy.shown} could not be reached: {reason}") from None
    target = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
    target += f":{endpoint.port}"
    lines = [f"CONNECT {target} HTTP/1.1", f"host: {target}"]
    if proxy.authorization:
        lines.append(f"proxy-authorization: {proxy.authorization}")
    try:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        reply = _read_reply(sock)
    except OSError as exc:
        sock.close()
        reason = "no answer in time" if isinstance(exc, TimeoutError) else type(exc).__name__
        raise OSError(None, f"CONNECT through the proxy {proxy.shown} failed: {reason}") from None
    status_line = reply.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or parts[1] != "200":
        sock.close()
        hint = (
            "; it wants credentials: put them in the proxy URL (http://user:password@host:port)"
            if len(parts) > 1 and parts[1] == "407"
            else ""
        )
        raise OSError(
            None, f"the proxy {proxy.shown} refused the tunnel ({status_line[:80]!r}){hint}"
        )
    return sock


def _read_reply(sock: socket.socket) -> bytes:
    """The proxy's reply head, read byte-wise up to the blank line so no tunnel byte is lost."""
    data = bytearray()
    while not data.endswith(b"\r\n\r\n"):
        chunk = sock.recv(1)
        if not chunk:
            raise ConnectionResetError
        data += chunk
        if len(data) > _MAX_REPLY:
            raise ConnectionResetError
    return bytes(data)
