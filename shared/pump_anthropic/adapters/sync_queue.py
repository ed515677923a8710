"""SQS: the queue that fans syncs out to the sync function (one message per connection)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pump_anthropic.adapters.aws_errors import aws_code
from pump_anthropic.exceptions import SyncQueueUnavailableError


@dataclass(frozen=True)
class SyncQueue:
    """The SQS queue that fans syncs out to the sync function (one message per connection)."""

    client: Any
    queue_url: str

    def send(self, messages: list[dict]) -> None:
        for offset in range(0, len(messages), 10):
            batch = messages[offset : offset + 10]
            entries = [{"Id": str(i), "MessageBody": json.dumps(m)} for i, m in enumerate(batch)]
            try:
                response = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except (ClientError, BotoCoreError) as exc:
                raise SyncQueueUnavailableError(f"Could not queue the sync ({aws_code(exc)}).") from None
            if response.get("Failed"):
                raise SyncQueueUnavailableError(f"{len(response['Failed'])} sync messages were not queued.")
