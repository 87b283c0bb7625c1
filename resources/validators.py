"""Field rules shared by the admin forms, the services and the API."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

from .aws import ArnError, parse_role_arn

NAME_MAX_LENGTH = 64

validate_name = RegexValidator(
    regex=r"\A[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}\Z",
    message=(
        "Use 1 to 64 characters: letters, digits, spaces, '_', '.' or '-', "
        "starting with a letter or digit."
    ),
    code="invalid_name",
)


def validate_role_arn(value: str) -> None:
    try:
        parse_role_arn(value)
    except ArnError as exc:
        raise ValidationError(str(exc), code="invalid_arn") from None
