"""Budgets and alerts, each in the partition of the connection it watches, so purging a connection removes them.

A budget id is the tenant's (PUT /budgets/{id}): finding one reads each of the tenant's connection partitions, which
are few. An alert is written once, conditionally on its id being new; the caller publishes the new ones and marks
them published, and re-publishes any a failed run left unpublished.

The spend guard's spend days (domain/spend_days.py) live there too, one small item per day (sk `SPENDDAY#{date}`,
compressed): each names the digest of the day document it was folded from, read here with the day's heads.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta

from pynamodb.exceptions import DeleteError, DoesNotExist, GetError, PutError, QueryError, UpdateError

from pump_anthropic.dal import cost_days
from pump_anthropic.dal.models import AlertModel, BudgetModel, DayDocModel, SpendLimitsModel
from pump_anthropic.dal.table import (
    batch_write,
    binary_value,
    condition_failed,
    connection_pk,
    current_time,
    item_key,
    months,
    storage_error,
    table_connection,
)

BUDGET_PREFIX = "BUDGET#"
ALERT_PREFIX = "ALERT#"
SPEND_LIMITS_SK = "SPEND_LIMITS"
# Alerts are kept this long after they were raised (DynamoDB's TTL removes them).
ALERT_RETENTION = timedelta(days=400)
SPEND_DAY_PREFIX = "SPENDDAY#"
# A spend day the guard no longer reads is deleted by it; DynamoDB's TTL takes any it left behind after this long.
SPEND_DAY_RETENTION = timedelta(days=62)


def put_budget(tenant_id: str, connection_id: str, budget_id: str, document: dict) -> None:
    model = BudgetModel(
        connection_pk(tenant_id, connection_id),
        BUDGET_PREFIX + budget_id,
        item_type="budget",
        budget_id=budget_id,
        document=json.dumps(document, sort_keys=True),
        updated_at=current_time(),
    )
    try:
        model.save()
    except PutError as exc:
        raise storage_error(exc) from exc


def get_budget(tenant_id: str, connection_ids: Iterable[str], budget_id: str) -> dict | None:
    """The budget's document, from whichever of the connections holds it; None when none does."""
    for connection_id in connection_ids:
        try:
            model = BudgetModel.get(connection_pk(tenant_id, connection_id), BUDGET_PREFIX + budget_id,
                                    consistent_read=True)  # fmt: skip
        except DoesNotExist:
            continue
        except GetError as exc:
            raise storage_error(exc) from exc
        return json.loads(model.document)
    return None


def list_budgets(tenant_id: str, connection_ids: Iterable[str]) -> list[dict]:
    return [json.loads(m.document) for m in _query(BudgetModel, tenant_id, connection_ids, BUDGET_PREFIX)]


def delete_budget(tenant_id: str, connection_id: str, budget_id: str) -> None:
    try:
        BudgetModel(connection_pk(tenant_id, connection_id), BUDGET_PREFIX + budget_id).delete()
    except DeleteError as exc:
        raise storage_error(exc) from exc


def add_alert(tenant_id: str, connection_id: str, document: dict) -> bool:
    """Store an alert unless one with its id exists; True when it is new."""
    detected = datetime.fromisoformat(document["detected_at"].replace("Z", "+00:00"))
    model = AlertModel(
        connection_pk(tenant_id, connection_id),
        ALERT_PREFIX + document["id"],
        item_type="alert",
        alert_id=document["id"],
        detected_at=document["detected_at"],
        document=json.dumps(document, sort_keys=True),
        published=False,
        expires=detected + ALERT_RETENTION,
    )
    try:
        model.save(condition=AlertModel.sk.does_not_exist())
    except PutError as exc:
        if condition_failed(exc):
            return False
        raise storage_error(exc) from exc
    return True


def list_alerts(tenant_id: str, connection_ids: Iterable[str]) -> list[dict]:
    """Every stored alert of the connections, each with `published`."""
    return [
        {**json.loads(m.document), "published": bool(m.published)}
        for m in _query(AlertModel, tenant_id, connection_ids, ALERT_PREFIX)
    ]


def mark_published(tenant_id: str, connection_id: str, alert_id: str) -> None:
    model = AlertModel(connection_pk(tenant_id, connection_id), ALERT_PREFIX + alert_id)
    try:
        model.update(actions=[AlertModel.published.set(True)], condition=AlertModel.sk.exists())
    except UpdateError as exc:
        if condition_failed(exc):
            return  # purged meanwhile
        raise storage_error(exc) from exc


