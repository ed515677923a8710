"""The directory of names: workspaces and API keys as Anthropic lists them (what the API shows instead of ids)."""

from __future__ import annotations

from collections.abc import Iterable

from pump_anthropic.dal.models import ApiKeyModel, WorkspaceModel
from pump_anthropic.dal.table import batch_write, connection_pk, existing_items
from pump_anthropic.domain.allocation import home_workspace
from pump_anthropic.domain.calendar import instant_text


def put_workspaces(tenant_id: str, connection_id: str, workspaces: Iterable[tuple[str, str, bool]]) -> None:
    """Store workspace names, writing only new or renamed ones; a vanished workspace keeps its name for history."""
    pk = connection_pk(tenant_id, connection_id)
    desired = {
        m.sk: m.serialize()
        for m in (
            WorkspaceModel(
                pk, f"WORKSPACE#{ws_id}", item_type="workspace", workspace_id=ws_id, name=name, archived=archived
            )
            for ws_id, name, archived in workspaces
        )
    }
    existing = existing_items(pk, "WORKSPACE#", "WORKSPACE#~")
    batch_write(puts=[attrs for sk, attrs in desired.items() if existing.get(sk) != attrs])


def put_api_keys(tenant_id: str, connection_id: str, api_keys: Iterable[dict]) -> None:
    """Store API key names, hints and home workspaces, writing only what changed; a deleted key keeps its name."""
    pk = connection_pk(tenant_id, connection_id)
    desired = {
        m.sk: m.serialize()
        for m in (
            ApiKeyModel(
                pk,
                f"APIKEY#{key['id']}",
                item_type="api_key",
                api_key_id=key["id"],
                name=key.get("name") or key["id"],
                partial_key_hint=key.get("partial_key_hint"),
                status=key.get("status"),
                created_at=instant_text(key.get("created_at")),
                **_home_attributes(key),
            )
            for key in api_keys
        )
    }
    existing = existing_items(pk, "APIKEY#", "APIKEY#~")
    batch_write(puts=[attrs for sk, attrs in desired.items() if existing.get(sk) != attrs])


def _home_attributes(key: dict) -> dict:
    """The key's home workspace, kept so a later sync can place keys without reading the key list."""
    placed, workspace_id = home_workspace(key)
    return {"in_workspace": placed, "workspace_id": workspace_id}


def api_keys(tenant_id: str, connection_id: str) -> list[dict]:
    """The stored key list, shaped like the API's where `allocation.home_workspace` reads it."""
    return [
        {"id": m.api_key_id, "name": m.name, "workspace_id": m.workspace_id, "scope": _stored_scope(m)}
        for m in ApiKeyModel.query(connection_pk(tenant_id, connection_id), ApiKeyModel.sk.startswith("APIKEY#"))
    ]


def _stored_scope(m: ApiKeyModel) -> dict | None:
    if m.in_workspace is None:
        return None  # stored before placement was kept: the deprecated workspace_id rule applies
    return {"type": "workspace", "workspace_id": m.workspace_id} if m.in_workspace else {"type": "not_placed"}


def api_key_names(tenant_id: str, connection_ids: Iterable[str]) -> dict[str, dict]:
    """api_key_id → {"name", "hint", "status", "created_at"} across the tenant's connections."""
    names: dict[str, dict] = {}
    for connection_id in connection_ids:
        for m in ApiKeyModel.query(connection_pk(tenant_id, connection_id), ApiKeyModel.sk.startswith("APIKEY#")):
            names[m.api_key_id] = {"name": m.name, "hint": m.partial_key_hint, "status": m.status,
                                   "created_at": m.created_at}  # fmt: skip
    return names


_DEFAULT_WORKSPACE_SK = "DEFAULT_WORKSPACE"


def put_default_workspace(tenant_id: str, connection_id: str, workspace_id: str) -> None:
    """Remember the Default workspace's tagged id (the analytics API's name for what the legacy reports call null)."""
    pk = connection_pk(tenant_id, connection_id)
    WorkspaceModel(
        pk, _DEFAULT_WORKSPACE_SK, item_type="default_workspace", workspace_id=workspace_id, name="Default workspace"
    ).save()


def default_workspace(tenant_id: str, connection_id: str) -> str | None:
    try:
        return WorkspaceModel.get(connection_pk(tenant_id, connection_id), _DEFAULT_WORKSPACE_SK).workspace_id
    except WorkspaceModel.DoesNotExist:
        return None


def workspace_names(tenant_id: str, connection_ids: Iterable[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    for connection_id in connection_ids:
        pk = connection_pk(tenant_id, connection_id)
        for m in WorkspaceModel.query(pk, WorkspaceModel.sk.startswith("WORKSPACE#")):
            if m.workspace_id:
                names[m.workspace_id] = m.name
    return names
