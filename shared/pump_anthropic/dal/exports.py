"""Export jobs: pk=TENANT#{tenant}, sk=EXPORT#{export id}. Every change after the first write is a conditional
update on the run's attempt number, so a run that was superseded (a redelivered queue message) records nothing.
The export function's IAM policy lets it update only the attributes in `WORKER_UPDATES` (a test keeps the two equal).

Run slots: each tenant has RUNNING_PER_TENANT slots in the quota table, pk={tenant}#export_run#{n}, each held by one
export id until its lease runs out (`expires`); taking one is a single conditional write.

Records cross into the use cases as plain dicts with the fields of `logic.exports.ExportJob`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, GetError, PutError, UpdateError
from pynamodb.expressions.condition import Condition

from pump_anthropic.dal.models import ExportJobModel, QuotaModel
from pump_anthropic.dal.table import condition_failed, current_time, storage_error, tenant_pk

ITEM_TYPE = "export"
_FIELDS = (
    "tenant_id",
    "export_id",
    "status",
    "format",
    "first_day",
    "last_day",
    "allocation",
    "group_by",
    "gzip",
    "object_key",
    "filename",
    "attempt",
    "upload_id",
    "rows",
    "bytes_written",
    "days_done",
    "days_total",
    "sha256",
    "error_code",
    "error_message",
    "created_at",
    "updated_at",
    "finished_at",
    "expires",
)
_PROGRESS = ("rows", "bytes_written", "days_done", "days_total")
_INTEGERS = ("attempt", *_PROGRESS)
# Every attribute a worker's update names (in its actions or its condition), beside the key: what the export
# function's `dynamodb:Attributes` condition allows. The rest (object_key, filename, tenant_id, the range) is
# written once, by POST /costs/exports.
WORKER_UPDATES = (
    "status",
    "attempt",
    "upload_id",
    *_PROGRESS,
    "sha256",
    "error_code",
    "error_message",
    "updated_at",
    "finished_at",
    "expires",
)
SLOT_ACTION = "export_run"


def _sk(export_id: str) -> str:
    return f"EXPORT#{export_id}"


def _record(model: ExportJobModel) -> dict[str, Any]:
    record = {name: getattr(model, name) for name in _FIELDS}
    for name in _INTEGERS:
        record[name] = int(record[name] or 0)
    return record


def create_job(job: dict[str, Any]) -> None:
    model = ExportJobModel(tenant_pk(job["tenant_id"]), _sk(job["export_id"]), item_type=ITEM_TYPE)
    for name in _FIELDS:
        if job.get(name) is not None:
            setattr(model, name, job[name])
    try:
        model.save(condition=ExportJobModel.sk.does_not_exist())
    except PutError as exc:
        raise storage_error(exc) from exc


def get_job(tenant_id: str, export_id: str) -> dict[str, Any] | None:
    try:
        model = ExportJobModel.get(tenant_pk(tenant_id), _sk(export_id), consistent_read=True)
    except DoesNotExist:
        return None
    except GetError as exc:
        raise storage_error(exc) from exc
    return _record(model) if model.item_type == ITEM_TYPE else None


def claim_job(tenant_id: str, export_id: str, *, expires: datetime | None = None) -> dict[str, Any] | None:
    """Start a run: queued (or running, when a previous run was cut off) → running with the next attempt number
    (and, given `expires`, a lifetime counted from now). None when there is nothing to run (no such job, or it is
    already ready or failed)."""
    now = current_time()
    condition = ExportJobModel.sk.exists() & ExportJobModel.status.is_in("queued", "running")
    actions = [ExportJobModel.status.set("running"), ExportJobModel.attempt.add(1), ExportJobModel.updated_at.set(now)]
    if expires is not None:
        actions.append(ExportJobModel.expires.set(expires))
    model = _update(tenant_id, export_id, actions, condition)
    return _record(model) if model is not None else None


def requeue_job(tenant_id: str, export_id: str, *, expires: datetime) -> bool:
    """A job put back in the queue (its tenant's run slots are taken): still waiting as of now, its lifetime counted
    from now. False when it is no longer waiting."""
    actions = [ExportJobModel.updated_at.set(current_time()), ExportJobModel.expires.set(expires)]
    condition = ExportJobModel.sk.exists() & ExportJobModel.status.is_in("queued", "running")
    return _update(tenant_id, export_id, actions, condition) is not None


def record_progress(
    tenant_id: str, export_id: str, *, attempt: int, progress: dict[str, int], upload_id: str | None = None
) -> bool:
    """`progress`: rows, bytes_written, days_done, days_total. False when another run has claimed the job."""
    actions = [getattr(ExportJobModel, name).set(progress[name]) for name in _PROGRESS]
    actions.append(ExportJobModel.updated_at.set(current_time()))
    if upload_id is not None:
        actions.append(ExportJobModel.upload_id.set(upload_id))
    return _update(tenant_id, export_id, actions, _current_run(attempt)) is not None


def finish_job(
    tenant_id: str,
    export_id: str,
    *,
    attempt: int,
    progress: dict[str, int],
    sha256: str,
    expires: datetime | None = None,
) -> bool:
    now = current_time()
    actions = [getattr(ExportJobModel, name).set(progress[name]) for name in _PROGRESS]
    actions += [
        ExportJobModel.status.set("ready"),
        ExportJobModel.sha256.set(sha256),
        ExportJobModel.upload_id.remove(),
        ExportJobModel.updated_at.set(now),
        ExportJobModel.finished_at.set(now),
    ]
    if expires is not None:
        actions.append(ExportJobModel.expires.set(expires))
    return _update(tenant_id, export_id, actions, _current_run(attempt)) is not None


def fail_job(
    tenant_id: str, export_id: str, *, attempt: int, code: str, message: str, expires: datetime | None = None
) -> bool:
    now = current_time()
    actions = [
        ExportJobModel.status.set("failed"),
        ExportJobModel.error_code.set(code),
        ExportJobModel.error_message.set(message),
        ExportJobModel.upload_id.remove(),
        ExportJobModel.updated_at.set(now),
        ExportJobModel.finished_at.set(now),
    ]
    if expires is not None:
        actions.append(ExportJobModel.expires.set(expires))
    condition = ExportJobModel.sk.exists() & ExportJobModel.status.is_in("queued", "running")
    if attempt:
        condition &= ExportJobModel.attempt == attempt
    return _update(tenant_id, export_id, actions, condition) is not None


def _current_run(attempt: int) -> Condition:
    return ExportJobModel.sk.exists() & (ExportJobModel.status == "running") & (ExportJobModel.attempt == attempt)


def _update(tenant_id: str, export_id: str, actions: list, condition: Condition) -> ExportJobModel | None:
    model = ExportJobModel(tenant_pk(tenant_id), _sk(export_id))
    try:
        model.update(actions=actions, condition=condition)
    except UpdateError as exc:
        if condition_failed(exc):
            return None
        raise storage_error(exc) from exc
    return model


# ---------------------------------------------------------------- run slots (quota table)


class _RunSlotModel(QuotaModel):
    """A tenant's export run slot: `holder` (an export id) holds it until `expires` (its lease)."""

    holder = UnicodeAttribute(null=True)


def _slot_model() -> type[_RunSlotModel]:
    _RunSlotModel._connection = QuotaModel._get_connection()  # the quota table's binding (dal.table.bind)
    return _RunSlotModel


def slot_key(tenant_id: str, slot: int) -> str:
    return f"{tenant_id}#{SLOT_ACTION}#{slot}"


def take_run_slot(tenant_id: str, export_id: str, *, slots: int, lease_until: datetime) -> bool:
    """Hold one of the tenant's `slots` run slots for `export_id` until `lease_until`: a free slot, one whose lease
    ran out (a run cut off), or the one this export already holds (its message handed out again). False when every
    slot is held by another export."""
    model = _slot_model()
    now = current_time()
    for slot in range(slots):
        try:
            model(slot_key(tenant_id, slot)).update(
                actions=[model.holder.set(export_id), model.expires.set(lease_until)],
                condition=model.holder.does_not_exist() | (model.holder == export_id) | (model.expires < now),
            )
        except UpdateError as exc:
            if condition_failed(exc):
                continue
            raise storage_error(exc) from exc
        return True
    return False


def release_run_slot(tenant_id: str, export_id: str, *, slots: int) -> None:
    """Free the slot `export_id` holds (if it still does); the item itself goes by TTL."""
    model = _slot_model()
    for slot in range(slots):
        try:
            model(slot_key(tenant_id, slot)).update(
                actions=[model.holder.remove(), model.expires.set(current_time())],
                condition=model.holder == export_id,
            )
        except UpdateError as exc:
            if condition_failed(exc):
                continue
            raise storage_error(exc) from exc
