"""The embedded AWS: moto in-process, with the real state machine file executed and Lambda routed to our handlers.

moto's Step Functions engine runs the ASL for real; its Lambda backend (without Docker) would only echo the
payload, so `invoke` is replaced with a dispatch to the in-process handlers. That part uses moto internals
(pinned moto>=5.2,<5.3) and lives only here.
"""

from __future__ import annotations

import io
import json
import logging
import os
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
TABLE_NAME = "pump-anthropic-local"
SECRET_PREFIX = "pump-anthropic/"
STATE_MACHINE_NAME = "pump-anthropic-backfill"
SYNC_QUEUE_NAME = "pump-anthropic-sync"
EXPORT_QUEUE_NAME = "pump-anthropic-exports"
EXPORT_DEAD_LETTER_QUEUE_NAME = "pump-anthropic-exports-dlq"
EXPORT_BUCKET_NAME = "pump-anthropic-exports-local"
ALERT_EVENTS_QUEUE_NAME = "pump-anthropic-alert-events"
ALERT_RULE_NAME = "pump-anthropic-alerts"
EXPORT_TIMEOUT_SECONDS = 900
# The embedded S3 is out of a browser's reach: download URLs name the local server's own route instead. "/" means
# the origin the API is called on; `serve` sets its full address.
LOCAL_DOWNLOAD_BASE_URL = "/"
ROOT = Path(__file__).resolve().parents[2]
ASL_PATH = ROOT / "infra" / "statemachine" / "backfill.asl.json"
BACKFILL_FUNCTIONS = {
    "BackfillPlanFunction": "plan_handler",
    "BackfillChunkFunction": "chunk_handler",
    "BackfillFinalizeFunction": "finalize_handler",
}
LAMBDA_TIMEOUT_SECONDS = 300

Handler = Callable[[dict, Any], Any]
logger = logging.getLogger(__name__)


@dataclass
class FakeLambdaContext:
    function_name: str
    timeout_seconds: int = LAMBDA_TIMEOUT_SECONDS
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.started + self.timeout_seconds - time.monotonic()) * 1000))


@dataclass
class InvocationLog:
    """Every routed Lambda invocation, for tests (payloads and outcomes)."""

    calls: list[tuple[str, dict, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, payload: dict, outcome: str) -> None:
        with self.lock:
            self.calls.append((name, payload, outcome))


def _route(handlers: dict[str, Handler], log: InvocationLog) -> Callable:
    def invoke(self, function_name, qualifier, body, headers, response_headers):  # noqa: ARG001 (moto's signature)
        name = function_name.split(":function:")[-1].split(":")[0]
        payload = json.loads(body or "{}")
        try:
            result = handlers[name](payload, FakeLambdaContext(name))
        except Exception as exc:  # the Lambda "Unhandled" contract: the ASL error name is the class name
            log.add(name, payload, type(exc).__name__)
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}).encode()
        finally:
            _drop_unflushed_metrics()
        log.add(name, payload, "ok")
        return json.dumps(result).encode()

    return invoke


def asl_definition(substitutions: dict[str, str]) -> str:
    text = ASL_PATH.read_text()
    for key, value in substitutions.items():
        text = text.replace("${" + key + "}", value)
    return text


