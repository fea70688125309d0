"""S3 on the library's own signer and transport: ranged GETs streamed in chunks, PUT, a
streamed multipart upload and presigned GET links. No botocore.

The same conventions as the DynamoDB client: SigV4 (``x-amz-content-sha256`` signed), retries
with backoff per the :class:`RetryPolicy`, never past the deadline (``with_deadline``),
credential refresh on ``ExpiredToken``, clock-skew correction, and errors that name the
operation, bucket, key, region and endpoint. Every request made here is safe to send again (a
GET, a PUT of the same bytes, a part, an abort; a completion answered ``NoSuchUpload`` on a
repeat is checked against the object), so a transport failure is retried.

Addressing: path style (``endpoint/bucket/key``) for a custom endpoint (``endpoint_url``,
``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``), virtual-hosted (``bucket.s3.region...``) for
AWS when the bucket name allows it.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Iterator

from dynamorm._core.errors import (
    AccessDenied,
    ConfigurationError,
    DeadlineExceeded,
    DynamORMError,
    ExpiredToken,
    S3Error,
    ServiceError,
    TransportError,
)
from dynamorm._core.protocol import USER_AGENT, clock_skew
from dynamorm._core.retry import RetryPolicy, delay_or_raise
from dynamorm._core.secret import Secret
from dynamorm._core.signing import _payload_hash, presign, sign
from dynamorm._core.steps import Blocking, Send, Sleep
from dynamorm._io.credentials import resolve_credentials
from dynamorm._io.drive import drive
from dynamorm._io.transport import Endpoint, HTTPTransport, Request, Response, Transport

TYPE_CHECKING = False  # typing.TYPE_CHECKING; typing loads only if needed
if TYPE_CHECKING:
    from collections.abc import Generator
    from typing import Any

    from dynamorm._core.steps import Step
    from dynamorm._io.client import Client
    from dynamorm._io.deadline import LambdaContextLike
    from dynamorm._io.provider import CredentialsProvider
    from dynamorm._io.s3_multipart import Multipart

CHUNK = 1024 * 1024
"""``stream``'s default read size: the most one ranged GET holds in memory."""
PART = 8 * 1024 * 1024
"""``upload``'s default part size (S3's minimum is 5 MiB): the most an upload holds."""

