"""template.yaml: cfn-lint, and the SAM-translated template's IAM, data and wiring contracts (offline)."""

from __future__ import annotations

import copy
import graphlib
import json
import re
from collections.abc import Iterator
from fnmatch import fnmatchcase
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
    "GuardFunction": ("functions/guard/", "app.lambda_handler"),
    "ReconcileFunction": ("functions/reconcile/", "app.lambda_handler"),
    "BackfillPlanFunction": ("functions/backfill/", "app.plan_handler"),
    "BackfillChunkFunction": ("functions/backfill/", "app.chunk_handler"),
    "BackfillFinalizeFunction": ("functions/backfill/", "app.finalize_handler"),
    "LayoutMigrationFunction": ("functions/backfill/", "app.migrate_handler"),
    "SyncFunction": ("functions/sync/", "app.lambda_handler"),
    "SyncDispatchFunction": ("functions/sync/", "app.dispatch_handler"),
    "ExportFunction": ("functions/export/", "app.lambda_handler"),
}
# The only grants on "*" we accept, both AWS-managed and attached by SAM: CloudWatch Logs for every function
# (logs:CreateLogGroup/CreateLogStream/PutLogEvents) and X-Ray from `Tracing: Active`
# (xray:PutTraceSegments/PutTelemetryRecords/GetSampling*, which have no resource-level permissions).
AWS_MANDATED_MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
}
# A resource may end in "*" only to reach a named thing's children: table indexes, this stack's secrets (Secrets
# Manager appends a random suffix), a named function's versions, the export files.
STACK_SECRETS = "secret:${SecretPrefix}${AWS::StackName}/*"
EXPORT_BUCKET_ARN = "arn:${AWS::Partition}:s3:::pump-anthropic-exports-${StackUuid}"
EXPORT_FILES = EXPORT_BUCKET_ARN + "/exports/*"
ALLOWED_WILDCARD_SUFFIXES = ("/index/*", STACK_SECRETS, "function:${functionName}*", EXPORT_FILES)
SECRET_READERS = {"BackfillChunkFunction", "SyncFunction", "ReconcileFunction"}
SECRET_USERS = SECRET_READERS | {"ConnectFunction"}
ACCOUNT_ROOT = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
KEYS = ("PumpKey", "SecretsKey", "AlarmTopicKey", "ExportKey")
# Everything that uses key material or lets someone else use it (a grant can carry Decrypt).
KEY_USE_ACTIONS = (
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:GenerateDataKeyPair",
    "kms:GenerateDataKeyPairWithoutPlaintext",
    "kms:CreateGrant",
)
# Lambda keeps at least 100 of the account's concurrency unreserved; 1,000 is the default account limit.
ACCOUNT_CONCURRENCY, UNRESERVED_MINIMUM = 1000, 100
RESERVED_CONCURRENCY = {
    "ConnectFunction": "ConnectReservedConcurrency",
    "CostsFunction": "CostsReservedConcurrency",
    "BackfillChunkFunction": "BackfillChunkReservedConcurrency",
}
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
    ("GET", "/costs/rates"): "CostsFunction",
    ("GET", "/costs/savings"): "CostsFunction",
    ("POST", "/costs/exports"): "ConnectFunction",
    ("GET", "/costs/exports/{id}"): "CostsFunction",
    ("GET", "/openapi.json"): "CostsFunction",
    ("PUT", "/budgets/{id}"): "GuardFunction",
    ("GET", "/budgets/{id}"): "GuardFunction",
    ("DELETE", "/budgets/{id}"): "GuardFunction",
    ("GET", "/budgets"): "GuardFunction",
    ("GET", "/alerts"): "GuardFunction",
    ("GET", "/costs/reconciliation"): "ReconcileFunction",
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


def _grants(statement: dict, action: str) -> bool:
    return any(fnmatchcase(action, pattern) for pattern in _as_list(statement["Action"]))


def _key_statements(template: dict, key: str) -> list[dict]:
    return template["Resources"][key]["Properties"]["KeyPolicy"]["Statement"]


def _admin_key_key(template: dict) -> str:
    """The key Secrets Manager encrypts the Admin keys with: the one connect passes to CreateSecret."""
    env = dict(template["Globals"]["Function"]["Environment"]["Variables"])
    env.update(template["Resources"]["ConnectFunction"]["Properties"].get("Environment", {}).get("Variables", {}))
    return env["KMS_KEY_ID"]["Fn::GetAtt"][0]


