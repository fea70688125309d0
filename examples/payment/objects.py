"""S3 for the handlers, on DynamORM's own signer and transport (``dynamorm.S3Client``): stream
an object's lines from a byte offset, stream an upload from an iterator of chunks, presign a
download. No boto3: the S3 client shares the platform DB's credentials and connections, and
a Lambda context bounds its requests like the DB's.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator

from dynamorm import LambdaContextLike, S3Client

from .platform import platform

CHUNK = 1024 * 1024  # one ranged GET: the most a read holds in memory
PART = 8 * 1024 * 1024  # multipart part size: the most an upload holds in memory at once

_clients: dict[int, S3Client] = {}
_lock = threading.Lock()


def s3(context: LambdaContextLike | None = None) -> S3Client:
    """The S3 client of the current Platform (its DB's credentials, transport and region;
    endpoint from ``AWS_ENDPOINT_URL_S3`` if set), bounded by ``context``'s deadline."""
    app = platform()
    with _lock:
        client = _clients.get(id(app))
        if client is None:
            _clients.clear()
            client = _clients[id(app)] = S3Client.sharing(app.db.client)
    return client if context is None else client.with_deadline(context)


def reset_s3() -> None:
    """Forget the client (the demo and tests change the environment between runs)."""
    with _lock:
        _clients.clear()


def lines(
    bucket: str,
    key: str,
    *,
    start: int = 0,
    etag: str | None = None,
    context: LambdaContextLike | None = None,
) -> Iterator[bytes]:
    """The object's lines (with their line endings) from byte ``start``, read 1 MiB at a time
    (ranged GETs): memory stays flat whatever the object's size. ``etag`` pins the object's
    version (a replaced object fails with PreconditionFailed instead of mixing two files)."""
    pending = b""
    for piece in s3(context).stream(bucket, key, start=start, chunk_size=CHUNK, if_match=etag):
        chunk = pending + piece if pending else piece
        begin = 0
        while (end := chunk.find(b"\n", begin)) >= 0:
            yield chunk[begin : end + 1]
            begin = end + 1
        pending = chunk[begin:]
    if pending:
        yield pending


def upload(
    bucket: str,
    key: str,
    chunks: Iterable[bytes],
    *,
    content_type: str,
    context: LambdaContextLike | None = None,
) -> int:
    """Stream ``chunks`` to ``bucket/key`` (multipart past 8 MiB); return the bytes written."""
    return s3(context).upload(bucket, key, chunks, content_type=content_type, part_size=PART)


def presign(bucket: str, key: str, *, seconds: int) -> str:
    """A GET link valid for ``seconds`` (SigV4 presigned: it stops working after that)."""
    return s3().presign_get(bucket, key, expires_in=seconds)
