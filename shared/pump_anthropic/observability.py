"""Logger, tracer-free metrics and the key-redaction safety net, created once per process."""

from __future__ import annotations

import logging
import re
import sys

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

KEY_PATTERN = re.compile(r"sk-ant-[A-Za-z0-9_-]{6,}")


class RedactKeysFilter(logging.Filter):
    """Belt and braces: the key is never logged on purpose, and anything shaped like one is masked anyway."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "sk-ant-" in record.msg:
            record.msg = KEY_PATTERN.sub("sk-ant-***", record.msg)
        if record.args:
            record.args = (
                tuple(KEY_PATTERN.sub("sk-ant-***", a) if isinstance(a, str) else a for a in record.args)
                if isinstance(record.args, tuple)
                else record.args
            )
        return True


logger = Logger(service="pump-anthropic", stream=sys.stderr)
logger.addFilter(RedactKeysFilter())
metrics = Metrics(namespace="PumpAnthropic", service="pump-anthropic")
copy_config_to_registered_loggers(source_logger=logger, include={"pump_anthropic"})