def _references(value) -> Iterator[str]:
    """Logical ids a resource's properties point at (Ref, Fn::GetAtt, ${X} or ${X.Attr} in Fn::Sub)."""
    if isinstance(value, list):
        for item in value:
            yield from _references(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref" and isinstance(item, str):
                yield item
            elif key == "Fn::GetAtt":
                yield item[0] if isinstance(item, list) else item.split(".")[0]
            elif key == "Fn::Sub":
                text, variables = (item, {}) if isinstance(item, str) else item
                yield from (name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", text))
                yield from _references(variables)
            else:
                yield from _references(item)


def _role_principals(statement: dict) -> set[str]:
    """Function role logical ids named as AWS principals (GetAtt <Role>.Arn)."""
    return {p["Fn::GetAtt"][0] for p in _as_list(statement["Principal"].get("AWS", [])) if "Fn::GetAtt" in p}


# ---------------------------------------------------------------- cfn-lint


def test_cfn_lint_reports_nothing():
    assert [str(match) for match in lint_file(TEMPLATE_PATH)] == []


def test_cfn_lint_informational_checks_report_nothing():
    assert [str(match) for match in lint_file(TEMPLATE_PATH, ManualArgs(include_checks=["I"]))] == []


def test_translated_template_has_no_dependency_cycle(translated):
    # cfn-lint does not see cycles through SAM-generated roles (the secrets key names them; they name the table).
    resources = translated["Resources"]
    graph = {
        name: {ref for ref in _references(res.get("Properties", {})) if ref in resources}
        | set(_as_list(res.get("DependsOn", [])))
        for name, res in resources.items()
    }
    list(graphlib.TopologicalSorter(graph).static_order())


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
    } <= set(env)


def test_secret_names_carry_the_stack_name(template):
    # The code names a secret SECRET_PREFIX + connection id; the IAM grants and the key policy end in the same prefix.
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["SECRET_PREFIX"] == {"Fn::Sub": "${SecretPrefix}${AWS::StackName}/"}


def test_only_connect_knows_the_secrets_key(template):
    assert "KMS_KEY_ID" not in template["Globals"]["Function"]["Environment"]["Variables"]
    for function in FUNCTIONS:
        env = template["Resources"][function]["Properties"].get("Environment", {}).get("Variables", {})
        assert ("KMS_KEY_ID" in env) == (function == "ConnectFunction"), function
    assert _admin_key_key(template) == "SecretsKey"


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
    (mapping,) = [
        r
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping" and r["Properties"]["FunctionName"] == {"Ref": "SyncFunction"}
    ]
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


def test_only_connect_chunk_sync_and_reconcile_touch_secrets(translated):
    for function in FUNCTIONS:
        services = {action.split(":")[0] for action in _actions(translated, _function_role(function))}
        assert ("secretsmanager" in services) == (function in SECRET_USERS), function


def test_no_role_grants_key_use_the_key_policies_decide(translated):
    # The secrets key names its principals itself; an IAM grant on top would only widen what the policy allows.
    for role in _roles(translated):
        assert not [a for a in _actions(translated, role) if a.startswith("kms:")], role


@pytest.mark.parametrize("function", sorted(SECRET_USERS))
def test_secret_grants_are_scoped_to_this_stacks_secrets(translated, function):
    statements = [st for st in _statements(translated, _function_role(function)) if "secretsmanager" in str(st)]
    assert statements
    for st in statements:
        assert _render(st["Resource"]) == (
            "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:" + STACK_SECRETS
        )


def test_only_chunk_sync_and_reconcile_read_secret_values(translated):
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


def test_costs_function_can_only_read_the_table_and_count_exports(translated):
    on_quota_table, on_cost_table = set(), set()
    for statement in _statements(translated, "CostsFunctionRole"):
        if not any(a.startswith("dynamodb:") for a in _as_list(statement["Action"])):
            continue
        quota = _as_list(statement["Resource"]) == [{"Fn::GetAtt": ["QuotaTable", "Arn"]}]
        (on_quota_table if quota else on_cost_table).update(_as_list(statement["Action"]))
    assert on_cost_table == READ_ONLY_TABLE_ACTIONS
    assert on_quota_table == {"dynamodb:UpdateItem"}


def test_only_the_request_quotas_live_in_the_quota_table(translated):
    users = {
        fn
        for fn in FUNCTIONS
        for st in _statements(translated, f"{fn}Role")
        if "QuotaTable" in json.dumps(st["Resource"])
    }
    # The tenant quotas (connect, costs), the rates of requests to Anthropic (connect, chunk, sync) and the tenants'
    # export run slots (export; its conditions in test_template_workers.py).
    assert users == {
        "ConnectFunction",
        "CostsFunction",
        "GuardFunction",
        "ReconcileFunction",
        "BackfillChunkFunction",
        "SyncFunction",
        "ExportFunction",
    }


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
    for name in ("PumpTable", "PumpKey", "SecretsKey"):
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


@pytest.mark.parametrize("key", KEYS)
def test_key_rotates_and_has_an_alias(template, key):
    assert template["Resources"][key]["Properties"]["EnableKeyRotation"] is True
    aliases = [r for r in template["Resources"].values() if r["Type"] == "AWS::KMS::Alias"]
    assert [a["Properties"]["TargetKeyId"] for a in aliases].count({"Ref": key}) == 1


def test_keys_are_exactly_the_table_secrets_and_alarm_keys(template):
    assert {n for n, r in template["Resources"].items() if r["Type"] == "AWS::KMS::Key"} == set(KEYS)


@pytest.mark.parametrize("key", KEYS)
def test_key_administration_is_kept_apart_from_key_use(template, key):
    # The account root stands for IAM: whatever it is allowed, any IAM policy in the account can hand out.
    for st in _key_statements(template, key):
        assert st["Effect"] == "Allow"
        if st["Principal"].get("AWS") == ACCOUNT_ROOT:
            assert not [a for a in KEY_USE_ACTIONS if _grants(st, a)], st["Sid"]


def test_no_statement_lets_the_account_or_anyone_decrypt_the_admin_keys(template):
    key = _admin_key_key(template)
    for st in _key_statements(template, key):
        if _grants(st, "kms:Decrypt"):
            assert st["Principal"] != "*", st["Sid"]
            principals = _as_list(st["Principal"].get("AWS", []))
            assert "*" not in principals, st["Sid"]
            assert ACCOUNT_ROOT not in principals, st["Sid"]
            assert "Service" not in st["Principal"], st["Sid"]


def test_secrets_key_is_used_only_by_the_secret_functions_through_secrets_manager(template, translated):
    # Given the roles SAM generates for the functions
    for function in SECRET_USERS:
        role = translated["Resources"][function]["Properties"]["Role"]
        assert role == {"Fn::GetAtt": [_function_role(function), "Arn"]}

    # Then every key use names those roles, through Secrets Manager, for this stack's secrets only
    users: dict[str, set[str]] = {}
    for st in _key_statements(template, "SecretsKey"):
        used = {a for a in KEY_USE_ACTIONS if _grants(st, a)}
        if not used:
            continue
        assert set(st["Principal"]) == {"AWS"}, st["Sid"]
        assert _render(st["Condition"]["StringEquals"]["kms:ViaService"]) == (
            "secretsmanager.${AWS::Region}.amazonaws.com"
        )
        assert _render(st["Condition"]["StringLike"]["kms:EncryptionContext:SecretARN"]) == (
            "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:" + STACK_SECRETS
        )
        for role in _role_principals(st):
            users.setdefault(role, set()).update(used)
        assert len(_role_principals(st)) == len(_as_list(st["Principal"]["AWS"])), st["Sid"]
    assert users == {
        "ConnectFunctionRole": {"kms:GenerateDataKey", "kms:Decrypt"},
        "BackfillChunkFunctionRole": {"kms:Decrypt"},
        "SyncFunctionRole": {"kms:Decrypt"},
        "ReconcileFunctionRole": {"kms:Decrypt"},
    }


def test_table_key_is_used_only_through_dynamodb(template):
    for st in _key_statements(template, "PumpKey"):
        principal = st["Principal"]["AWS"]
        assert "kms:*" not in _as_list(st["Action"]), st["Sid"]
        if principal == "*":
            conditions = st["Condition"]["StringEquals"]
            assert conditions["kms:CallerAccount"] == {"Ref": "AWS::AccountId"}, st["Sid"]
            assert _render(conditions["kms:ViaService"]) == "dynamodb.${AWS::Region}.amazonaws.com", st["Sid"]
        else:
            assert principal == ACCOUNT_ROOT, st["Sid"]


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
    expected = {"ApiUrl", "TableName", "StateMachineArn", "KmsKeyArn", "SecretsKeyArn"} | {
        f"{fn}Name" for fn in FUNCTIONS
    }
    assert expected <= set(template["Outputs"])


# ---------------------------------------------------------------- operations


def test_every_log_group_has_retention_and_every_function_has_one(template):
    resources = template["Resources"]
    log_groups = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Logs::LogGroup"]
    names = [p["LogGroupName"]["Fn::Sub"] for p in log_groups]
    named = {name.removeprefix("/aws/lambda/${").rstrip("}") for name in names if name.startswith("/aws/lambda/")}
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


def test_alarms_can_publish_to_their_encrypted_topic(template):
    # CloudWatch cannot use the AWS-managed SNS key (its policy cannot be changed): every alarm would be dropped.
    topic = template["Resources"]["AlarmTopic"]["Properties"]
    key = topic["KmsMasterKeyId"]
    assert isinstance(key, dict) and "Fn::GetAtt" in key, key
    (publish,) = [
        st
        for st in _key_statements(template, key["Fn::GetAtt"][0])
        if st["Principal"].get("Service") == "cloudwatch.amazonaws.com"
    ]
    assert _grants(publish, "kms:Decrypt")
    assert _grants(publish, "kms:GenerateDataKey")
    assert not _grants(publish, "kms:Encrypt")
    assert publish["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_a_failing_dispatcher_is_recorded_and_alarmed(template, translated):
    # Scheduler invokes the dispatcher asynchronously: its DLQ catches refused invocations, not failed runs.
    resources = template["Resources"]
    (config,) = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::EventInvokeConfig"
        and r["Properties"]["FunctionName"] == {"Ref": "SyncDispatchFunction"}
    ]
    destination = config["DestinationConfig"]["OnFailure"]["Destination"]
    assert destination == {"Fn::GetAtt": ["SyncDeadLetterQueue", "Arn"]}
    assert config["Qualifier"] == "$LATEST"
    sends = [
        st
        for st in _statements(translated, "SyncDispatchFunctionRole")
        if _as_list(st["Action"]) == ["sqs:SendMessage"]
    ]
    assert destination in [st["Resource"] for st in sends]
    alarms = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert [
        a
        for a in alarms
        if (a["Namespace"], a["MetricName"]) == ("AWS/Lambda", "Errors")
        and a["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "SyncDispatchFunction"}}]
        and a["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    ]


def test_api_access_logs_carry_who_called_what_and_never_a_body(template, translated):
    settings = translated["Resources"]["PumpApiApiGatewayDefaultStage"]["Properties"]["AccessLogSettings"]
    (log_group,) = [
        name
        for name, r in template["Resources"].items()
        if r["Type"] == "AWS::Logs::LogGroup" and settings["DestinationArn"] == {"Fn::GetAtt": [name, "Arn"]}
    ]
    assert template["Resources"][log_group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    text = settings["Format"]["Fn::Sub"]
    fields = json.loads(text)
    assert fields["requestId"] == "$context.requestId"
    assert fields["routeKey"] == "$context.routeKey"
    assert fields["status"] == "$context.status"
    assert fields["tenant"] == "$context.authorizer.claims.${TenantClaim}"
    assert fields["sourceIp"] == "$context.identity.sourceIp"
    variables = re.findall(r"\$context\.[\w.${}]+", text)
    assert len(variables) == len(fields)
    assert not [v for v in variables if re.search(r"body|header|authorization|requestOverride|input", v, re.I)]


def test_asynchronous_invocations_have_somewhere_to_fail_to(template):
    resources = template["Resources"]
    schedule = resources["SyncDispatchFunction"]["Properties"]["Events"]["Hourly"]["Properties"]
    assert schedule["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["SyncDeadLetterQueue", "Arn"]}}
    assert resources["SyncQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["SyncDeadLetterQueue", "Arn"]
    }


# ---------------------------------------------------------------- parameters and capacity


def test_anthropic_api_url_must_be_https(template):
    parameter = template["Parameters"]["AnthropicApiUrl"]
    pattern = re.compile(parameter["AllowedPattern"])
    assert pattern.fullmatch(parameter["Default"])
    assert pattern.fullmatch("https://anthropic.internal.example:8443/proxy")
    for url in ("http://api.anthropic.com", "HTTP://api.anthropic.com", "https://", "ftp://x", "https://a b"):
        assert not pattern.fullmatch(url), url


@pytest.mark.parametrize(("function", "parameter"), RESERVED_CONCURRENCY.items())
def test_tenant_driven_functions_have_parameterised_reserved_concurrency(template, function, parameter):
    reserved = template["Resources"][function]["Properties"]["ReservedConcurrentExecutions"]
    condition, value, otherwise = reserved["Fn::If"]
    assert (value, otherwise) == ({"Ref": parameter}, {"Ref": "AWS::NoValue"})
    assert template["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, "0"]}]}
    spec = template["Parameters"][parameter]
    assert spec["Type"] == "Number" and spec["MinValue"] == 0 and spec["Default"] > 0


def test_reserved_concurrency_defaults_fit_a_default_account(template):
    params = template["Parameters"]
    reserved = sum(params[p]["Default"] for p in RESERVED_CONCURRENCY.values())
    mappings = ("SyncQueueMapping", "ExportQueueMapping")
    queued = sum(template["Resources"][m]["Properties"]["ScalingConfig"]["MaximumConcurrency"] for m in mappings)
    # What stays unreserved must hold the queue mappings' concurrency on top of Lambda's minimum.
    assert reserved + queued <= ACCOUNT_CONCURRENCY - UNRESERVED_MINIMUM
    # Below the Map's own parallelism a single backfill would throttle itself.
    assert params["BackfillChunkReservedConcurrency"]["Default"] >= params["BackfillMaxConcurrency"]["Default"]


@pytest.mark.parametrize("function", RESERVED_CONCURRENCY)
def test_capped_functions_alarm_when_throttled(template, function):
    alarms = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert [
        a
        for a in alarms
        if (a["Namespace"], a["MetricName"]) == ("AWS/Lambda", "Throttles")
        and a["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function}}]
    ]


# ---------------------------------------------------------------- exports

EXPORT_KEY_USERS = {
    "ExportFunctionRole": {"kms:GenerateDataKey", "kms:Decrypt"},
    "CostsFunctionRole": {"kms:Decrypt"},
}


def test_export_bucket_is_kms_encrypted_private_expiring_and_tls_only(template):
    resources = template["Resources"]
    props = resources["ExportBucket"]["Properties"]
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": ["ExportKey", "Arn"]},
    }
    assert rule["BucketKeyEnabled"] is True
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    (lifecycle,) = props["LifecycleConfiguration"]["Rules"]
    assert lifecycle["Status"] == "Enabled" and "Prefix" not in lifecycle and "Filter" not in lifecycle
    assert lifecycle["ExpirationInDays"] == 7
    assert lifecycle["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    # The name the roles and the key policy use is the bucket's own.
    assert _render(props["BucketName"]) == "pump-anthropic-exports-${StackUuid}"

    (policy,) = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::S3::BucketPolicy"]
    assert policy["Bucket"] == {"Ref": "ExportBucket"}
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == ("Deny", "*", "s3:*")
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert list(map(_render, statement["Resource"])) == ["<GetAtt ExportBucket.Arn>", "${ExportBucket.Arn}/*"]


def test_export_key_is_used_only_by_the_export_and_costs_roles_through_s3_for_the_export_bucket(template):
    users: dict[str, set[str]] = {}
    for st in _key_statements(template, "ExportKey"):
        used = {a for a in KEY_USE_ACTIONS if _grants(st, a)}
        if not used:
            continue
        assert set(st["Principal"]) == {"AWS"}, st["Sid"]
        assert len(_role_principals(st)) == len(_as_list(st["Principal"]["AWS"])), st["Sid"]
        assert _render(st["Condition"]["StringEquals"]["kms:ViaService"]) == "s3.${AWS::Region}.amazonaws.com"
        contexts = st["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"]
        assert sorted(map(_render, contexts)) == [EXPORT_BUCKET_ARN, EXPORT_FILES], st["Sid"]
        for role in _role_principals(st):
            users.setdefault(role, set()).update(used)
    assert users == EXPORT_KEY_USERS
    assert template["Resources"]["ExportKey"]["Properties"]["PendingWindowInDays"] == 7


def _s3_grants(translated: dict) -> dict[str, set[tuple[str, str]]]:
    grants: dict[str, set[tuple[str, str]]] = {}
    for role in _roles(translated):
        for st in _statements(translated, role):
            for action in _as_list(st["Action"]):
                if action.startswith("s3:"):
                    grants.setdefault(role, set()).update((action, _render(r)) for r in _as_list(st["Resource"]))
    return grants


def test_only_the_export_function_writes_export_files_and_only_the_costs_function_reads_them(translated):
    assert _s3_grants(translated) == {
        "ExportFunctionRole": {
            ("s3:PutObject", EXPORT_FILES),
            ("s3:AbortMultipartUpload", EXPORT_FILES),
            ("s3:ListMultipartUploadParts", EXPORT_FILES),
        },
        "CostsFunctionRole": {("s3:GetObject", EXPORT_FILES)},
    }


def test_export_function_reads_the_table_and_only_updates_job_records(translated):
    by_resource: dict[str, set[str]] = {}
    for st in _statements(translated, "ExportFunctionRole"):
        for resource in _as_list(st["Resource"]):
            by_resource.setdefault(_render(resource), set()).update(_as_list(st["Action"]))
    assert by_resource == {
        "<GetAtt PumpTable.Arn>": READ_ONLY_TABLE_ACTIONS | {"dynamodb:UpdateItem"},
        "<GetAtt QuotaTable.Arn>": {"dynamodb:UpdateItem"},  # its run slots (test_template_workers.py)
        EXPORT_FILES: {"s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"},
        "<GetAtt ExportQueue.Arn>": {
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:ChangeMessageVisibility",
            "sqs:GetQueueAttributes",
            "sqs:SendMessage",  # a job put back while its tenant's run slots are taken
        },
    }


def test_only_connect_queues_exports_and_the_export_function_puts_them_back(translated):
    senders = {
        role
        for role in _roles(translated)
        for st in _statements(translated, role)
        if "sqs:SendMessage" in _as_list(st["Action"]) and st["Resource"] == {"Fn::GetAtt": ["ExportQueue", "Arn"]}
    }
    assert senders == {"ConnectFunctionRole", "ExportFunctionRole"}


def test_exports_run_from_a_queue_whose_failures_have_somewhere_to_go(template):
    resources = template["Resources"]
    function = resources["ExportFunction"]["Properties"]
    assert (function["Timeout"], function["MemorySize"]) == (900, 512)
    assert function["Environment"]["Variables"]["EXPORT_BUCKET"] == {"Ref": "ExportBucket"}
    assert resources["CostsFunction"]["Properties"]["Environment"]["Variables"]["EXPORT_BUCKET"] == {
        "Ref": "ExportBucket"
    }
    assert resources["ConnectFunction"]["Properties"]["Environment"]["Variables"]["EXPORT_QUEUE_URL"] == {
        "Ref": "ExportQueue"
    }
    mapping = resources["ExportQueueMapping"]["Properties"]
    assert mapping["FunctionName"] == {"Ref": "ExportFunction"}
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["ExportQueue", "Arn"]}
    assert mapping["BatchSize"] == 1
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    queue = resources["ExportQueue"]["Properties"]
    # A run still going must never be handed to a second function.
    assert queue["VisibilityTimeout"] > function["Timeout"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["ExportDeadLetterQueue", "Arn"]}
    assert queue["KmsMasterKeyId"] == resources["ExportDeadLetterQueue"]["Properties"]["KmsMasterKeyId"]
    alarms = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert [
        a
        for a in alarms
        if a["MetricName"] == "ApproximateNumberOfMessagesVisible"
        and a["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["ExportDeadLetterQueue", "QueueName"]}}]
    ]


def test_cost_history_retention_is_a_parameter_every_function_gets(template):
    parameter = template["Parameters"]["RetentionMonths"]
    assert parameter["Default"] == 0 and parameter["MinValue"] == 0
    assert template["Globals"]["Function"]["Environment"]["Variables"]["RETENTION_MONTHS"] == {"Ref": "RetentionMonths"}
