"""template.yaml: cfn-lint, and the SAM-translated template's IAM, data and wiring contracts (offline)."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from cfnlint.api import ManualArgs, lint_file
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"
ASL_PATH = ROOT / "infra" / "statemachine" / "backfill.asl.json"
PLACEHOLDER = re.compile(r"\$\{(\w+)\}")

FUNCTIONS = {
    "ConnectFunction": ("functions/connect/", "app.lambda_handler"),
    "CostsFunction": ("functions/costs/", "app.lambda_handler"),
    "BackfillPlanFunction": ("functions/backfill/", "app.plan_handler"),
    "BackfillChunkFunction": ("functions/backfill/", "app.chunk_handler"),
    "BackfillFinalizeFunction": ("functions/backfill/", "app.finalize_handler"),
    "SyncFunction": ("functions/sync/", "app.lambda_handler"),
    "SyncDispatchFunction": ("functions/sync/", "app.dispatch_handler"),
}
# The only grants on "*" we accept, both AWS-managed and attached by SAM: CloudWatch Logs for every function
# (logs:CreateLogGroup/CreateLogStream/PutLogEvents) and X-Ray from `Tracing: Active`
# (xray:PutTraceSegments/PutTelemetryRecords/GetSampling*, which have no resource-level permissions).
AWS_MANDATED_MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
}
# A resource may end in "*" only to reach a named thing's children: table indexes, secrets under the
# prefix (Secrets Manager appends a random suffix), a named function's versions.
ALLOWED_WILDCARD_SUFFIXES = ("/index/*", "secret:${SecretPrefix}*", "function:${functionName}*")
SECRET_READERS = {"BackfillChunkFunction", "SyncFunction"}
SECRET_USERS = SECRET_READERS | {"ConnectFunction"}
READ_ONLY_TABLE_ACTIONS = {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem"}
EXPECTED_ROUTES = {
    ("POST", "/integrations/anthropic"): "ConnectFunction",
    ("GET", "/integrations/anthropic"): "ConnectFunction",
    ("GET", "/integrations/anthropic/{id}"): "ConnectFunction",
    ("DELETE", "/integrations/anthropic/{id}"): "ConnectFunction",
    ("POST", "/integrations/anthropic/{id}/sync"): "ConnectFunction",
    ("POST", "/integrations/anthropic/{id}/backfill"): "ConnectFunction",
    ("GET", "/costs"): "CostsFunction",
    ("GET", "/costs/export"): "CostsFunction",
    ("GET", "/openapi.json"): "CostsFunction",
}
PUBLIC_ROUTES = {("GET", "/openapi.json")}


class _NoManagedPolicies:
    """aws-sam-translator's managed-policy loader, offline: we reference managed policies by full ARN only."""

    def load(self) -> dict:
        return {}


@pytest.fixture(scope="module")
def template() -> dict:
    return yaml_parse(TEMPLATE_PATH.read_text())


