"""EventBridge: where spend alerts go out, one event per alert (source `pump.anthropic`, detail-type
`Anthropic spend alert`, detail = the alert as GET /alerts shows it, plus the tenant it belongs to)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pump_anthropic.adapters.aws_errors import aws_code

EVENT_SOURCE = "pump.anthropic"
DETAIL_TYPE = "Anthropic spend alert"
# PutEvents takes at most 10 entries per call.
BATCH_SIZE = 10
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlertBus:
    client: Any
    bus_name: str

    def publish(self, tenant_id: str, alerts: Sequence[dict]) -> list[str]:
        """Put one event per alert; returns the ids whose events were accepted. A refused batch or entry is left
        for the next sync to try again (the caller keeps those alerts unpublished)."""
        published: list[str] = []
        for offset in range(0, len(alerts), BATCH_SIZE):
            batch = alerts[offset : offset + BATCH_SIZE]
            entries = [
                {
                    "Source": EVENT_SOURCE,
                    "DetailType": DETAIL_TYPE,
                    "Detail": json.dumps({**alert, "tenant_id": tenant_id}, sort_keys=True),
                    "EventBusName": self.bus_name,
                }
                for alert in batch
            ]
            try:
                response = self.client.put_events(Entries=entries)
            except (ClientError, BotoCoreError) as exc:
                logger.error("alert events not put", extra={"error_code": aws_code(exc), "alerts": len(batch)})
                continue
            for alert, result in zip(batch, response.get("Entries", []), strict=False):
                if result.get("EventId") and not result.get("ErrorCode"):
                    published.append(alert["id"])
        return published