_DNS_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_ACCESS = frozenset(
    {
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "RequestTimeTooSkewed",
        "InvalidToken",
        "TokenRefreshRequired",
    }
)
_RETRYABLE = frozenset(
    {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "Throttling"}
)
_TAG = re.compile(r"<(Code|Message|RequestId|UploadId|ETag)>([^<]*)</")
_ENTITIES = (("&quot;", '"'), ("&apos;", "'"), ("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))
_monotonic = time.monotonic


def s3_endpoint(region: str, url: str | None = None) -> tuple[Endpoint, bool]:
    """(endpoint, custom): ``url``, else ``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``, else
    the regional AWS endpoint (custom False)."""
    given = url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if given:
        return Endpoint(given), True
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return Endpoint(f"https://s3.{region}.{suffix}"), False


class S3Object:
    """One GET's answer: ``body`` (the bytes asked for), the object's ``etag`` (quotes
    stripped), its total ``size`` and ``content_type``."""

    __slots__ = ("body", "content_type", "etag", "size")

    def __init__(self, body: bytes, etag: str, size: int, content_type: str) -> None:
        self.body = body
        self.etag = etag
        self.size = size
        self.content_type = content_type

    def __repr__(self) -> str:
        return f"S3Object({len(self.body)} of {self.size} bytes, etag={self.etag!r})"


class S3Client:
    """S3 requests signed and sent by the library. ``S3Client.sharing(db.client)`` reuses a
    DB's credentials, connections, retry policy and deadline; ``with_deadline`` bounds it."""

    service = "s3"

    def __init__(
        self,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        credentials: Any = None,
        transport: Transport | None = None,
        retry: RetryPolicy | None = None,
        connect_timeout: float = 3.0,
        read_timeout: float = 30.0,
    ) -> None:
        if region is None:
            from dynamorm._io.endpoints import default_region

            region = default_region()
        if not region:
            raise ConfigurationError("S3Client needs a region (region=, or AWS_REGION)")
        self.region: str = region
        self.endpoint, self.custom_endpoint = s3_endpoint(region, endpoint_url)
        self.credentials: CredentialsProvider = resolve_credentials(credentials)
        self.transport: Transport = transport if transport is not None else HTTPTransport()
        self.retry: RetryPolicy = retry if retry is not None else RetryPolicy()
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.deadline: float | None = None
        self.clock_offset: float = 0.0
        self._sleep = time.sleep

    @classmethod
    def sharing(
        cls, client: Client, *, region: str | None = None, endpoint_url: str | None = None
    ) -> S3Client:
        """An S3 client with ``client``'s credentials, transport, retry policy, timeouts and
        deadline (``db.client``: a deadline view's deadline carries over)."""
        s3 = cls(
            region=region or client.region,
            endpoint_url=endpoint_url,
            credentials=client.credentials,
            transport=client.transport,
            retry=client.retry,
            connect_timeout=client.connect_timeout,
            read_timeout=max(client.read_timeout, 30.0),
        )
        s3.deadline = client.deadline
        s3.clock_offset = client.clock_offset
        return s3

    def with_deadline(
        self, context_or_seconds: LambdaContextLike | float, *, buffer: float | None = None
    ) -> S3Client:
        """A copy bound to a deadline: a Lambda context (its remaining time less ``buffer``)
        or seconds from now, as ``DB.with_deadline``. A copy of a copy keeps the earlier one."""
        import copy

        from dynamorm._io.deadline import _Budget

        budget = _Budget(context_or_seconds, buffer)
        view = copy.copy(self)
        if self.deadline is None or budget.deadline < self.deadline:
            view.deadline = budget.deadline
        return view

    # --- operations ---------------------------------------------------------------------------

    def get(
        self,
        bucket: str,
        key: str,
        *,
        start: int = 0,
        end: int | None = None,
        if_match: str | None = None,
    ) -> S3Object:
        """GetObject for bytes ``start`` to ``end`` (inclusive; None: to the end).
        ``if_match`` pins the object's ETag (``PreconditionFailed`` if it changed)."""
        headers = {}
        if start or end is not None:
            headers["range"] = f"bytes={start}-{'' if end is None else end}"
        if if_match:
            headers["if-match"] = f'"{if_match.strip(chr(34))}"'
        response = self._request("GetObject", "GET", bucket, key, headers=headers)
        return _object(response)

    def stream(
        self,
        bucket: str,
        key: str,
        *,
        start: int = 0,
        chunk_size: int = CHUNK,
        if_match: str | None = None,
    ) -> Iterator[bytes]:
        """The object's bytes from ``start``, one ranged GET of ``chunk_size`` at a time (memory
        stays flat whatever the object's size). Every GET after the first is pinned to the
        ETag of the first (or ``if_match``): a replaced object fails, it is never mixed."""
        if chunk_size < 1:
            raise ConfigurationError(f"chunk_size must be >= 1, got {chunk_size}")
        etag = if_match
        while True:
            try:
                part = self.get(bucket, key, start=start, end=start + chunk_size - 1, if_match=etag)
            except S3Error as exc:
                if exc.status == 416:
                    return  # start is at (or past) the end of the object
                raise
            etag = part.etag or etag
            if part.body:
                yield part.body
            start += len(part.body)
            if not part.body or start >= part.size:
                return

    def put(
        self,
        bucket: str,
        key: str,
        body: bytes,
        *,
        content_type: str = "application/octet-stream",
    ) -> str:
        """PutObject; returns the new object's ETag (quotes stripped)."""
        response = self._request(
            "PutObject", "PUT", bucket, key, headers={"content-type": content_type}, body=body
        )
        return response.headers.get("etag", "").strip('"')

    def upload(
        self,
        bucket: str,
        key: str,
        chunks: Iterable[bytes],
        *,
        content_type: str = "application/octet-stream",
        part_size: int = PART,
    ) -> int:
        """Stream ``chunks`` to ``bucket/key``: one PutObject when they total under
        ``part_size``, else a multipart upload of ``part_size`` parts (aborted if anything
        fails, the error re-raised). Holds at most a part in memory; returns the bytes written."""
        if part_size < 5 * 1024 * 1024:
            raise ConfigurationError(f"part_size must be at least 5 MiB, got {part_size}")
        buffer = bytearray()
        total = 0
        upload: Multipart | None = None
        try:
            for chunk in chunks:
                buffer += chunk
                total += len(chunk)
                while len(buffer) >= part_size:
                    if upload is None:
                        from dynamorm._io.s3_multipart import Multipart

                        upload = Multipart(self, bucket, key, content_type)
                    upload.send(bytes(buffer[:part_size]))
                    del buffer[:part_size]
            if upload is None:
                self.put(bucket, key, bytes(buffer), content_type=content_type)
                return total
            if buffer:
                upload.send(bytes(buffer))
            upload.complete()
        except BaseException as exc:
            if upload is not None:
                upload.abort(exc)
            raise
        return total

    def create_bucket(self, bucket: str) -> None:
        """CreateBucket in the client's region (local engines, tests, demos); a bucket you
        own already is fine."""
        body = b""
        if self.region != "us-east-1":
            body = (
                "<CreateBucketConfiguration><LocationConstraint>"
                f"{self.region}</LocationConstraint></CreateBucketConfiguration>"
            ).encode()
        try:
            self._request("CreateBucket", "PUT", bucket, "", body=body)
        except S3Error as exc:
            if exc.type_name != "BucketAlreadyOwnedByYou":
                raise

    def presign_get(self, bucket: str, key: str, *, expires_in: int = 900) -> str:
        """A GET link for ``bucket/key`` that works for ``expires_in`` seconds (1 s to 7 days;
        temporary credentials also end it when they expire)."""
        if isinstance(expires_in, bool) or not isinstance(expires_in, int):
            raise ConfigurationError(f"expires_in must be whole seconds, got {expires_in!r}")
        if not 1 <= expires_in <= 604800:
            raise ConfigurationError(f"expires_in must be 1 s to 7 days, got {expires_in}")
        endpoint, path = self._where(bucket, key)
        creds = self._credentials()
        query = presign(
            "GET",
            path,
            host=endpoint.netloc,
            access_key=creds.access_key_id,
            secret_key=creds.secret_access_key,
            session_token=creds.session_token,
            region=self.region,
            service=self.service,
            amz_date=_amz_date(self.clock_offset),
            expires=expires_in,
        )
        return f"{endpoint.url}{path}?{query}"

    # --- one request: sign, send, retry, map errors ------------------------------------------

    def _request(
        self,
        operation: str,
        method: str,
        bucket: str,
        key: str,
        *,
        query: str = "",
        headers: dict[str, str] | None = None,
        body: bytes = b"",
    ) -> Response:
        """Run one request's flow with the sync driver."""
        flow = self._flow(operation, method, bucket, key, query, headers or {}, body)
        return drive(flow, self)

    def _flow(  # noqa: PLR0917 - the request, as _request passes it
        self,
        operation: str,
        method: str,
        bucket: str,
        key: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
    ) -> Generator[Step, Any, Response]:
        """One request as a sans-I/O flow (``Blocking`` credentials, ``Send``, ``Sleep``):
        sign, send, retry within the deadline, map errors."""
        if not bucket or not (key or operation == "CreateBucket"):
            raise ConfigurationError(f"S3 {operation} needs a bucket and a key")
        endpoint, path = self._where(bucket, key)
        payload_hash = _payload_hash(body)
        attempts = 0
        refreshed = skew_fixed = False
        while True:
            attempts += 1
            remaining = None if self.deadline is None else self.deadline - _monotonic()
            if remaining is not None and remaining <= 0:
                raise DeadlineExceeded(
                    f"S3 {operation} s3://{bucket}/{key}: deadline passed before attempt "
                    f"{attempts} could start ({attempts - 1} made)"
                )
            try:
                creds = yield Blocking(self._credentials)
                request = self._signed(
                    method,
                    endpoint,
                    creds,
                    path=path,
                    query=query,
                    headers=dict(headers),
                    body=body,
                    payload_hash=payload_hash,
                )
                response: Response = yield Send(request, self.transport)
                if response.status < 300:
                    if operation != "CompleteMultipartUpload" or b"<Error>" not in response.body:
                        return response
                    response = as_500(response)  # S3 may answer 200 and fail in the body
                raise self._error(operation, bucket, key, response)
            except ExpiredToken:
                if refreshed:
                    raise
                refreshed = True
                self.credentials.invalidate()
                continue
            except AccessDenied as exc:
                offset = None if skew_fixed else clock_skew(exc)
                if offset is None:
                    raise
                skew_fixed = True
                self.clock_offset = offset
                continue
            except TransportError as exc:
                where = f"S3 {operation} s3://{bucket}/{key} ({self.region}, {endpoint.url})"
                exc.message = f"{where}: {exc.message}"
                exc.args = (exc.message,)
                if not exc.retryable:
                    raise
                error: DynamORMError = exc
            except S3Error as exc:
                if not exc.retryable:
                    raise
                error = exc
            remaining = None if self.deadline is None else self.deadline - _monotonic()
            what = f"S3 {operation} s3://{bucket}/{key}"
            yield Sleep(delay_or_raise(self.retry, attempts, remaining, error, what))

    def sleep(self, seconds: float) -> None:
        """Back off for ``seconds``, never past the deadline (the driver's ``Sleep``)."""
        if self.deadline is not None:
            seconds = max(0.0, min(seconds, self.deadline - _monotonic()))
        self._sleep(seconds)

    def _signed(
        self,
        method: str,
        endpoint: Endpoint,
        creds: Any,
        *,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        payload_hash: str,
    ) -> Request:
        """The signed request (SigV4 headers; the session token as a secret header)."""
        headers["host"] = endpoint.netloc
        headers["x-amz-content-sha256"] = payload_hash
        secrets: dict[str, Secret] = {}
        for name, value in sign(
            method,
            path,
            query,
            headers,
            body,
            access_key=creds.access_key_id,
            secret_key=creds.secret_access_key,
            session_token=creds.session_token,
            region=self.region,
            service=self.service,
            amz_date=_amz_date(self.clock_offset),
            payload_hash=payload_hash,
        ).items():
            if isinstance(value, Secret):
                secrets[name] = value
            else:
                headers[name] = value
        headers["user-agent"] = USER_AGENT
        connect, read = self.connect_timeout, self.read_timeout
        deadline = self.deadline
        if deadline is not None:
            left = max(0.001, deadline - _monotonic())
            connect, read = min(connect, left), min(read, left)
        return Request(
            endpoint,
            headers,
            body,
            method=method,
            path=f"{path}?{query}" if query else path,
            connect_timeout=connect,
            read_timeout=read,
            deadline=deadline,
            secret_headers=secrets,
        )

    def _credentials(self) -> Any:
        if self.deadline is None:
            return self.credentials.get()
        from dynamorm._io.credentials import CREDENTIALS_DEADLINE

        token = CREDENTIALS_DEADLINE.set(self.deadline)
        try:
            return self.credentials.get()
        finally:
            CREDENTIALS_DEADLINE.reset(token)

    def _where(self, bucket: str, key: str) -> tuple[Endpoint, str]:
        """The endpoint and URI-encoded path of ``bucket/key``."""
        from urllib.parse import quote

        encoded = quote(key, safe="/-_.~")
        if self.custom_endpoint or not _DNS_BUCKET.match(bucket):
            bucket_path = f"/{quote(bucket, safe='-_.~')}"
            return self.endpoint, f"{bucket_path}/{encoded}" if key else bucket_path
        host = f"{bucket}.{self.endpoint.netloc}"
        return Endpoint(f"{self.endpoint.scheme}://{host}"), f"/{encoded}"

    def _error(self, operation: str, bucket: str, key: str, response: Response) -> ServiceError:
        found = tags(response.body)
        status = response.status
        code = found.get("Code") or {404: "NotFound", 412: "PreconditionFailed"}.get(
            status, f"HTTP {status}"
        )
        message = " ".join(found.get("Message", "").split())[:300]
        text = f"S3 {operation} s3://{bucket}/{key}: {code}" + (f": {message}" if message else "")
        common: dict[str, Any] = {
            "type_name": code,
            "status": status,
            "request_id": found.get("RequestId") or response.headers.get("x-amz-request-id", ""),
            "operation": operation,
            "server_date": response.headers.get("date", ""),
        }
        error: ServiceError
        if code in ("ExpiredToken", "TokenRefreshRequired"):
            error = ExpiredToken(text, **common)
        elif code in _ACCESS or status == 403:
            error = AccessDenied(text, **common)
        else:
            retryable = code in _RETRYABLE or status >= 500 or status == 429
            error = S3Error(text, bucket=bucket, key=key, retryable=retryable, **common)
        error.region = self.region
        error.endpoint = self.endpoint.url
        return error

    def __repr__(self) -> str:
        return f"S3Client(region={self.region!r}, endpoint={self.endpoint.url!r})"


def as_500(response: Response) -> Response:
    return Response(500, response.headers, response.body, response.sends)


def tags(body: bytes) -> dict[str, str]:
    """The first Code, Message, RequestId, UploadId and ETag of an S3 XML answer."""
    found: dict[str, str] = {}
    for name, raw in _TAG.findall(body[:65536].decode("utf-8", "replace")):
        if name not in found:
            text = raw
            for entity, char in _ENTITIES:
                text = text.replace(entity, char)
            found[name] = text
    return found


def _object(response: Response) -> S3Object:
    headers = response.headers
    size = len(response.body)
    total = headers.get("content-range", "").rpartition("/")[2]
    if total.isdigit():
        size = int(total)
    return S3Object(
        response.body,
        headers.get("etag", "").strip('"'),
        size,
        headers.get("content-type", ""),
    )


def _amz_date(clock_offset: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() + clock_offset))
