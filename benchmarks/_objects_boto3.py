"""The payment example's S3 helpers as they were on boto3 (examples/payment/objects.py before
``dynamorm.S3Client``), with the same interface: the "before" side of the reconcile cold-start
benchmark (benchmarks/reconcile_cold_start.py)."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterable, Iterator
from typing import Any

CHUNK = 256 * 1024
PART = 8 * 1024 * 1024  # multipart part size: the most an upload holds in memory at once

_clients: dict[str, Any] = {}
_lock = threading.Lock()


def s3() -> Any:
    """A boto3 S3 client, made once per process (endpoint from AWS_ENDPOINT_URL_S3 if set)."""
    with _lock:
        if "s3" not in _clients:
            import boto3
            from botocore.config import Config

            _clients["s3"] = boto3.client(
                "s3",
                region_name=os.environ.get("AWS_REGION", "us-east-1"),
                config=Config(
                    s3={"addressing_style": "path"},
                    retries={"mode": "standard"},
                    signature_version="s3v4",
                ),
            )
        return _clients["s3"]


def reset_s3() -> None:
    """Forget the client (the demo and tests change the environment between runs)."""
    with _lock:
        _clients.clear()


def head(bucket: str, key: str) -> dict[str, Any]:
    answer: dict[str, Any] = s3().head_object(Bucket=bucket, Key=key)
    return answer


def lines(
    bucket: str, key: str, *, start: int = 0, etag: str | None = None, context: Any = None
) -> Iterator[bytes]:
    """The object's lines (with their line endings) from byte ``start``, read in chunks of
    256 KiB: memory stays flat whatever the object's size. ``etag`` pins the object's version
    (a replaced object fails with PreconditionFailed instead of mixing two files)."""
    options: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if start:
        options["Range"] = f"bytes={start}-"
    if etag:
        options["IfMatch"] = f'"{etag.strip(chr(34))}"'
    body = s3().get_object(**options)["Body"]
    try:
        pending = b""
        while True:
            chunk = body.read(CHUNK)
            if not chunk:
                break
            pending += chunk
            cut = pending.rfind(b"\n") + 1
            if cut:
                yield from io.BytesIO(pending[:cut])
                pending = pending[cut:]
        if pending:
            yield pending
    finally:
        body.close()


class _ChunkReader(io.RawIOBase):
    """A read-only file over an iterator of byte chunks (what boto3's upload reads from)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = b""
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._buffer = chunk
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        self.size += n
        return n


def upload(
    bucket: str, key: str, chunks: Iterable[bytes], *, content_type: str, context: Any = None
) -> int:
    """Stream ``chunks`` to ``bucket/key`` (multipart past 8 MiB); return the bytes written."""
    from boto3.s3.transfer import TransferConfig

    reader = _ChunkReader(chunks)
    config = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART, max_concurrency=1)
    s3().upload_fileobj(
        io.BufferedReader(reader, CHUNK),
        bucket,
        key,
        ExtraArgs={"ContentType": content_type},
        Config=config,
    )
    return reader.size


def presign(bucket: str, key: str, *, seconds: int) -> str:
    """A GET link valid for ``seconds`` (SigV4 presigned: it stops working after that)."""
    url: str = s3().generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=seconds
    )
    return url
