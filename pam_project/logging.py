"""A last line of defence for the logs: credential-bearing parameters are redacted from
every record the app's handlers write, whatever library logged it.

The first lines are elsewhere: the app never logs credentials, and the AWS and HTTP
libraries' loggers are pinned (settings.LOGGING) below the levels at which they log
request URLs and bodies.
"""

from __future__ import annotations

import logging
import re

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
