"""S3Client against moto's server over real HTTP: put, ranged streaming, multipart upload,
presigned links, and errors naming the bucket and key."""

from __future__ import annotations

import secrets
import urllib.request
from collections.abc import Iterator

import pytest

from dynamorm import S3Client, S3Error
from dynamorm.local import LOCAL_CREDENTIALS, LocalDynamoDB

pytestmark = pytest.mark.integration
MiB = 1024 * 1024


@pytest.fixture
def s3(moto_server: LocalDynamoDB) -> Iterator[tuple[S3Client, str]]:
    bucket = f"b{secrets.token_hex(6)}"
    client = S3Client(
        region="us-east-1", endpoint_url=moto_server.endpoint, credentials=LOCAL_CREDENTIALS
    )
    client.create_bucket(bucket)
    client.create_bucket(bucket)  # yours already: fine
    yield client, bucket
    client.transport.close()  # type: ignore[attr-defined]


def test_put_get_stream_and_presign(s3: tuple[S3Client, str]) -> None:
    client, bucket = s3
    data = b"".join(f"{i:07d},line\n".encode() for i in range(50_000))  # 650 KB
    etag = client.put(bucket, "settlements/acme/f 1.csv", data, content_type="text/csv")
    got = client.get(bucket, "settlements/acme/f 1.csv", start=10, end=19, if_match=etag)
    assert got.body == data[10:20]
    assert got.size == len(data)
    assert got.etag == etag
    chunks = list(client.stream(bucket, "settlements/acme/f 1.csv", start=7, chunk_size=100_000))
    assert b"".join(chunks) == data[7:]
    assert max(map(len, chunks)) == 100_000
    url = client.presign_get(bucket, "settlements/acme/f 1.csv", expires_in=60)
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == data


def test_a_large_upload_is_multipart_and_reads_back(s3: tuple[S3Client, str]) -> None:
    client, bucket = s3
    chunks = [bytes([65 + i % 26]) * (MiB // 2) for i in range(23)]  # 11.5 MiB
    written = client.upload(bucket, "reports/big.csv", iter(chunks), part_size=5 * MiB)
    assert written == len(b"".join(chunks))
    head = client.get(bucket, "reports/big.csv", start=0, end=0)
    assert head.size == written
    assert head.etag.endswith("-3")  # three parts: 5 + 5 + 1.5 MiB
    assert b"".join(client.stream(bucket, "reports/big.csv", chunk_size=4 * MiB)) == b"".join(
        chunks
    )


def test_errors_name_the_bucket_and_key(s3: tuple[S3Client, str]) -> None:
    client, bucket = s3
    with pytest.raises(S3Error, match=rf"GetObject s3://{bucket}/nope.csv: NoSuchKey") as caught:
        client.get(bucket, "nope.csv")
    assert caught.value.status == 404
    assert client.endpoint.url in str(caught.value)
    client.put(bucket, "k", b"v1")
    with pytest.raises(S3Error) as changed:
        list(client.stream(bucket, "k", if_match="0" * 32))
    assert changed.value.type_name == "PreconditionFailed"
