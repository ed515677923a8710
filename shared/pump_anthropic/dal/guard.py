"""Budgets and alerts, each in the partition of the connection it watches, so purging a connection removes them.

A budget id is the tenant's (PUT /budgets/{id}): finding one reads each of the tenant's connection partitions, which
are few. An alert is written once, conditionally on its id being new; the caller publishes the new ones and marks
them published, and re-publishes any a failed run left unpublished.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta

from pynamodb.exceptions import DeleteError, DoesNotExist, GetError, PutError, QueryError, UpdateError

from pump_anthropic.dal.models import AlertModel, BudgetModel, SpendLimitsModel
from pump_anthropic.dal.table import condition_failed, connection_pk, current_time, storage_error

BUDGET_PREFIX = "BUDGET#"
ALERT_PREFIX = "ALERT#"
SPEND_LIMITS_SK = "SPEND_LIMITS"
# Alerts are kept this long after they were raised (DynamoDB's TTL removes them).
ALERT_RETENTION = timedelta(days=400)


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