@pytest.fixture(scope="module")
def translated(template) -> dict:
    sam = copy.deepcopy(template)
    for resource in sam["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(props.get(key), str):  # sam package would upload these; the translator wants S3
                props[key] = "s3://placeholder/code.zip"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        return transform(sam, {}, _NoManagedPolicies())


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _render(value) -> str:
    """Intrinsic-function resource → comparable text (Fn::Sub template, <GetAtt X.Attr>, <Ref X>)."""
    if isinstance(value, str):
        return value
    if "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return sub if isinstance(sub, str) else sub[0]
    if "Fn::GetAtt" in value:
        return "<GetAtt {}>".format(".".join(value["Fn::GetAtt"]))
    if "Ref" in value:
        return "<Ref {}>".format(value["Ref"])
    raise AssertionError(f"unexpected resource expression {value!r}")


def _statements(translated: dict, role: str) -> Iterator[dict]:
    for policy in translated["Resources"][role]["Properties"].get("Policies", []):
        yield from policy["PolicyDocument"]["Statement"]


def _actions(translated: dict, role: str) -> set[str]:
    return {action for st in _statements(translated, role) for action in _as_list(st["Action"])}


def _roles(translated: dict) -> list[str]:
    return [name for name, res in translated["Resources"].items() if res["Type"] == "AWS::IAM::Role"]


def _function_role(function: str) -> str:
    return f"{function}Role"


# ---------------------------------------------------------------- cfn-lint


def test_cfn_lint_reports_nothing():
    assert [str(match) for match in lint_file(TEMPLATE_PATH)] == []


def test_cfn_lint_informational_checks_report_nothing():
    assert [str(match) for match in lint_file(TEMPLATE_PATH, ManualArgs(include_checks=["I"]))] == []


# ---------------------------------------------------------------- functions


@pytest.mark.parametrize(("function", "code_and_handler"), FUNCTIONS.items())
def test_function_code_and_handler_follow_the_design(template, function, code_and_handler):
    props = template["Resources"][function]["Properties"]
    assert (props["CodeUri"], props["Handler"]) == code_and_handler


def test_functions_are_exactly_the_designed_set(template):
    functions = {n for n, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    assert functions == set(FUNCTIONS)


def test_globals_pin_runtime_architecture_tracing_layer_and_environment(template):
    # Then
    fn = template["Globals"]["Function"]
    assert fn["Runtime"] == "python3.13"
    assert fn["Architectures"] == ["arm64"]
    assert fn["Tracing"] == "Active"
    assert fn["Layers"] == [{"Ref": "SharedLayer"}]
    env = fn["Environment"]["Variables"]
    assert env["POWERTOOLS_SERVICE_NAME"] == "pump-anthropic"
    assert env["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"  # the connect event carries the Admin key
    assert env["TABLE_NAME"] == {"Ref": "PumpTable"}
    assert {
        "POWERTOOLS_LOG_LEVEL",
        "POWERTOOLS_METRICS_NAMESPACE",
        "ANTHROPIC_API_URL",
        "SECRET_PREFIX",
        "TENANT_CLAIM",
        "KMS_KEY_ID",
    } <= set(env)


def test_only_connect_knows_the_state_machine(template):
    for function in FUNCTIONS:
        env = template["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {})
        assert ("STATE_MACHINE_ARN" in env) == (function == "ConnectFunction")


def test_chunk_function_has_room_for_a_window(template):
    props = template["Resources"]["BackfillChunkFunction"]["Properties"]
    assert props["Timeout"] == 300
    assert props["MemorySize"] == 512


def test_shared_layer_builds_for_the_function_runtime(template):
    layer = template["Resources"]["SharedLayer"]
    assert layer["Properties"]["ContentUri"] == "shared/"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert layer["Metadata"]["BuildArchitecture"] == "arm64"
    assert layer["Metadata"]["BuildMethod"] == "makefile"  # shared/Makefile; tests/infra/test_layer_build.py


def _requirements(path: Path) -> set[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return {re.sub(r"\s+", "", line).lower() for line in lines if line}


def test_shared_requirements_mirror_root_requirements():
    assert _requirements(ROOT / "shared" / "requirements.txt") == _requirements(ROOT / "requirements.txt")


# ---------------------------------------------------------------- HTTP API


def test_routes_and_authorization(translated):
    # Given the OpenAPI body SAM generates for the HttpApi
    body = translated["Resources"]["PumpApi"]["Properties"]["Body"]
    routes = {}
    for path, operations in body["paths"].items():
        for method, operation in operations.items():
            uri = operation["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
            function = re.search(r"\$\{(\w+)\.Arn\}", uri).group(1)
            routes[(method.upper(), path)] = (function, operation["security"])

    # Then
    assert {route: fn for route, (fn, _) in routes.items()} == EXPECTED_ROUTES
    for route, (_, security) in routes.items():
        assert security == ([{"NONE": []}] if route in PUBLIC_ROUTES else [{"PumpJwt": []}]), route
    authorizer = body["components"]["securitySchemes"]["PumpJwt"]["x-amazon-apigateway-authorizer"]
    assert authorizer["type"] == "jwt"
    assert authorizer["jwtConfiguration"] == {"issuer": {"Ref": "JwtIssuer"}, "audience": [{"Ref": "JwtAudience"}]}


def test_sync_runs_hourly_through_a_dispatcher_and_a_queue(translated):
    resources = translated["Resources"]
    schedules = [r for r in resources.values() if r["Type"] == "AWS::Scheduler::Schedule"]
    assert len(schedules) == 1
    assert schedules[0]["Properties"]["ScheduleExpression"] == "rate(1 hour)"
    assert schedules[0]["Properties"]["Target"]["Arn"] == {"Fn::GetAtt": ["SyncDispatchFunction", "Arn"]}
    (mapping,) = [r for r in resources.values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    assert mapping["Properties"]["FunctionName"] == {"Ref": "SyncFunction"}
    assert mapping["Properties"]["EventSourceArn"] == {"Fn::GetAtt": ["SyncQueue", "Arn"]}
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert resources["SyncQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"] > 0


# ---------------------------------------------------------------- least privilege


def test_no_role_grants_wildcard_actions_or_resources(translated):
    for role in _roles(translated):
        props = translated["Resources"][role]["Properties"]
        assert set(props.get("ManagedPolicyArns") or []) <= AWS_MANDATED_MANAGED_POLICIES, role
        for st in _statements(translated, role):
            assert st["Effect"] == "Allow"
            for action in _as_list(st["Action"]):
                assert "*" not in action, (role, action)
            for resource in map(_render, _as_list(st["Resource"])):
                assert "*" not in resource or resource.endswith(ALLOWED_WILDCARD_SUFFIXES), (role, resource)


def test_only_connect_chunk_and_sync_touch_secrets_and_the_key(translated):
    for function in FUNCTIONS:
        services = {action.split(":")[0] for action in _actions(translated, _function_role(function))}
        assert ("secretsmanager" in services) == (function in SECRET_USERS), function
        assert ("kms" in services) == (function in SECRET_USERS), function


@pytest.mark.parametrize("function", sorted(SECRET_USERS))
def test_secret_grants_are_scoped_to_the_prefix_and_the_stack_key(translated, function):
    for st in _statements(translated, _function_role(function)):
        service = _as_list(st["Action"])[0].split(":")[0]
        if service == "secretsmanager":
            assert _render(st["Resource"]).endswith(":secret:${SecretPrefix}*")
        elif service == "kms":
            assert st["Resource"] == {"Fn::GetAtt": ["PumpKey", "Arn"]}
            via = st["Condition"]["StringEquals"]["kms:ViaService"]
            assert _render(via) == "secretsmanager.${AWS::Region}.amazonaws.com"


def test_only_chunk_and_sync_read_secret_values(translated):
    readers = {fn for fn in FUNCTIONS if "secretsmanager:GetSecretValue" in _actions(translated, _function_role(fn))}
    assert readers == SECRET_READERS


def test_connect_writes_secrets_but_cannot_read_them_back(translated):
    secret_actions = {a for a in _actions(translated, "ConnectFunctionRole") if a.startswith("secretsmanager:")}
    assert secret_actions == {
        "secretsmanager:CreateSecret",
        "secretsmanager:PutSecretValue",
        "secretsmanager:DescribeSecret",
        "secretsmanager:DeleteSecret",
        "secretsmanager:RestoreSecret",  # reconnecting within the recovery window of a disconnect
        "secretsmanager:TagResource",
    }


def test_costs_function_can_only_read_the_table(translated):
    assert _actions(translated, "CostsFunctionRole") == READ_ONLY_TABLE_ACTIONS


@pytest.mark.parametrize("function", ["BackfillPlanFunction", "BackfillFinalizeFunction"])
def test_plan_and_finalize_touch_only_the_table(translated, function):
    assert {a.split(":")[0] for a in _actions(translated, _function_role(function))} == {"dynamodb"}


def test_only_connect_starts_executions_and_only_of_the_backfill_machine(translated):
    starters = {fn for fn in FUNCTIONS if any(a.startswith("states:") for a in _actions(translated, f"{fn}Role"))}
    assert starters == {"ConnectFunction"}
    (statement,) = [
        st for st in _statements(translated, "ConnectFunctionRole") if st["Action"] == ["states:StartExecution"]
    ]
    assert statement["Resource"]["Fn::Sub"][1] == {"stateMachineName": {"Fn::GetAtt": ["BackfillStateMachine", "Name"]}}


def test_state_machine_invokes_only_the_backfill_functions(translated):
    role = translated["Resources"]["BackfillStateMachine"]["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    targets = set()
    for st in _statements(translated, role):
        assert _as_list(st["Action"]) == ["lambda:InvokeFunction"]
        targets.add(st["Resource"]["Fn::Sub"][1]["functionName"]["Ref"])
    assert targets == {"BackfillPlanFunction", "BackfillChunkFunction", "BackfillFinalizeFunction"}


# ---------------------------------------------------------------- data at rest


def test_stateful_resources_are_retained(template):
    for name in ("PumpTable", "PumpKey"):
        resource = template["Resources"][name]
        assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain"), name


def test_table_matches_the_single_table_design(template):
    # Then
    props = template["Resources"]["PumpTable"]["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    (gsi,) = props["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "gsi1"
    assert [k["AttributeName"] for k in gsi["KeySchema"]] == ["gsi1pk", "gsi1sk"]
    assert gsi["Projection"] == {"ProjectionType": "ALL"}
    assert {a["AttributeType"] for a in props["AttributeDefinitions"]} == {"S"}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires", "Enabled": True}
    assert props["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": {"Fn::GetAtt": ["PumpKey", "Arn"]},
    }


def test_key_rotates_and_has_an_alias(template):
    assert template["Resources"]["PumpKey"]["Properties"]["EnableKeyRotation"] is True
    alias = template["Resources"]["PumpKeyAlias"]
    assert alias["Type"] == "AWS::KMS::Alias"
    assert alias["Properties"]["TargetKeyId"] == {"Ref": "PumpKey"}


def test_key_policy_never_opens_the_key_without_conditions(template):
    for st in template["Resources"]["PumpKey"]["Properties"]["KeyPolicy"]["Statement"]:
        principal = st["Principal"]["AWS"]
        assert st["Effect"] == "Allow"
        assert "kms:*" not in _as_list(st["Action"]), st["Sid"]
        if principal == "*":
            conditions = st["Condition"]["StringEquals"]
            assert conditions["kms:CallerAccount"] == {"Ref": "AWS::AccountId"}, st["Sid"]
            assert "kms:ViaService" in conditions, st["Sid"]
        else:
            assert principal == {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}, st["Sid"]


def test_key_use_is_only_through_dynamodb_or_secrets_manager(template):
    crypto = {"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:GenerateDataKey*", "kms:ReEncrypt*"}
    for st in template["Resources"]["PumpKey"]["Properties"]["KeyPolicy"]["Statement"]:
        if crypto & set(_as_list(st["Action"])):
            via = _render(st["Condition"]["StringEquals"]["kms:ViaService"])
            assert via in {"dynamodb.${AWS::Region}.amazonaws.com", "secretsmanager.${AWS::Region}.amazonaws.com"}


# ---------------------------------------------------------------- state machine wiring


def test_definition_substitutions_match_asl_placeholders(template):
    substitutions = template["Resources"]["BackfillStateMachine"]["Properties"]["DefinitionSubstitutions"]
    assert set(substitutions) == set(PLACEHOLDER.findall(ASL_PATH.read_text()))


def test_unquoted_placeholders_are_number_parameters(template):
    # DefinitionSubstitutions is plain text replacement: a bare ${X} must render as an integer literal.
    substitutions = template["Resources"]["BackfillStateMachine"]["Properties"]["DefinitionSubstitutions"]
    bare = set(re.findall(r'(?<!")\$\{(\w+)\}(?!")', ASL_PATH.read_text()))
    assert bare == {"BackfillMaxConcurrency", "ChunkRetryIntervalSeconds", "ChunkRetryMaxAttempts"}
    for name in bare:
        parameter = substitutions[name]["Ref"]
        assert template["Parameters"][parameter]["Type"] == "Number"
        assert template["Parameters"][parameter]["MinValue"] >= 0


def test_state_machine_uses_the_asl_file(template):
    props = template["Resources"]["BackfillStateMachine"]["Properties"]
    assert (ROOT / props["DefinitionUri"]) == ASL_PATH


# ---------------------------------------------------------------- outputs


def test_outputs_expose_what_e2e_tests_need(template):
    expected = {"ApiUrl", "TableName", "StateMachineArn", "KmsKeyArn"} | {f"{fn}Name" for fn in FUNCTIONS}
    assert expected <= set(template["Outputs"])


# ---------------------------------------------------------------- operations


def test_every_function_has_a_log_group_with_retention(template):
    resources = template["Resources"]
    log_groups = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Logs::LogGroup"]
    named = {p["LogGroupName"]["Fn::Sub"].removeprefix("/aws/lambda/${").rstrip("}") for p in log_groups}
    assert named == set(FUNCTIONS)
    assert all(p["RetentionInDays"] == {"Ref": "LogRetentionDays"} for p in log_groups)


def test_alarms_cover_failed_backfills_sync_errors_dead_letters_and_throttles(template):
    alarms = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    watched = {(a["Namespace"], a["MetricName"]) for a in alarms}
    assert {
        ("AWS/States", "ExecutionsFailed"),
        ("PumpAnthropic", "BackfillChunksFailed"),
        ("PumpAnthropic", "SyncFailures"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/DynamoDB", "WriteThrottleEvents"),
    } <= watched
    assert all(a["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms)


def test_asynchronous_invocations_have_somewhere_to_fail_to(template):
    resources = template["Resources"]
    schedule = resources["SyncDispatchFunction"]["Properties"]["Events"]["Hourly"]["Properties"]
    assert schedule["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["SyncDeadLetterQueue", "Arn"]}}
    assert resources["SyncQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["SyncDeadLetterQueue", "Arn"]
    }
