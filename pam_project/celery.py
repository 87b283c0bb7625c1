"""The Celery app: configured from Django settings (CELERY_* names), tasks autodiscovered."""

import logging.config
import os
from typing import Any

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pam_project.settings")

app = Celery("pam_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def _django_logging(**kwargs: Any) -> None:
    """Workers and beat log through settings.LOGGING, as the web does: its redaction
    filter, request ids and LOG_FORMAT. Without a receiver here, Celery would replace
    the root logger's handlers with its own, which have neither."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
