"""Session durations: human text (`15m`, `1h`, `900s`, `1h0m`) at the edges, seconds inside."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

# AWS caps sessions obtained by role chaining at 1 hour, whatever the role's own
# maximum; AssumeRole's minimum DurationSeconds is 900.
MIN_SECONDS = 900
MAX_SECONDS = 3600

_DURATION = re.compile(r"(?:(?P<h>\d{1,4})h)?(?:(?P<m>\d{1,6})m)?(?:(?P<s>\d{1,7})s)?")


def parse_duration(text: str) -> int:
    """`30m` -> 1800. Raises ValidationError with a message for the person who typed it."""
    value = (text or "").strip().lower()
    if not value:
        raise ValidationError("Enter a duration such as 15m, 30m or 1h.", code="required")
    match = _DURATION.fullmatch(value)
    if match is None or not any(match.groupdict().values()):
        if value.isdigit():
            raise ValidationError(
                f'"{text}" has no unit: write {value}s for seconds or use m/h (e.g. 30m).',
                code="invalid_duration",
            )
        raise ValidationError(
            f'"{text}" is not a duration: use hours, minutes and seconds like 15m, 1h, '
            "900s or 1h0m.",
            code="invalid_duration",
        )
    seconds = int(match["h"] or 0) * 3600 + int(match["m"] or 0) * 60 + int(match["s"] or 0)
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise ValidationError(
            f"{format_duration(seconds)} is out of range: a session lasts from 15m to 1h "
            "(AWS caps role-chained sessions at 1 hour).",
            code="duration_out_of_range",
        )
    return seconds


def format_duration(seconds: int) -> str:
    """1800 -> `30m`; 3600 -> `1h`; 930 -> `15m30s`."""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    text += f"{secs}s" if secs or not text else ""
    return text
