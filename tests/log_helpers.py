"""The app's console log handler as settings.LOGGING builds it, writing to a buffer."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.utils.module_loading import import_string


def _build(spec: dict) -> object:
    spec = dict(spec)
    return import_string(spec.pop("()"))(**spec)


def configured_handler(stream: io.StringIO, formatter: str = "json") -> logging.Handler:
    """settings.LOGGING's console handler (its filters, in order), with `formatter`."""
    handler = logging.StreamHandler(stream)
    spec = settings.LOGGING["formatters"][formatter]
    handler.setFormatter(_build(spec) if "()" in spec else logging.Formatter(spec["format"]))
    for name in settings.LOGGING["handlers"]["console"]["filters"]:
        handler.addFilter(_build(settings.LOGGING["filters"][name]))
    return handler


@contextmanager
def json_logs(level: int = logging.DEBUG) -> Iterator[io.StringIO]:
    """Everything logged meanwhile, as LOG_FORMAT=json writes it."""
    stream = io.StringIO()
    handler = configured_handler(stream)
    handler.setLevel(level)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(min(level, old_level))
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
