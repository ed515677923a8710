"""template.yaml: the cost source and request-rate parameters reach the functions that call Anthropic, which may
count their requests on the quota table (one action, that table only), and the source cross-check is alarmed."""

from __future__ import annotations

import copy

import pytest
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

from tests.infra.test_template import TEMPLATE_PATH, _as_list, _function_role, _NoManagedPolicies, _statements

PULLING_FUNCTIONS = ("ConnectFunction", "BackfillChunkFunction", "SyncFunction", "ReconcileFunction")
ENVIRONMENT = {
    "ANTHROPIC_COST_SOURCE": "AnthropicCostSource",
    "ANALYTICS_REREAD_DAYS": "AnalyticsRereadDays",
    "ANTHROPIC_RPM_PER_CONNECTION": "AnthropicRequestsPerMinutePerConnection",
    "ANTHROPIC_RPM_PER_STACK": "AnthropicRequestsPerMinutePerStack",
    "ANTHROPIC_RPM_STACK_SHARDS": "AnthropicRequestsPerMinuteStackShards",
}
QUOTA_TABLE = {"Fn::GetAtt": ["QuotaTable", "Arn"]}


@pytest.fixture(scope="module")
def template() -> dict:
    return yaml_parse(TEMPLATE_PATH.read_text())


@pytest.fixture(scope="module")
def translated(template) -> dict:
    sam = copy.deepcopy(template)
    for resource in sam["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(props.get(key), str):
                props[key] = "s3://placeholder/code.zip"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        return transform(sam, {}, _NoManagedPolicies())


def test_parameters_have_the_settings_defaults(template):
    params = template["Parameters"]
    source = params["AnthropicCostSource"]
    assert (source["Type"], source["Default"], source["AllowedValues"]) == (
        "String",
        "auto",
        ["auto", "legacy", "analytics"],
    )
    expected = {
        "AnalyticsRereadDays": 30,
        "AnthropicRequestsPerMinutePerConnection": 120,
        "AnthropicRequestsPerMinutePerStack": 1000,
    }
    for name, default in expected.items():
        spec = params[name]
        # 0 must stay possible: it turns a rate limit off.
        assert (spec["Type"], spec["Default"], spec["MinValue"]) == ("Number", default, 0), name
    shards = params["AnthropicRequestsPerMinuteStackShards"]
    assert (shards["Type"], shards["Default"], shards["MinValue"]) == ("Number", 8, 1)


@pytest.mark.parametrize("function", PULLING_FUNCTIONS)
def test_functions_that_call_anthropic_get_the_source_and_rate_settings(template, function):
    variables = template["Resources"][function]["Properties"]["Environment"]["Variables"]
    assert {name: variables.get(name) for name in ENVIRONMENT} == {
        name: {"Ref": parameter} for name, parameter in ENVIRONMENT.items()
    }


def test_no_other_function_gets_them(template):
    functions = {
        name: r["Properties"]
        for name, r in template["Resources"].items()
        if r["Type"] == "AWS::Serverless::Function" and name not in PULLING_FUNCTIONS
    }
    assert functions
    for name, props in functions.items():
        variables = props.get("Environment", {}).get("Variables", {})
        # The read API knows the re-read window only to mark the days still re-read as provisional.
        allowed = {"ANALYTICS_REREAD_DAYS"} if name == "CostsFunction" else set()
        assert not (set(variables) & set(ENVIRONMENT)) - allowed, name
    assert not set(template["Globals"]["Function"]["Environment"]["Variables"]) & set(ENVIRONMENT)


@pytest.mark.parametrize("function", PULLING_FUNCTIONS)
def test_functions_that_call_anthropic_may_only_count_on_the_quota_table(translated, function):
    on_quota_table = [st for st in _statements(translated, _function_role(function)) if "QuotaTable" in str(st)]
    assert on_quota_table
    for statement in on_quota_table:
        assert _as_list(statement["Resource"]) == [QUOTA_TABLE]
        assert _as_list(statement["Action"]) == ["dynamodb:UpdateItem"]


def test_a_source_cross_check_mismatch_is_alarmed_once_a_day(template):
    alarms = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"]["MetricName"] == "SourceCrossCheckMismatch"
    ]
    (alarm,) = alarms
    assert alarm["Namespace"] == "PumpAnthropic"
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "pump-anthropic"}]
    assert (alarm["Statistic"], alarm["Period"] * alarm["EvaluationPeriods"]) == ("Sum", 86400)
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