def put_spend_limits(tenant_id: str, connection_id: str, document: dict) -> None:
    model = SpendLimitsModel(connection_pk(tenant_id, connection_id), SPEND_LIMITS_SK, item_type="spend_limits",
                             document=json.dumps(document, sort_keys=True), updated_at=current_time())  # fmt: skip
    try:
        model.save()
    except PutError as exc:
        raise storage_error(exc) from exc


def get_spend_limits(tenant_id: str, connection_id: str) -> dict | None:
    try:
        model = SpendLimitsModel.get(connection_pk(tenant_id, connection_id), SPEND_LIMITS_SK, consistent_read=True)
    except DoesNotExist:
        return None
    except GetError as exc:
        raise storage_error(exc) from exc
    return json.loads(model.document)


def _query(model_class, tenant_id: str, connection_ids: Iterable[str], prefix: str) -> Iterable:
    for connection_id in connection_ids:
        try:
            yield from model_class.query(connection_pk(tenant_id, connection_id), model_class.sk.startswith(prefix),
                                         consistent_read=True)  # fmt: skip
        except QueryError as exc:
            raise storage_error(exc) from exc


def day_digests(tenant_id: str, connection_id: str, first_day: date, last_day: date) -> dict[date, str]:
    """The digests of the connection's stored days of [first_day, last_day]: the days' heads, without their bodies."""
    connection = table_connection()
    digests: dict[date, str] = {}
    for month in months(first_day, last_day):
        last_key = None
        while True:
            try:
                page = connection.query(
                    cost_days.days_pk(tenant_id, connection_id, month),
                    range_key_condition=DayDocModel.sk.between(f"DAY#{first_day}", f"DAY#{last_day}~"),
                    exclusive_start_key=last_key,
                    consistent_read=True,
                    attributes_to_get=["sk", "digest"],
                )
            except QueryError as exc:
                raise storage_error(exc) from exc
            for raw in page.get("Items", []):
                sk = raw["sk"]["S"]
                if sk.count("#") == 1:  # a day's head, DAY#{date} (not one of its further parts)
                    digests[date.fromisoformat(sk[4:])] = raw["digest"]["S"]
            last_key = page.get("LastEvaluatedKey")
            if not last_key:
                break
    return digests


iter_day_documents = cost_days.iter_day_documents  # the guard's port reads the stored days as the costs store does


def spend_days(tenant_id: str, connection_id: str) -> dict[date, bytes]:
    """The connection's stored spend days (their compressed documents), by day."""
    connection = table_connection()
    found: dict[date, bytes] = {}
    last_key = None
    while True:
        try:
            page = connection.query(
                connection_pk(tenant_id, connection_id),
                range_key_condition=DayDocModel.sk.startswith(SPEND_DAY_PREFIX),
                exclusive_start_key=last_key,
                consistent_read=True,
            )
        except QueryError as exc:
            raise storage_error(exc) from exc
        for raw in page.get("Items", []):
            found[date.fromisoformat(raw["sk"]["S"][len(SPEND_DAY_PREFIX) :])] = binary_value(raw["body"]["B"])
        last_key = page.get("LastEvaluatedKey")
        if not last_key:
            return found


def keep_spend_days(tenant_id: str, connection_id: str, put: Mapping[date, bytes], drop: Iterable[date]) -> None:
    """Write the spend days of `put` (replacing those of the same day) and delete those of `drop`."""
    pk = connection_pk(tenant_id, connection_id)
    puts = [
        {
            "pk": {"S": pk},
            "sk": {"S": SPEND_DAY_PREFIX + day.isoformat()},
            "item_type": {"S": "spend_day"},
            "connection_id": {"S": connection_id},
            "body": {"B": body},
            "expires": {"N": str(_spend_day_expiry(day))},
        }
        for day, body in sorted(put.items())
    ]
    batch_write(puts=puts, deletes=[item_key(pk, SPEND_DAY_PREFIX + day.isoformat()) for day in sorted(set(drop))])


def _spend_day_expiry(day: date) -> int:
    return int((datetime.combine(day, datetime.min.time(), UTC) + SPEND_DAY_RETENTION).timestamp())
