"""The reconciliation function in the template: the one API function that reads Admin keys, so it may read only
this stack's secrets (named from the connection id in code), decrypt them only through Secrets Manager (the secrets
key's policy names its role for Decrypt alone), read the table, and count requests on the quota table: nothing else,
and no write of stored data."""

from __future__ import annotations

import pytest

from tests.infra.test_template import (
    STACK_SECRETS,
    _actions,
    _as_list,
    _key_statements,
    _render,
    _role_principals,
    _statements,
    template,  # noqa: F401 (fixture)
    translated,  # noqa: F401 (fixture)
)

ROLE = "ReconcileFunctionRole"
SECRET_ARN = "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:" + STACK_SECRETS


def test_it_reads_the_table_and_secrets_and_counts_requests_only(translated):  # noqa: F811
    assert _actions(translated, ROLE) == {
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:BatchGetItem",
        "dynamodb:UpdateItem",
        "secretsmanager:GetSecretValue",
    }
    for statement in _statements(translated, ROLE):
        actions = set(_as_list(statement["Action"]))
        resources = [_render(r) for r in _as_list(statement["Resource"])]
        if actions == {"dynamodb:UpdateItem"}:
            assert resources == ["<GetAtt QuotaTable.Arn>"]  # counters only: the table itself is read-only
        elif actions == {"secretsmanager:GetSecretValue"}:
            assert resources == [SECRET_ARN]
        else:
            assert actions <= {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem"}
            assert resources == ["<GetAtt PumpTable.Arn>", "${PumpTable.Arn}/index/*"]


def test_the_secrets_key_lets_it_decrypt_only_through_secrets_manager_for_this_stacks_secrets(template):  # noqa: F811
    statements = [s for s in _key_statements(template, "SecretsKey") if "ReconcileFunctionRole" in _role_principals(s)]
    (statement,) = statements
    assert _as_list(statement["Action"]) == ["kms:Decrypt"]
    assert _render(statement["Condition"]["StringEquals"]["kms:ViaService"]) == (
        "secretsmanager.${AWS::Region}.amazonaws.com"
    )
    assert _render(statement["Condition"]["StringLike"]["kms:EncryptionContext:SecretARN"]) == SECRET_ARN


def test_it_serves_only_the_reconciliation_route_and_gets_the_source_and_rate_settings(template):  # noqa: F811
    props = template["Resources"]["ReconcileFunction"]["Properties"]
    routes = {(e["Properties"]["Method"], e["Properties"]["Path"]) for e in props["Events"].values()}
    assert routes == {("GET", "/costs/reconciliation")}
    # API Gateway answers 503 after 30 s: the function must end first (the route gives Anthropic 22 s of it).
    assert props.get("Timeout", template["Globals"]["Function"]["Timeout"]) <= 29
    env = props["Environment"]["Variables"]
    # The windows GET /costs marks provisional days by: the reconciliation's provisional line uses the same.
    assert (
        env["SYNC_LOOKBACK_DAYS"]
        == template["Resources"]["SyncFunction"]["Properties"]["Environment"]["Variables"]["SYNC_LOOKBACK_DAYS"]
    )
    assert "KMS_KEY_ID" not in env and "STATE_MACHINE_ARN" not in env


@pytest.mark.parametrize("writer", ["dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"])
def test_it_writes_no_stored_data(translated, writer):  # noqa: F811
    assert writer not in _actions(translated, ROLE)