@dataclass
class LocalAws:
    """Starts moto for the whole process and provisions what template.yaml would: table, key, functions, SFN, the
    sync queue, the export bucket and queue (whose jobs a worker thread runs)."""

    anthropic_url: str
    max_concurrency: int = 4
    retry_interval_seconds: int = 1
    retry_max_attempts: int = 3
    handlers: dict[str, Handler] | None = None
    invocations: InvocationLog = field(default_factory=InvocationLog)
    state_machine_arn: str = ""
    sync_queue_url: str = ""
    export_queue_url: str = ""
    run_exports: bool = True  # a worker thread runs queued exports, as the queue's event source mapping would
    export_workers: int = 1  # how many run at once (the mapping's MaximumConcurrency is 5)
    cost_source: str | None = None  # ANTHROPIC_COST_SOURCE: auto (None), legacy or analytics
    _export_workers: list[ExportWorker] = field(default_factory=list)
    _stopped: bool = False
    _stack: ExitStack = field(default_factory=ExitStack)

    def __enter__(self) -> LocalAws:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        from moto import mock_aws
        from moto.awslambda_simple.models import LambdaSimpleBackend

        _set_env(self.anthropic_url, self.cost_source)
        handlers = self.handlers or _backfill_handlers()
        original_invoke = LambdaSimpleBackend.invoke
        LambdaSimpleBackend.invoke = _route(handlers, self.invocations)
        self._stack.callback(setattr, LambdaSimpleBackend, "invoke", original_invoke)
        self._stack.callback(_serialize_dynamodb_calls())
        self._stack.callback(_query_only_the_partition())
        self._stack.enter_context(
            mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}})
        )
        self._provision()
        if self.run_exports:
            self._export_workers = [ExportWorker(self, number=n) for n in range(self.export_workers)]
            for worker in self._export_workers:
                worker.start()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for worker in self._export_workers:
            worker.stop()
        self._stop_running_executions()
        self._stack.close()
        _reset_caches()

    def _stop_running_executions(self, timeout: float = 30.0) -> None:
        """Executions run on moto's worker threads; stop them so none outlives the mock it writes to."""
        import boto3

        if not self.state_machine_arn:
            return
        sfn = boto3.client("stepfunctions", region_name=REGION)
        running = sfn.list_executions(stateMachineArn=self.state_machine_arn, statusFilter="RUNNING")["executions"]
        for execution in running:
            sfn.stop_execution(executionArn=execution["executionArn"], cause="local runtime stopping")
        deadline = time.monotonic() + timeout
        for execution in running:
            while sfn.describe_execution(executionArn=execution["executionArn"])["status"] == "RUNNING":
                if time.monotonic() > deadline:
                    return
                time.sleep(0.1)

    def _provision(self) -> None:
        import boto3

        from pump_anthropic import wiring
        from pump_anthropic.dal import table

        _reset_caches()
        wiring.bind_storage()
        table.create_table()
        kms_key = boto3.client("kms", region_name=REGION).create_key(Description="pump-anthropic local")
        os.environ["KMS_KEY_ID"] = kms_key["KeyMetadata"]["Arn"]
        role_arn = _lambda_role()
        lambda_client = boto3.client("lambda", region_name=REGION)
        arns = {}
        for name, handler in BACKFILL_FUNCTIONS.items():
            arns[f"{name}Arn"] = lambda_client.create_function(
                FunctionName=name,
                Runtime="python3.13",
                Role=role_arn,
                Handler=f"app.{handler}",
                Code={"ZipFile": _placeholder_zip()},
                Timeout=LAMBDA_TIMEOUT_SECONDS,
            )["FunctionArn"]
        definition = asl_definition(
            {
                **arns,
                "BackfillMaxConcurrency": str(self.max_concurrency),
                "ChunkRetryIntervalSeconds": str(self.retry_interval_seconds),
                "ChunkRetryMaxAttempts": str(self.retry_max_attempts),
            }
        )
        self.state_machine_arn = boto3.client("stepfunctions", region_name=REGION).create_state_machine(
            name=STATE_MACHINE_NAME, definition=definition, roleArn=role_arn
        )["stateMachineArn"]
        os.environ["STATE_MACHINE_ARN"] = self.state_machine_arn
        sqs = boto3.client("sqs", region_name=REGION)
        self.sync_queue_url = sqs.create_queue(QueueName=SYNC_QUEUE_NAME, Attributes={"VisibilityTimeout": "2"})[
            "QueueUrl"
        ]
        os.environ["SYNC_QUEUE_URL"] = self.sync_queue_url
        self._provision_exports(sqs)
        self._provision_alert_subscriber(sqs)
        _reset_caches()
        wiring.bind_storage()

    def _provision_alert_subscriber(self, sqs: Any) -> None:
        """A subscriber to the spend alerts, as a Pump service would be: a rule on the bus the sync puts them on,
        delivering to a queue that `alert_events` reads."""
        import boto3

        self.alert_events_queue_url = sqs.create_queue(QueueName=ALERT_EVENTS_QUEUE_NAME)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self.alert_events_queue_url, AttributeNames=["QueueArn"])
        events = boto3.client("events", region_name=REGION)
        events.put_rule(Name=ALERT_RULE_NAME, EventPattern=json.dumps({"source": ["pump.anthropic"]}))
        events.put_targets(Rule=ALERT_RULE_NAME, Targets=[{"Id": "alerts", "Arn": queue_arn["Attributes"]["QueueArn"]}])

    def alert_events(self) -> list[dict]:
        """Every spend alert event delivered so far (each read once: they are taken off the queue)."""
        import boto3

        sqs = boto3.client("sqs", region_name=REGION)
        events: list[dict] = []
        while True:
            messages = sqs.receive_message(QueueUrl=self.alert_events_queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not messages:
                return events
            for message in messages:
                events.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.alert_events_queue_url, ReceiptHandle=message["ReceiptHandle"])

    def _provision_exports(self, sqs: Any) -> None:
        """What template.yaml's ExportBucket and ExportQueue (with its dead-letter queue) are."""
        import boto3

        boto3.client("s3", region_name=REGION).create_bucket(Bucket=EXPORT_BUCKET_NAME)
        dead_letters = sqs.create_queue(QueueName=EXPORT_DEAD_LETTER_QUEUE_NAME)["QueueUrl"]
        dead_letters_arn = sqs.get_queue_attributes(QueueUrl=dead_letters, AttributeNames=["QueueArn"])
        redrive = {"deadLetterTargetArn": dead_letters_arn["Attributes"]["QueueArn"], "maxReceiveCount": "3"}
        self.export_queue_url = sqs.create_queue(
            QueueName=EXPORT_QUEUE_NAME,
            Attributes={"VisibilityTimeout": str(EXPORT_TIMEOUT_SECONDS + 60), "RedrivePolicy": json.dumps(redrive)},
        )["QueueUrl"]
        os.environ.update(
            {
                "EXPORT_BUCKET": EXPORT_BUCKET_NAME,
                "EXPORT_QUEUE_URL": self.export_queue_url,
                "EXPORT_DOWNLOAD_BASE_URL": LOCAL_DOWNLOAD_BASE_URL,
            }
        )

    def serve_downloads_from(self, base_url: str) -> None:
        """Download URLs name this server (`serve` knows its address only once it listens)."""
        from pump_anthropic import settings, wiring

        os.environ["EXPORT_DOWNLOAD_BASE_URL"] = base_url
        settings.settings.cache_clear()
        wiring.export_store.cache_clear()

    def drain_export_queue(self, wait_seconds: int = 0) -> int:
        """What the export queue's event source mapping does (batch size 1): each queued job to the export function,
        after waiting up to `wait_seconds` for the first (long polling).

        A message the function reports as failed stays in the queue. Returns how many jobs were handed over.
        """
        import boto3

        from functions.export import app

        sqs = boto3.client("sqs", region_name=REGION)
        done = 0
        while True:
            messages = sqs.receive_message(
                QueueUrl=self.export_queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=0 if done else wait_seconds
            ).get("Messages", [])
            if not messages:
                return done
            (message,) = messages
            event = {"Records": [_sqs_record(message, self.export_queue_url)]}
            context = FakeLambdaContext("ExportFunction", timeout_seconds=EXPORT_TIMEOUT_SECONDS)
            try:
                result = app.lambda_handler(event, context)
            finally:
                _drop_unflushed_metrics()
            if not result.get("batchItemFailures"):
                sqs.delete_message(QueueUrl=self.export_queue_url, ReceiptHandle=message["ReceiptHandle"])
                done += 1

    def fire_sync_schedule(self) -> dict:
        """What the hourly EventBridge schedule does (moto never fires schedules): run the dispatcher."""
        from functions.sync import app

        return app.dispatch_handler({"source": "local.schedule"}, FakeLambdaContext("SyncDispatchFunction"))

    def drain_sync_queue(self, max_rounds: int = 50) -> int:
        """What the SQS event source mapping does: hand queued messages to the sync function in batches.

        Messages the function reports as failed stay in the queue and come back after the visibility timeout.
        Returns how many messages were processed successfully.
        """
        import boto3

        from functions.sync import app

        sqs = boto3.client("sqs", region_name=REGION)
        done = 0
        for _ in range(max_rounds):
            messages = sqs.receive_message(QueueUrl=self.sync_queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return done
            event = {"Records": [_sqs_record(m, self.sync_queue_url) for m in messages]}
            result = app.lambda_handler(event, FakeLambdaContext("SyncFunction"))
            _drop_unflushed_metrics()
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
            for message in messages:
                if message["MessageId"] not in failed:
                    sqs.delete_message(QueueUrl=self.sync_queue_url, ReceiptHandle=message["ReceiptHandle"])
                    done += 1
        return done


def _drop_unflushed_metrics() -> None:
    """With metrics disabled locally, Powertools never clears its buffer: drop it after each invocation."""
    from pump_anthropic.observability import metrics

    metrics.clear_metrics()


def _serialize_dynamodb_calls() -> Callable[[], None]:
    """moto's DynamoDB is not thread-safe: a Query iterating a partition while a parallel chunk's BatchWriteItem adds
    to it raises "dictionary changed size during iteration". Real DynamoDB needs no lock; the local runtime does.
    Returns the undo."""
    from botocore.client import BaseClient

    original = BaseClient._make_api_call
    lock = threading.RLock()

    def serialized(client: Any, operation_name: str, api_params: dict) -> Any:
        if client.meta.service_model.service_name != "dynamodb":
            return original(client, operation_name, api_params)
        with lock:
            return original(client, operation_name, api_params)

    BaseClient._make_api_call = serialized
    return lambda: setattr(BaseClient, "_make_api_call", original)


def _query_only_the_partition() -> Callable[[], None]:
    """Make moto's Query read only the queried partition, as DynamoDB does.

    moto 5.2 walks every item of the table on each Query page (`Table.all_items`), so every query of the local
    runtime slowed down as the table grew. The partition (or, for an index, the items carrying its key) is handed
    to moto's own Query code, which does the rest unchanged. Returns the undo.
    """
    import inspect

    from moto.dynamodb.models.table import Table

    original = Table.query
    signature = inspect.signature(original)

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        hash_key, index_name = bound.arguments.get("hash_key"), bound.arguments.get("index_name")
        if not self.range_key_attr or (hash_key is None and not index_name):
            return original(self, *args, **kwargs)
        if index_name:  # a sparse index holds only the items that carry its key attributes
            names = [k["AttributeName"] for k in self.get_index(index_name).schema if k["KeyType"] == "HASH"]
            found = [i for part in self.items.values() for i in part.values() if all(n in i.attrs for n in names)]
        else:
            found = list(self.items.get(hash_key, {}).values())
        self.all_items = lambda: found
        try:
            return original(self, *args, **kwargs)
        finally:
            del self.all_items

    Table.query = query
    return lambda: setattr(Table, "query", original)


def _sqs_record(message: dict, queue_url: str) -> dict:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{queue_url.rsplit('/', 1)[-1]}",
        "awsRegion": REGION,
    }


