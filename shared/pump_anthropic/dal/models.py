"""PynamoDB models of the single table. Private to the dal package: everyone else calls repository functions.

Keys (see docs/storage.md for the access patterns):
  connection   pk=TENANT#{tenant}                         sk=CONN#{connection}      gsi1: SYNC#{shard} / {connection}
  chunk        pk=TENANT#{tenant}#CONN#{connection}       sk=CHUNK#{start}
  workspace    pk=TENANT#{tenant}#CONN#{connection}       sk=WORKSPACE#{workspace_id}
  api key      pk=TENANT#{tenant}#CONN#{connection}       sk=APIKEY#{api_key_id}
  sync state   pk=TENANT#{tenant}#CONN#{connection}       sk=SYNC
  budget       pk=TENANT#{tenant}#CONN#{connection}       sk=BUDGET#{budget_id}
  alert        pk=TENANT#{tenant}#CONN#{connection}       sk=ALERT#{alert_id}
  spend limits pk=TENANT#{tenant}#CONN#{connection}       sk=SPEND_LIMITS
  cost item    pk=TENANT#{tenant}#CONN#{connection}#MONTH#{yyyy-mm}   sk=ITEM#{date}#{item_id}
  rollup       pk=TENANT#{tenant}#ROLLUP                  sk=DAY#{date}#CONN#{connection}#P{part}
  key rollup   pk=TENANT#{tenant}#ROLLUP                  sk=KEYDAY#{date}#CONN#{connection}#P{part}

Request quotas live in a table of their own (QuotaModel).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pynamodb.attributes import (
    Attribute,
    BinaryAttribute,
    BooleanAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.constants import NUMBER
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model


class DecimalAttribute(Attribute[Decimal]):
    """A DynamoDB number kept as an exact Decimal (PynamoDB's NumberAttribute goes through float)."""

    attr_type = NUMBER

    def serialize(self, value: Decimal) -> str:
        # Normalized so a stored value compares equal to a freshly computed one ("4.9730" == "4.973").
        return format(value.normalize(), "f")

    def deserialize(self, value: Any) -> Decimal:
        return Decimal(value)


class _Base(Model):
    class Meta:
        table_name = "pump-anthropic"
        region = "us-east-1"
        max_retry_attempts = 8

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    item_type = UnicodeAttribute()


class SyncIndex(GlobalSecondaryIndex["ConnectionModel"]):
    class Meta:
        index_name = "gsi1"
        projection = AllProjection()
        read_capacity_units = 1
        write_capacity_units = 1

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class ConnectionModel(_Base):
    class Meta(_Base.Meta):
        pass

    tenant_id = UnicodeAttribute()
    connection_id = UnicodeAttribute()
    status = UnicodeAttribute()
    organization_id = UnicodeAttribute()
    organization_name = UnicodeAttribute()
    key_hint = UnicodeAttribute()
    secret_id = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    backfill_run = NumberAttribute(default=0)
    # A fresh nonce per claimed run: part of the run's Step Functions execution name, so a retried start of the
    # same claim reuses the name and no other claim (even one made after a purge deleted this item) ever does.
    backfill_run_id = UnicodeAttribute(null=True)
    backfill_started_at = UTCDateTimeAttribute(null=True)
    backfill_finished_at = UTCDateTimeAttribute(null=True)
    last_sync_at = UTCDateTimeAttribute(null=True)
    last_sync_json = UnicodeAttribute(null=True)
    sync_requested_at = UTCDateTimeAttribute(null=True)
    last_error_code = UnicodeAttribute(null=True)
    last_error_message = UnicodeAttribute(null=True)
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    sync_index = SyncIndex()


class ChunkModel(_Base):
    class Meta(_Base.Meta):
        pass

    start = UnicodeAttribute()
    end = UnicodeAttribute()
    status = UnicodeAttribute()
    run = NumberAttribute(default=0)
    items_written = NumberAttribute(default=0)
    items_unchanged = NumberAttribute(default=0)
    items_deleted = NumberAttribute(default=0)
    anthropic_requests = NumberAttribute(default=0)
    # {"sources": [{"source", "from", "to", "reason"?}], "data_refreshed_at"}: which API served the chunk's days.
    source_json = UnicodeAttribute(null=True)
    error_code = UnicodeAttribute(null=True)
    error_message = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute()


class WorkspaceModel(_Base):
    class Meta(_Base.Meta):
        pass

    workspace_id = UnicodeAttribute(null=True)
    name = UnicodeAttribute()
    archived = BooleanAttribute(default=False)


class ApiKeyModel(_Base):
    class Meta(_Base.Meta):
        pass

    api_key_id = UnicodeAttribute()
    name = UnicodeAttribute()
    partial_key_hint = UnicodeAttribute(null=True)
    status = UnicodeAttribute(null=True)
    workspace_id = UnicodeAttribute(null=True)  # the key's home workspace when in_workspace (None = Default)
    in_workspace = BooleanAttribute(null=True)  # allocation.home_workspace's verdict (None: stored before it)
    created_at = UnicodeAttribute(null=True)  # as the key list gives it (ISO 8601), for the new-key alert


class SyncStateModel(_Base):
    class Meta(_Base.Meta):
        pass

    cursor = UnicodeAttribute(null=True)
    last_run_at = UTCDateTimeAttribute(null=True)
    last_window_start = UnicodeAttribute(null=True)
    last_window_end = UnicodeAttribute(null=True)
    anthropic_requests = NumberAttribute(default=0)
    items_written = NumberAttribute(default=0)
    items_unchanged = NumberAttribute(default=0)
    items_deleted = NumberAttribute(default=0)


class CostItemModel(_Base):
    class Meta(_Base.Meta):
        pass

    date = UnicodeAttribute()
    item_id = UnicodeAttribute()
    workspace_id = UnicodeAttribute(null=True)
    model = UnicodeAttribute(null=True)
    cost_type = UnicodeAttribute(null=True)
    token_type = UnicodeAttribute(null=True)
    service_tier = UnicodeAttribute(null=True)
    context_window = UnicodeAttribute(null=True)
    inference_geo = UnicodeAttribute(null=True)
    cost_usd = DecimalAttribute(null=True)
    amount_cents = DecimalAttribute(null=True)
    quantity = NumberAttribute(null=True)
    unit = UnicodeAttribute(null=True)
    description = UnicodeAttribute(null=True)
    currency = UnicodeAttribute(default="USD")


class DayDocModel(_Base):
    """One day of one connection with all its projections, zlib-compressed JSON. The head item (sk `DAY#{date}`)
    holds the first part; a day too large for one item continues in parts written before the head."""

    class Meta(_Base.Meta):
        pass

    date = UnicodeAttribute()
    connection_id = UnicodeAttribute()
    digest = UnicodeAttribute()  # of the whole day, so an unchanged day is never rewritten
    parts = NumberAttribute(default=1)
    body = BinaryAttribute(legacy_encoding=False)
    expires = TTLAttribute(null=True)  # only with a retention setting


class QuotaModel(Model):
    """A request counter of one tenant and action in one time window, in its own small table (so the read API can
    count exports without any write access to the cost table); DynamoDB's TTL removes it afterwards."""

    class Meta:
        table_name = "pump-anthropic-quotas"
        region = "us-east-1"
        max_retry_attempts = 8

    counter = UnicodeAttribute(hash_key=True)  # {tenant}#{action}#{window start, epoch seconds}
    uses = NumberAttribute(null=True)
    expires = TTLAttribute(null=True)


class RollupModel(_Base):
    class Meta(_Base.Meta):
        pass

    date = UnicodeAttribute()
    connection_id = UnicodeAttribute()
    # JSON list, one entry per (workspace, model, cost_type, token_type, service_tier, context_window).
    lines = UnicodeAttribute()


ALL_MODELS: tuple[type[_Base], ...] = (
    ConnectionModel,
    ChunkModel,
    WorkspaceModel,
    ApiKeyModel,
    SyncStateModel,
    CostItemModel,
    RollupModel,
    DayDocModel,
)


class ExportJobModel(_Base):
    """An asynchronous export of a date range: pk=TENANT#{tenant}, sk=EXPORT#{export id}, gone by TTL after 7 days
    (the file's own lifecycle rule is as long)."""

    class Meta(_Base.Meta):
        pass

    tenant_id = UnicodeAttribute()
    export_id = UnicodeAttribute()
    status = UnicodeAttribute()  # queued, running, ready, failed
    format = UnicodeAttribute()
    first_day = UnicodeAttribute()
    last_day = UnicodeAttribute()
    allocation = UnicodeAttribute(null=True)
    group_by = UnicodeAttribute(null=True)  # comma list, csv format only
    gzip = BooleanAttribute(default=False)
    object_key = UnicodeAttribute()
    filename = UnicodeAttribute()
    attempt = NumberAttribute(default=0)  # runs claimed so far; only the latest run may record anything
    upload_id = UnicodeAttribute(null=True)
    rows = NumberAttribute(default=0)
    bytes_written = NumberAttribute(default=0)
    days_done = NumberAttribute(default=0)
    days_total = NumberAttribute(default=0)
    sha256 = UnicodeAttribute(null=True)
    error_code = UnicodeAttribute(null=True)
    error_message = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    finished_at = UTCDateTimeAttribute(null=True)
    expires = TTLAttribute()


ALL_MODELS = (*ALL_MODELS, ExportJobModel)


class BudgetModel(_Base):
    """A budget, in the partition of the connection it watches (so a purge removes it): sk=BUDGET#{budget id}."""

    class Meta(_Base.Meta):
        pass

    budget_id = UnicodeAttribute()
    document = UnicodeAttribute()  # the budget as JSON (domain.budgets.Budget.as_dict)
    updated_at = UTCDateTimeAttribute()


class AlertModel(_Base):
    """An alert the sync raised, in its connection's partition: sk=ALERT#{alert id}. Written once (the id says what
    it is about); `published` turns true once its EventBridge event is put."""

    class Meta(_Base.Meta):
        pass

    alert_id = UnicodeAttribute()
    detected_at = UnicodeAttribute()
    document = UnicodeAttribute()  # the alert as JSON (domain.alerts.Alert.as_dict)
    published = BooleanAttribute(default=False)
    expires = TTLAttribute(null=True)


class SpendLimitsModel(_Base):
    """The connection's spend limits as last read from Anthropic (or why they couldn't be): sk=SPEND_LIMITS."""

    class Meta(_Base.Meta):
        pass

    document = UnicodeAttribute()  # {"status", "read_at", "limits": [...], "error_code"?} as JSON
    updated_at = UTCDateTimeAttribute()


ALL_MODELS = (*ALL_MODELS, BudgetModel, AlertModel, SpendLimitsModel)
