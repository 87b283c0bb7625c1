"""Database helpers shared by the services."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Model


def save_unique(instance: Model, field: str) -> None:
    """Save; a uniqueness race lost to a concurrent save becomes the field's error."""
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError:
        raise ValidationError({field: "That name is already taken here."}) from None
