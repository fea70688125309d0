"""S3Client on a fake transport: SigV4 headers and presigned URLs equal botocore's for the same
inputs; ranged streaming, multipart uploads, retries, deadlines and errors that name the
bucket, key, region and endpoint."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

from dynamorm import (
    AccessDenied,
    ConfigurationError,
    Credentials,
    DeadlineExceeded,
    ReadTimeout,
    RetryPolicy,
    S3Client,
    S3Error,
)
from dynamorm._io import s3 as s3_module
from dynamorm._io.transport import Request, Response

AMZ_DATE = "20260301T120000Z"
CREDS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session/token+=")
MiB = 1024 * 1024


@pytest.fixture(autouse=True)
def fixed_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3_module, "_amz_date", lambda offset: AMZ_DATE)


class FakeS3:
    """An in-memory S3 behind a transport: objects, ranges, If-Match, multipart uploads."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}
        self.uploads: dict[str, list[bytes]] = {}
        self.requests: list[Request] = []
        self.fail: Callable[[Request], Response | None] = lambda request: None

    def __call__(self, request: Request) -> Response:
        self.requests.append(request)
        failed = self.fail(request)
        if failed is not None:
            return failed
        path, _, query = request.path.partition("?")
        params = dict(parse_qsl(query, keep_blank_values=True))
        name = unquote(path)
        if request.method == "GET":
            return self._get(name, request.headers)
        if request.method == "PUT" and "partNumber" in params:
            self.uploads[params["uploadId"]].append(request.body)
            return Response(200, {"etag": f'"{hashlib.md5(request.body).hexdigest()}"'}, b"")
        if request.method == "PUT":
            etag = hashlib.md5(request.body).hexdigest()
            self.objects[name] = (request.body, etag)
            return Response(200, {"etag": f'"{etag}"'}, b"")
        if request.method == "POST" and "uploads" in params:
            upload_id = f"up{len(self.uploads)}"
            self.uploads[upload_id] = []
            body = f"<InitiateMultipartUploadResult><UploadId>{upload_id}</UploadId>"
            return Response(200, {}, body.encode() + b"</InitiateMultipartUploadResult>")
        if request.method == "POST":
            parts = self.uploads.pop(params["uploadId"], None)
            if parts is None:
                return error(404, "NoSuchUpload")
            digests = b"".join(hashlib.md5(p).digest() for p in parts)
            etag = f"{hashlib.md5(digests).hexdigest()}-{len(parts)}"
            self.objects[name] = (b"".join(parts), etag)
            return Response(200, {}, b"<CompleteMultipartUploadResult/>")
        if request.method == "DELETE":
            self.uploads.pop(params["uploadId"], None)
            return Response(204, {}, b"")
        raise AssertionError(request)

    def _get(self, name: str, headers: dict[str, str]) -> Response:
        if name not in self.objects:
            return error(404, "NoSuchKey", "The specified key does not exist.")
        data, etag = self.objects[name]
        if "if-match" in headers and headers["if-match"] != f'"{etag}"':
            return error(412, "PreconditionFailed")
        if "range" not in headers:
            return Response(200, {"etag": f'"{etag}"'}, data)
        first, _, last = headers["range"].removeprefix("bytes=").partition("-")
        start = int(first)
        end = min(int(last) if last else len(data) - 1, len(data) - 1)
        if start >= len(data):
            return error(416, "InvalidRange")
        rng = f"bytes {start}-{end}/{len(data)}"
        return Response(206, {"etag": f'"{etag}"', "content-range": rng}, data[start : end + 1])


def error(status: int, code: str, message: str = "") -> Response:
    body = f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>R1</RequestId>"
    return Response(status, {"date": "Sun, 01 Mar 2026 12:00:00 GMT"}, (body + "</Error>").encode())


def client(fake: FakeS3, *, endpoint: str | None = "http://127.0.0.1:4566", **kw: Any) -> S3Client:
    return S3Client(
        region="eu-west-1",
        endpoint_url=endpoint,
        credentials=CREDS,
        transport=fake,
        retry=RetryPolicy(4, base_delay=0.001, max_delay=0.002),
        **kw,
    )


# --- signing: the same as botocore's for the same inputs ------------------------------------


@pytest.fixture
def botocore_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.auth

    fixed = datetime.datetime(2026, 3, 1, 12, 0, 0)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: fixed)


def boto_credentials() -> Any:
    from botocore.credentials import Credentials as BotoCredentials

    token = CREDS.session_token
    return BotoCredentials(
        CREDS.access_key_id,
        CREDS.secret_access_key.reveal(),
        token.reveal() if token is not None else None,
    )


