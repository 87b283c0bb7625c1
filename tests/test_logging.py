"""The redaction filter on the app's log handler: a second line behind the pinned
library loggers."""

from __future__ import annotations

import io
import logging
import logging.config

from django.conf import settings

from pam_project.logging import RedactSecretsFilter, redact


def test_credential_parameters_are_redacted_in_every_spelling():
    line = (
        "GET /federation?Action=getSigninToken&Session=%7B%22sessionId%22%3A+%22ASIA%22%2C+"
        "%22sessionKey%22%3A+%22wJalrXUtnFEMI%2FK7MDENG%22%7D HTTP/1.1 "
        "login?SigninToken=abcDEF123&Issuer=x {'SecretAccessKey': 'k/ey+1', "
        '"sessionToken": "FQoG+/abc="} X-Amz-Security-Token=IQoJb3JpZ2'
    )
    cleaned = redact(line)
    for secret in ("wJalrXUtnFEMI", "abcDEF123", "k/ey+1", "FQoG+/abc=", "IQoJb3JpZ2"):
        assert secret not in cleaned
    assert "Issuer=x" in cleaned  # what is not a credential stays readable


def test_the_configured_handler_redacts_what_any_library_logs():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecretsFilter())
    logger = logging.getLogger("some.library")
    logger.addHandler(handler)
    try:
        logger.warning(
            "Retrying after error: /federation?Action=getSigninToken&Session=%s",
            "%7B%22sessionKey%22%3A%22TOPSECRET%22%7D",
        )
        try:
            raise ValueError("url=/federation?SigninToken=TOKEN123")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    written = stream.getvalue()
    assert "TOPSECRET" not in written and "TOKEN123" not in written
    assert "Retrying after error" in written and "ValueError" in written


def test_settings_attach_the_filter_and_pin_the_library_loggers():
    assert "redact" in settings.LOGGING["handlers"]["console"]["filters"]
    levels = {name: conf["level"] for name, conf in settings.LOGGING["loggers"].items()}
    assert levels["urllib3"] == "ERROR"  # retries are logged at WARNING with the URL
    assert levels["botocore"] == "WARNING"  # bodies and headers are logged at DEBUG


def test_json_lines_are_redacted_too_exception_and_extra_fields_included():
    """python-json-logger formats exceptions itself (not from the filtered exc_text) and
    writes `extra=` fields no filter sees: the JSON formatter redacts its output again."""
    import json

    from .log_helpers import configured_handler

    stream = io.StringIO()
    handler = configured_handler(stream, "json")
    logger = logging.getLogger("some.library.json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(
            "Retrying %s", "/federation?Action=getSigninToken&Session=%7B%22sessionKey%22TOPSECRET"
        )
        try:
            raise ValueError("url=/federation?SigninToken=TOKEN123")
        except ValueError:
            logger.exception("failed", extra={"url": "/x?SigninToken=EXTRA456"})
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["message"][:8] for line in lines] == ["Retrying", "failed"]
    assert "ValueError" in lines[1]["exc_info"]
    written = stream.getvalue()
    for secret in ("TOPSECRET", "TOKEN123", "EXTRA456"):
        assert secret not in written
