"""Logger and metrics, created once per process, and the key-redaction safety net on every log record."""

from __future__ import annotations

import logging
import re
import sys

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit

KEY_PATTERN = re.compile(r"sk-ant-[A-Za-z0-9_-]{6,}")
MASK = "sk-ant-***"


def install_key_redaction() -> None:
    """Mask anything shaped like an Anthropic key in every log record, whoever logs it.

    The key is never logged on purpose; this catches what we don't control, e.g. botocore at DEBUG logging a
    CreateSecret request body. It wraps the record factory, so it also covers third-party loggers.
    """
    factory = logging.getLogRecordFactory()
    if getattr(factory, "redacts_keys", False):
        return

    def redacting_factory(*args, **kwargs) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed format string: leave it to the handler to report
            return record
        if "sk-ant-" in message:
            record.msg, record.args = KEY_PATTERN.sub(MASK, message), ()
        return record

    redacting_factory.redacts_keys = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(redacting_factory)


install_key_redaction()
logger = Logger(service="pump-anthropic", stream=sys.stderr)
metrics = Metrics(namespace="PumpAnthropic", service="pump-anthropic")
copy_config_to_registered_loggers(source_logger=logger, include={"pump_anthropic"})

__all__ = ["MetricUnit", "install_key_redaction", "logger", "metrics"]