def _backfill_handlers() -> dict[str, Handler]:
    from functions.backfill import app

    return {name: getattr(app, handler) for name, handler in BACKFILL_FUNCTIONS.items()}


def _set_env(anthropic_url: str, cost_source: str | None = None) -> None:
    if cost_source:
        os.environ["ANTHROPIC_COST_SOURCE"] = cost_source
    else:
        os.environ.pop("ANTHROPIC_COST_SOURCE", None)
    os.environ.update(
        {
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "TABLE_NAME": TABLE_NAME,
            "SECRET_PREFIX": SECRET_PREFIX,
            "ANTHROPIC_API_URL": anthropic_url,
            "TENANT_CLAIM": "tenant_id",
            "POWERTOOLS_SERVICE_NAME": "pump-anthropic",
            "POWERTOOLS_METRICS_NAMESPACE": "PumpAnthropic",
        }
    )
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    # EMF metrics print to stdout (CloudWatch reads them from the logs); locally they would mix into `run --json`.
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.pop("DYNAMODB_ENDPOINT_URL", None)


def _reset_caches() -> None:
    from pump_anthropic import settings, wiring

    settings.settings.cache_clear()
    cached_adapters = (
        wiring.bind_storage,
        wiring.secret_store,
        wiring.backfill_launcher,
        wiring.sync_queue,
        wiring.export_store,
        wiring.export_queue,
        wiring.alert_bus,
    )
    for cached in cached_adapters:
        cached.cache_clear()


