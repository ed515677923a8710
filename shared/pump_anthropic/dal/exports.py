"""Export jobs: pk=TENANT#{tenant}, sk=EXPORT#{export id}. Every change after the first write is a conditional
update on the run's attempt number, so a run that was superseded (a redelivered queue message) records nothing.

Records cross into the use cases as plain dicts with the fields of `logic.exports.ExportJob`.
"""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import DoesNotExist, GetError, PutError, UpdateError
from pynamodb.expressions.condition import Condition

from pump_anthropic.dal.models import ExportJobModel
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


def claim_job(tenant_id: str, export_id: str) -> dict[str, Any] | None:
    """Start a run: queued (or running, when a previous run was cut off) → running with the next attempt number.
    None when there is nothing to run (no such job, or it is already ready or failed)."""
    now = current_time()
    condition = ExportJobModel.sk.exists() & ExportJobModel.status.is_in("queued", "running")
    model = _update(
        tenant_id,
        export_id,
        [
            ExportJobModel.status.set("running"),
            ExportJobModel.attempt.add(1),
            ExportJobModel.updated_at.set(now),
        ],
        condition,
    )
    return _record(model) if model is not None else None


def record_progress(
    tenant_id: str, export_id: str, *, attempt: int, progress: dict[str, int], upload_id: str | None = None
) -> bool:
    """`progress`: rows, bytes_written, days_done, days_total. False when another run has claimed the job."""
    actions = [getattr(ExportJobModel, name).set(progress[name]) for name in _PROGRESS]
    actions.append(ExportJobModel.updated_at.set(current_time()))
    if upload_id is not None:
        actions.append(ExportJobModel.upload_id.set(upload_id))
    return _update(tenant_id, export_id, actions, _current_run(attempt)) is not None


def finish_job(tenant_id: str, export_id: str, *, attempt: int, progress: dict[str, int], sha256: str) -> bool:
    now = current_time()
    actions = [getattr(ExportJobModel, name).set(progress[name]) for name in _PROGRESS]
    actions += [
        ExportJobModel.status.set("ready"),
        ExportJobModel.sha256.set(sha256),
        ExportJobModel.upload_id.remove(),
        ExportJobModel.updated_at.set(now),
        ExportJobModel.finished_at.set(now),
    ]
    return _update(tenant_id, export_id, actions, _current_run(attempt)) is not None


def fail_job(tenant_id: str, export_id: str, *, attempt: int, code: str, message: str) -> bool:
    now = current_time()
    actions = [
        ExportJobModel.status.set("failed"),
        ExportJobModel.error_code.set(code),
        ExportJobModel.error_message.set(message),
        ExportJobModel.upload_id.remove(),
        ExportJobModel.updated_at.set(now),
        ExportJobModel.finished_at.set(now),
    ]
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
