"""A last line of defence for the logs: credential-bearing parameters are redacted from
every record the app's handlers write, whatever library logged it.

The first lines are elsewhere: the app never logs credentials, and the AWS and HTTP
libraries' loggers are pinned (settings.LOGGING) below the levels at which they log
request URLs and bodies.
"""

from __future__ import annotations

import json
import logging
import re

from pythonjsonlogger.json import JsonFormatter as _JsonFormatterBase

_SECRET_PARAMS = re.compile(
    r"(?P<name>Session|SigninToken|sessionKey|sessionToken|SessionToken|SecretAccessKey"
    r"|X-Amz-Security-Token|aws_secret_access_key|aws_session_token)"
    r"(?P<sep>=|%3D|\"\s*:\s*\"|':\s*'|%22%3A\+?%22)(?P<value>[^&\s'\"<,}]+)",
)


def redact(text: str) -> str:
    return _SECRET_PARAMS.sub(lambda m: f"{m['name']}{m['sep']}[redacted]", text)


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class JsonFormatter(_JsonFormatterBase):
    """One JSON object a line (LOG_FORMAT=json), through the same redaction as the plain
    format: python-json-logger formats a record's exception itself (not from the
    exc_text the filter redacted), and emits `extra=` fields the filter never sees, so
    every string of the finished line is redacted again here."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        # Redacted value by value, not as text: in the encoded line a secret may end in
        # a JSON escape (`TOKEN\"`), and cutting that would break the line.
        return json.dumps(_redact_strings(json.loads(line)), ensure_ascii=False)


def _redact_strings(value: object) -> object:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_strings(v) for v in value]
    return value
