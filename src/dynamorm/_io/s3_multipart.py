"""A multipart upload in progress for :meth:`S3Client.upload`: create, send parts, complete
(checking a repeated completion against the object) or abort. Loaded by the first upload
that outgrows one part."""

from __future__ import annotations

import hashlib

from dynamorm._core.errors import S3Error
from dynamorm._io.s3 import S3Client, tags


class Multipart:
    """One multipart upload in progress: its id and the parts sent so far."""

    def __init__(self, s3: S3Client, bucket: str, key: str, content_type: str) -> None:
        self.s3, self.bucket, self.key = s3, bucket, key
        response = s3._request(
            "CreateMultipartUpload",
            "POST",
            bucket,
            key,
            query="uploads=",
            headers={"content-type": content_type},
        )
        upload_id = tags(response.body).get("UploadId", "")
        if not upload_id:
            raise S3Error(
                f"S3 CreateMultipartUpload s3://{bucket}/{key}: the answer has no UploadId",
                bucket=bucket,
                key=key,
                operation="CreateMultipartUpload",
            )
        self.upload_id = upload_id
        self.etags: list[str] = []

    def _query(self, extra: str = "") -> str:
        from urllib.parse import quote

        return f"{extra}uploadId={quote(self.upload_id, safe='-_.~')}"

    def send(self, data: bytes) -> None:
        number = len(self.etags) + 1
        response = self.s3._request(
            "UploadPart",
            "PUT",
            self.bucket,
            self.key,
            query=self._query(f"partNumber={number}&"),
            body=data,
        )
        self.etags.append(response.headers.get("etag", "").strip('"'))

    def complete(self) -> None:
        parts = "".join(
            f"<Part><PartNumber>{n}</PartNumber><ETag>&quot;{etag}&quot;</ETag></Part>"
            for n, etag in enumerate(self.etags, 1)
        )
        body = f"<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>".encode()
        try:
            self.s3._request(
                "CompleteMultipartUpload",
                "POST",
                self.bucket,
                self.key,
                query=self._query(),
                headers={"content-type": "application/xml"},
                body=body,
            )
        except S3Error as exc:
            # A repeated completion (its first answer lost) finds the upload gone: it is done
            # if the object now has this upload's ETag.
            if exc.type_name != "NoSuchUpload" or not self._landed():
                raise

    def _landed(self) -> bool:
        """True if the object's ETag is this upload's: the MD5 of its parts' (binary) MD5s,
        then ``-<parts>``. Unknowable when the part ETags are not MD5s: False."""
        if not all(_is_md5(etag) for etag in self.etags):
            return False
        digest = hashlib.md5(  # S3's multipart ETag, not a security use
            b"".join(bytes.fromhex(etag) for etag in self.etags)
        ).hexdigest()
        try:
            found = self.s3.get(self.bucket, self.key, start=0, end=0)
        except S3Error:
            return False
        return found.etag == f"{digest}-{len(self.etags)}"

    def abort(self, cause: BaseException) -> None:
        try:
            self.s3._request(
                "AbortMultipartUpload", "DELETE", self.bucket, self.key, query=self._query()
            )
        except Exception as exc:
            cause.add_note(f"dynamorm: aborting the multipart upload failed too: {exc!r}")


def _is_md5(etag: str) -> bool:
    return len(etag) == 32 and all(c in "0123456789abcdef" for c in etag)
