"""Workers derive, never trust (issue 23, item 3): the export function may update only a job's run fields in a
tenant's own partition, and its run slots; the layout migration writes only the partitions it migrates. The IAM
conditions are checked against the key layout itself (dal.table), so a key that moves breaks the test, not the stack.
IAM's StringLike `*` matches any characters, as fnmatch's does (no pattern here has `?` or brackets)."""

from __future__ import annotations

from fnmatch import fnmatchcase

from pump_anthropic.dal import exports as export_jobs
from pump_anthropic.dal.table import connection_pk, items_pk, rollups_pk, tenant_pk
from tests.infra.test_template import _as_list, _render, _statements, template, translated  # noqa: F401

TENANT, CONNECTION = "tenant-1", "conn_0123"
KEY_ATTRIBUTES = {"pk", "sk"}
# Written once by POST /costs/exports or by other items: what the export role must never change.
NEVER_BY_THE_EXPORT_ROLE = {
    "tenant_id",
    "export_id",
    "object_key",
    "filename",
    "format",
    "first_day",
    "last_day",
    "allocation",
    "group_by",
    "gzip",
    "item_type",
    "secret_id",
    "connection_id",
    "organization_id",
    "gsi1pk",
    "gsi1sk",
    "created_at",
}


def _days_pk(tenant: str, connection: str, month: str) -> str:
    from pump_anthropic.dal.cost_days import days_pk

    return days_pk(tenant, connection, month)


def _table_statements(translated: dict, role: str, table: str) -> list[dict]:  # noqa: F811
    return [
        st
        for st in _statements(translated, role)
        if any(_render(r) == f"<GetAtt {table}.Arn>" for r in _as_list(st["Resource"]))
    ]


def _writes(statement: dict) -> set[str]:
    reads = {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:Scan"}
    return set(_as_list(statement["Action"])) - reads


def _admits(condition: dict, value: str) -> bool:
    """Whether a LeadingKeys condition (ForAllValues StringLike, and StringNotLike if any) lets `value` through."""
    like = condition["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    unlike = condition.get("ForAllValues:StringNotLike", {}).get("dynamodb:LeadingKeys", [])
    return any(fnmatchcase(value, p) for p in like) and not any(fnmatchcase(value, p) for p in unlike)


# ---------------------------------------------------------------- the export function


def test_the_export_role_updates_only_the_run_fields_of_items_in_a_tenants_own_partition(translated):  # noqa: F811
    writes = [st for st in _table_statements(translated, "ExportFunctionRole", "PumpTable") if _writes(st)]
    (statement,) = writes
    assert _writes(statement) == {"dynamodb:UpdateItem"}
    condition = statement["Condition"]
    attributes = set(condition["ForAllValues:StringEquals"]["dynamodb:Attributes"])
    assert attributes == KEY_ATTRIBUTES | set(export_jobs.WORKER_UPDATES)
    assert not attributes & NEVER_BY_THE_EXPORT_ROLE
    # The job items' partition, and no other kind of partition.
    assert _admits(condition, tenant_pk(TENANT))  # pk of every export job (dal/exports.py)
    for other in (
        connection_pk(TENANT, CONNECTION),  # chunks, names, key hints, sync state
        items_pk(TENANT, CONNECTION, "2026-01"),
        _days_pk(TENANT, CONNECTION, "2026-01"),
        rollups_pk(TENANT),
    ):
        assert not _admits(condition, other), other


def test_the_export_role_takes_run_slots_and_touches_no_other_counter(translated):  # noqa: F811
    (statement,) = _table_statements(translated, "ExportFunctionRole", "QuotaTable")
    assert _writes(statement) == {"dynamodb:UpdateItem"}
    condition = statement["Condition"]
    assert set(condition["ForAllValues:StringEquals"]["dynamodb:Attributes"]) == {"counter", "holder", "expires"}
    assert _admits(condition, export_jobs.slot_key(TENANT, 0)) and _admits(condition, export_jobs.slot_key(TENANT, 1))
    for counter in (f"{TENANT}#export#1765100000", f"{TENANT}#connect#1765100000", f"{TENANT}#read#1765100000"):
        assert not _admits(condition, counter), counter


def test_the_export_function_is_told_its_queue_to_put_jobs_back(template):  # noqa: F811
    variables = template["Resources"]["ExportFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["EXPORT_QUEUE_URL"] == {"Ref": "ExportQueue"}


# ---------------------------------------------------------------- the layout migration


def test_the_migration_reads_and_batch_writes_only_the_partitions_it_migrates(translated):  # noqa: F811
    statements = _table_statements(translated, "LayoutMigrationFunctionRole", "PumpTable")
    assert {a for st in statements for a in _as_list(st["Action"])} == {
        "dynamodb:Scan",
        "dynamodb:Query",
        "dynamodb:GetItem",
        "dynamodb:BatchWriteItem",
    }
    (writes,) = [st for st in statements if _writes(st)]
    assert _writes(writes) == {"dynamodb:BatchWriteItem"}
    condition = writes["Condition"]
    assert set(condition) == {"ForAllValues:StringLike"}
    for migrated in (
        _days_pk(TENANT, CONNECTION, "2026-01"),
        items_pk(TENANT, CONNECTION, "2026-01"),
        rollups_pk(TENANT),
    ):
        assert _admits(condition, migrated), migrated
    for kept in (tenant_pk(TENANT), connection_pk(TENANT, CONNECTION)):  # connections, exports; chunks, names
        assert not _admits(condition, kept), kept
    other_tables = [
        st
        for st in _statements(translated, "LayoutMigrationFunctionRole")
        if any(a.startswith("dynamodb:") for a in _as_list(st["Action"])) and st not in statements
    ]
    assert other_tables == []
