"""The spend guard in the template: its API function may write budgets and read spend, nothing else; only the sync
puts alert events, on the one bus the stack names."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


class _Loader(yaml.SafeLoader):
    pass


def _tagged(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}


_Loader.add_multi_constructor("!", _tagged)


@pytest.fixture(scope="module")
def template() -> dict:
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)


def _statements(template: dict, function: str) -> list[dict]:
    return [
        statement
        for policy in template["Resources"][function]["Properties"].get("Policies", [])
        if isinstance(policy, dict) and "Statement" in policy
        for statement in policy["Statement"]
    ]


def _actions(statement: dict) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


def test_the_guard_function_reads_spend_writes_budgets_and_counts_requests_only(template):
    actions = {a for s in _statements(template, "GuardFunction") for a in _actions(s)}
    assert actions == {
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:BatchGetItem",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
        "dynamodb:UpdateItem",
    }
    (quota,) = [s for s in _statements(template, "GuardFunction") if "dynamodb:UpdateItem" in _actions(s)]
    assert quota["Resource"] == {"GetAtt": "QuotaTable.Arn"}
    properties = template["Resources"]["GuardFunction"]["Properties"]
    assert not any(isinstance(p, dict) and "DynamoDBCrudPolicy" in p for p in properties.get("Policies", []))


def test_only_the_sync_puts_alert_events_and_only_on_the_named_bus(template):
    putters = {
        name
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
        and any("events:PutEvents" in _actions(s) for s in _statements(template, name))
    }
    assert putters == {"SyncFunction"}
    (put,) = [s for s in _statements(template, "SyncFunction") if "events:PutEvents" in _actions(s)]
    assert put["Resource"]["Sub"].endswith(":event-bus/${AlertEventBusName}")
    sync_env = template["Resources"]["SyncFunction"]["Properties"]["Environment"]["Variables"]
    assert sync_env["ALERT_EVENT_BUS"] == {"Ref": "AlertEventBusName"}
    assert template["Parameters"]["AlertEventBusName"]["Default"] == "default"


def test_a_failed_spend_check_is_alarmed(template):
    alarms = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    (alarm,) = [a for a in alarms if a["MetricName"] == "SpendCheckFailures"]
    assert alarm["Namespace"] == "PumpAnthropic" and alarm["Threshold"] == 1
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