def _lambda_role() -> str:
    import boto3

    iam = boto3.client("iam", region_name=REGION)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    return iam.create_role(RoleName="pump-anthropic-local", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


def _placeholder_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "# the local runtime routes invocations to the in-process handlers\n")
    return buffer.getvalue()


class LocalScheduler:
    """Stands in for EventBridge and the SQS event source mapping in `serve`: fires the hourly dispatcher every
    `sync_every` seconds and hands queued sync messages to the sync function as they arrive. With `on_alert_event`,
    it is also a subscriber to the spend alerts: each event the bus delivers is handed to it, once."""

    def __init__(
        self,
        aws: LocalAws,
        *,
        sync_every: float,
        poll_seconds: float = 0.5,
        on_alert_event: Callable[[dict], None] | None = None,
    ) -> None:
        self._aws = aws
        self._on_alert_event = on_alert_event
        self._sync_every = sync_every
        self._poll_seconds = poll_seconds
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="local-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        next_schedule = time.monotonic() + self._sync_every
        while not self._stopping.wait(self._poll_seconds):
            try:
                if time.monotonic() >= next_schedule:
                    next_schedule = time.monotonic() + self._sync_every
                    self._aws.fire_sync_schedule()
                self._aws.drain_sync_queue()
                if self._on_alert_event is not None:
                    for event in self._aws.alert_events():
                        self._on_alert_event(event)
            except Exception as exc:  # keep the local scheduler alive, like the managed services would
                logger.error("local scheduler error %s: %s", type(exc).__name__, exc)


class ExportWorker:
    """Stands in for the export queue's event source mapping: runs queued export jobs on a thread of their own, so
    a long export never holds up the sync scheduler or an API request."""

    def __init__(self, aws: LocalAws, *, wait_seconds: int = 1, number: int = 0) -> None:
        self._aws = aws
        self._wait_seconds = wait_seconds
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"local-exports-{number}", daemon=True)

    def start(self) -> None:
        # Imported here, on the starting thread: two threads importing Powertools at once can each find the other's
        # modules half-initialised.
        import functions.export.app  # noqa: F401

        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._aws.drain_export_queue(wait_seconds=self._wait_seconds)
            except Exception as exc:  # keep the worker alive, like the managed service would
                logger.error("local export worker error %s: %s", type(exc).__name__, exc)
                self._stopping.wait(1.0)
