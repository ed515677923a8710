"""S3 for the export files (multipart uploads, short-lived download URLs) and SQS for the export jobs.

A download URL is a presigned S3 GET. Where S3 itself is out of a browser's reach (the local runtime's embedded S3),
`download_base_url` is set and the URL instead names a route of that server with a signed, expiring token, which
`verify_download_token` checks; nothing else differs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pump_anthropic.adapters.aws_errors import aws_code
from pump_anthropic.clock import utc_now
from pump_anthropic.exceptions import PumpError, SyncQueueUnavailableError

DOWNLOAD_URL_SECONDS = 15 * 60
logger = logging.getLogger(__name__)


def object_key(tenant_id: str, export_id: str, filename: str) -> str:
    """Tenant-scoped, from a digest of the tenant id: a tenant id may hold characters that do not belong in a key."""
    tenant_prefix = hashlib.sha256(tenant_id.encode()).hexdigest()[:32]
    return f"exports/{tenant_prefix}/{export_id}/{filename}"


def _upload_failed(exc: Exception) -> PumpError:
    return PumpError(
        f"The export file could not be written ({aws_code(exc)}); please try again.", code="export_upload_failed"
    )


@dataclass
class MultipartUpload:
    """One object written part by part; each part is sent as it is handed over, never gathered here."""

    client: Any
    bucket: str
    key: str
    upload_id: str
    parts: list[dict] = field(default_factory=list)

    def upload_part(self, data: bytes) -> None:
        number = len(self.parts) + 1
        try:
            response = self.client.upload_part(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=data
            )
        except (ClientError, BotoCoreError) as exc:
            raise _upload_failed(exc) from None
        self.parts.append({"ETag": response["ETag"], "PartNumber": number})

    def complete(self) -> None:
        try:
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, MultipartUpload={"Parts": self.parts}
            )
        except (ClientError, BotoCoreError) as exc:
            raise _upload_failed(exc) from None

    def abort(self) -> None:
        abort_upload(self.client, self.bucket, self.key, self.upload_id)


def abort_upload(client: Any, bucket: str, key: str, upload_id: str) -> None:
    """Best effort: an upload left behind is removed by the bucket's lifecycle rule a day later."""
    try:
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    except (ClientError, BotoCoreError) as exc:
        logger.warning("export upload not aborted", extra={"error": aws_code(exc)})


@dataclass(frozen=True)
class ExportStore:
    client: Any
    bucket: str
    download_base_url: str | None = None
    _token_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    def start_upload(self, key: str, *, content_type: str, filename: str) -> MultipartUpload:
        try:
            response = self.client.create_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                ContentType=content_type,
                ContentDisposition=_attachment(filename),
            )
        except (ClientError, BotoCoreError) as exc:
            raise _upload_failed(exc) from None
        return MultipartUpload(self.client, self.bucket, key, response["UploadId"])

    def abort_upload(self, key: str, upload_id: str) -> None:
        abort_upload(self.client, self.bucket, key, upload_id)

    def download_url(self, key: str, *, export_id: str, filename: str) -> tuple[str, datetime]:
        """A URL that fetches the file for the next 15 minutes, and when it stops working."""
        expires_at = utc_now().replace(microsecond=0) + timedelta(seconds=DOWNLOAD_URL_SECONDS)
        if self.download_base_url is not None:
            token = self._token(key, int(expires_at.timestamp()))
            base = self.download_base_url.rstrip("/")
            return f"{base}/costs/exports/{export_id}/download?token={token}", expires_at
        url = self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": key, "ResponseContentDisposition": _attachment(filename)},
            ExpiresIn=DOWNLOAD_URL_SECONDS,
        )
        return url, expires_at

    def verify_download_token(self, export_id: str, token: str) -> str | None:
        """The object key a download token grants, or None (forged, expired, or for another export)."""
        payload, _, signature = token.partition(".")
        expected = _b64(hmac.new(self._token_secret, payload.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(signature, expected):
            return None
        try:
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except ValueError:
            return None
        key, expires = claims.get("key"), claims.get("exp")
        if not isinstance(key, str) or not isinstance(expires, int) or utc_now().timestamp() > expires:
            return None
        return key if key.split("/")[2:3] == [export_id] else None

    def open_object(self, key: str) -> dict:
        """The stored object's streaming body and headers (the local download route)."""
        return self.client.get_object(Bucket=self.bucket, Key=key)

    def _token(self, key: str, expires: int) -> str:
        payload = _b64(json.dumps({"key": key, "exp": expires}, separators=(",", ":")).encode())
        return f"{payload}.{_b64(hmac.new(self._token_secret, payload.encode(), hashlib.sha256).digest())}"


@dataclass(frozen=True)
class ExportQueue:
    """The SQS queue the export function consumes: one message per job, ids only."""

    client: Any
    queue_url: str

    def send(self, message: dict, *, delay_seconds: int = 0) -> None:
        """`delay_seconds` (at most 900): the message is handed out no sooner (a job put back to wait its turn)."""
        try:
            self.client.send_message(
                QueueUrl=self.queue_url, MessageBody=json.dumps(message), DelaySeconds=min(delay_seconds, 900)
            )
        except (ClientError, BotoCoreError) as exc:
            raise SyncQueueUnavailableError(
                f"The export could not be queued ({aws_code(exc)}); please try again.", code="export_not_queued"
            ) from None


def _attachment(filename: str) -> str:
    return f'attachment; filename="{filename}"'


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")