def botocore_authorization(request: Request) -> str:
    """botocore's Authorization header for the same method, URL, headers and body."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest

    skip = ("authorization", "user-agent", "x-amz-date", "x-amz-security-token")
    headers = {k: v for k, v in request.headers.items() if k.lower() not in skip}
    url = f"http://{request.endpoint.netloc}{request.path}"
    aws = AWSRequest(method=request.method, url=url, headers=headers, data=request.body)
    S3SigV4Auth(boto_credentials(), "s3", "eu-west-1").add_auth(aws)
    return str(aws.headers["Authorization"])


@pytest.mark.parametrize(
    ("operation", "key"),
    [("get", "settlements/acme/2026-03-01 file+1.csv"), ("put", "reports/ü/r=1.csv")],
)
@pytest.mark.usefixtures("botocore_clock")
def test_request_signatures_equal_botocores(operation: str, key: str) -> None:
    fake = FakeS3()
    s3 = client(fake)
    if operation == "get":
        fake.objects[f"/bucket-1/{key}"] = (b"abc", "e")
        s3.get("bucket-1", key, start=1, if_match="e")
    else:
        s3.put("bucket-1", key, b"a,b\n1,2\n", content_type="text/csv")
    [request] = fake.requests
    assert request.headers["Authorization"] == botocore_authorization(request)
    assert request.headers["x-amz-content-sha256"] == hashlib.sha256(request.body).hexdigest()


@pytest.mark.usefixtures("botocore_clock")
def test_a_presigned_url_equals_botocores() -> None:
    from botocore.auth import S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest

    url = client(FakeS3()).presign_get("exports", "exports/m1/2026 März+1.csv", expires_in=900)
    parts = urlsplit(url)
    assert parts.path == "/exports/exports/m1/2026%20M%C3%A4rz%2B1.csv"
    aws = AWSRequest(method="GET", url=f"{parts.scheme}://{parts.netloc}{parts.path}")
    S3SigV4QueryAuth(boto_credentials(), "s3", "eu-west-1", expires=900).add_auth(aws)
    assert dict(parse_qsl(parts.query)) == dict(parse_qsl(urlsplit(aws.url).query))
    assert url.partition("?")[0] == aws.url.partition("?")[0]


def test_aws_endpoints_are_virtual_hosted_when_the_bucket_allows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for variable in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(variable, raising=False)
    s3 = client(FakeS3(), endpoint=None)
    assert s3.presign_get("my-bucket", "a/b.csv").startswith(
        "https://my-bucket.s3.eu-west-1.amazonaws.com/a/b.csv?"
    )
    assert s3.presign_get("my.dotted.bucket", "k").startswith(
        "https://s3.eu-west-1.amazonaws.com/my.dotted.bucket/k?"
    )
    with pytest.raises(ConfigurationError, match="7 days"):
        s3.presign_get("b", "k", expires_in=604801)


# --- streaming and uploads ----------------------------------------------------------------


def test_stream_reads_ranged_chunks_pinned_to_the_first_etag() -> None:
    fake = FakeS3()
    data = bytes(range(256)) * 40  # 10,240 bytes
    fake.objects["/b/k"] = (data, "v1")
    s3 = client(fake)
    chunks = list(s3.stream("b", "k", start=100, chunk_size=4096))
    assert b"".join(chunks) == data[100:]
    assert [len(c) for c in chunks] == [4096, 4096, 1948]
    assert [r.headers.get("if-match") for r in fake.requests] == [None, '"v1"', '"v1"']
    assert list(s3.stream("b", "k", start=len(data))) == []  # 416: nothing left

    fake.requests.clear()
    replaced = s3.stream("b", "k", chunk_size=4096)
    next(replaced)
    fake.objects["/b/k"] = (b"another file", "v2")
    with pytest.raises(S3Error) as caught:
        next(replaced)
    assert caught.value.type_name == "PreconditionFailed"
    assert caught.value.status == 412


def test_small_uploads_are_one_put_and_large_ones_multipart() -> None:
    fake = FakeS3()
    s3 = client(fake)
    assert s3.upload("b", "small.csv", [b"a\n", b"b\n"], content_type="text/csv") == 4
    assert fake.objects["/b/small.csv"][0] == b"a\nb\n"
    assert [r.method for r in fake.requests] == ["PUT"]

    fake.requests.clear()
    data = [bytes([i]) * MiB for i in range(12)]  # 12 MiB in 1 MiB chunks
    assert s3.upload("b", "big.csv", iter(data), part_size=5 * MiB) == 12 * MiB
    assert fake.objects["/b/big.csv"][0] == b"".join(data)
    assert [len(r.body) for r in fake.requests if "partNumber" in r.path] == [
        5 * MiB,
        5 * MiB,
        2 * MiB,
    ]
    assert fake.objects["/b/big.csv"][1].endswith("-3")


def test_a_failed_upload_is_aborted_and_the_error_raised() -> None:
    fake = FakeS3()

    def chunks() -> Any:
        yield b"x" * (5 * MiB)
        raise RuntimeError("the report query failed")

    with pytest.raises(RuntimeError, match="report query"):
        client(fake).upload("b", "r.csv", chunks(), part_size=5 * MiB)
    assert [r.method for r in fake.requests] == ["POST", "PUT", "DELETE"]
    assert fake.uploads == {}
    assert "/b/r.csv" not in fake.objects


def test_a_lost_completion_answer_is_checked_against_the_object() -> None:
    fake = FakeS3()
    inner = FakeS3.__call__
    lost: list[bool] = []

    def fail(request: Request) -> Response | None:
        if request.method == "POST" and "uploadId" in request.path and not lost:
            lost.append(True)
            inner(fake, request)  # S3 completes the upload; its answer never arrives
            raise ReadTimeout("the answer was lost", endpoint="http://127.0.0.1:4566")
        return None

    fake.fail = fail
    data = b"y" * (6 * MiB)
    assert client(fake).upload("b", "r.csv", [data], part_size=5 * MiB) == len(data)
    assert fake.objects["/b/r.csv"][0] == data


# --- retries, deadlines and errors ----------------------------------------------------------


def test_errors_name_the_operation_bucket_key_region_and_endpoint() -> None:
    with pytest.raises(S3Error) as caught:
        client(FakeS3()).get("settlements", "acme/missing.csv")
    text = str(caught.value)
    for part in (
        "GetObject",
        "s3://settlements/acme/missing.csv",
        "NoSuchKey",
        "eu-west-1",
        "http://127.0.0.1:4566",
    ):
        assert part in text
    assert (caught.value.bucket, caught.value.key, caught.value.status) == (
        "settlements",
        "acme/missing.csv",
        404,
    )
    assert not caught.value.retryable


def test_throttling_and_lost_answers_are_retried() -> None:
    fake = FakeS3()
    fake.objects["/b/k"] = (b"data", "e")
    answers: list[Any] = [error(503, "SlowDown"), ReadTimeout("lost", endpoint="x")]

    def fail(request: Request) -> Response | None:
        if answers:
            answer = answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            assert isinstance(answer, Response)
            return answer
        return None

    fake.fail = fail
    assert client(fake).get("b", "k").body == b"data"
    assert len(fake.requests) == 3


def test_expired_credentials_are_refreshed_once_and_access_denied_is_not_retried() -> None:
    fake = FakeS3()
    fake.objects["/b/k"] = (b"data", "e")
    expired = [error(400, "ExpiredToken")]
    fake.fail = lambda request: expired.pop() if expired else None
    s3 = client(fake)
    invalidated: list[bool] = []
    s3.credentials.invalidate = lambda: invalidated.append(True)  # type: ignore[method-assign]
    assert s3.get("b", "k").body == b"data"
    assert invalidated == [True]

    fake.fail = lambda request: error(403, "AccessDenied", "Access Denied")
    with pytest.raises(AccessDenied, match=r"s3://b/k: AccessDenied"):
        s3.get("b", "k")


def test_the_deadline_bounds_every_attempt() -> None:
    fake = FakeS3()
    fake.fail = lambda request: error(503, "SlowDown")
    s3 = client(fake).with_deadline(0.2)
    s3.retry = RetryPolicy(1000, base_delay=0.02, max_delay=0.02)
    with pytest.raises(DeadlineExceeded, match=r"S3 GetObject s3://b/k") as caught:
        s3.get("b", "k")
    assert isinstance(caught.value.last_error, S3Error)
    assert 1 < len(fake.requests) < 1000
    assert all(r.deadline is not None for r in fake.requests)
    expired = client(fake).with_deadline(0.0)
    fake.requests.clear()
    with pytest.raises(DeadlineExceeded, match="before attempt 1"):
        expired.put("b", "k", b"x")
    assert fake.requests == []


def test_sharing_a_db_client_keeps_its_credentials_transport_and_deadline() -> None:
    from dynamorm import DB

    fake = FakeS3()
    db = DB(region="eu-west-1", credentials=CREDS, transport=fake, endpoint_url="http://x:1")
    view = db.with_deadline(30)
    s3 = S3Client.sharing(view.client, endpoint_url="http://127.0.0.1:4566")
    assert s3.transport is fake
    assert s3.credentials is db.client.credentials
    assert s3.deadline == view.client.deadline
    assert s3.region == "eu-west-1"


def test_create_bucket_names_the_region_and_accepts_a_bucket_you_own() -> None:
    fake = FakeS3()
    owned = [Response(200, {}, b""), error(409, "BucketAlreadyOwnedByYou")]
    fake.fail = lambda request: owned.pop(0) if owned else error(409, "BucketAlreadyExists")
    s3 = client(fake)
    s3.create_bucket("reports")
    s3.create_bucket("reports")
    assert fake.requests[0].path == "/reports"
    assert b"<LocationConstraint>eu-west-1</LocationConstraint>" in fake.requests[0].body
    with pytest.raises(S3Error, match="BucketAlreadyExists"):
        s3.create_bucket("reports")  # someone else's
