"""One id per request, on every log line it causes: in the web process and in the Celery
tasks it enqueues.

The id is the incoming `X-Request-ID` when that is a sane token (a proxy or load
balancer in front may already have one, and its logs then join ours), else a fresh one.
It is echoed on the response, kept in a contextvar for the request's duration, travels
in a Celery message header (`pam_request_id`: an opaque token, never a secret), and is
put back in the contextvar while the task runs. `RequestIdFilter` adds it to every log
record as `request_id` ("-" outside any request or task).
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
TASK_HEADER = "pam_request_id"
# Letters, digits and a few separators, bounded: the id goes into every log line, and a
# client must not be able to inject newlines, JSON or a megabyte into them.
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,128}")

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "pam_request_id", default=None
)


def current() -> str | None:
    return request_id.get()


def sane(value: object) -> str | None:
    """`value` if it is an acceptable id, else None."""
    if isinstance(value, str) and _SANE.fullmatch(value):
        return value
    return None


def new_id() -> str:
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """First in MIDDLEWARE, so that every log line of the request carries the id."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        rid = sane(request.META.get("HTTP_X_REQUEST_ID")) or new_id()
        request.request_id = rid
        token = request_id.set(rid)
        try:
            response = self.get_response(request)
        finally:
            request_id.reset(token)
        response[HEADER] = rid
        return response


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get() or "-"
        return True


# --- Celery: the id rides in a message header, and is restored while the task runs ---


def _on_publish(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    rid = request_id.get()
    if rid and headers is not None:
        headers.setdefault(TASK_HEADER, rid)


_task_tokens: dict[str, contextvars.Token] = {}


def _on_prerun(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    context = getattr(task, "request", None)
    # A worker puts custom message headers on the request as attributes (and in
    # .headers); an eager apply(headers=...) only in .headers.
    rid = sane(getattr(context, TASK_HEADER, None)) or sane(
        (getattr(context, "headers", None) or {}).get(TASK_HEADER)
    )
    if task_id:
        _task_tokens[task_id] = request_id.set(rid)


def _on_postrun(task_id: str | None = None, **kwargs: Any) -> None:
    token = _task_tokens.pop(task_id, None) if task_id else None
    if token is not None:
        try:
            request_id.reset(token)
        except ValueError:  # set in another context (a thread pool): just clear it
            request_id.set(None)


def connect_celery_signals() -> None:
    """Called once per process (operations.apps), in web processes and workers alike.
    dispatch_uid makes a second call harmless."""
    from celery.signals import before_task_publish, task_postrun, task_prerun

    before_task_publish.connect(_on_publish, weak=False, dispatch_uid="pam_request_id_publish")
    task_prerun.connect(_on_prerun, weak=False, dispatch_uid="pam_request_id_prerun")
    task_postrun.connect(_on_postrun, weak=False, dispatch_uid="pam_request_id_postrun")
