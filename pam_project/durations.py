"""Durations: human text at the edges (`15m`, `1h`, `900s`, `1h0m`, `7d`), integer seconds
inside. One grammar for every place a person types one (an account's session duration,
the `sessions` command's `--since 24h`), and the two ways the pages write one.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

# AWS caps sessions obtained by role chaining at 1 hour, whatever the role's own
# maximum; AssumeRole's minimum DurationSeconds is 900.
# https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_terms-and-concepts.html#iam-term-role-chaining
MIN_SECONDS = 900
MAX_SECONDS = 3600
# A just-in-time window (SPEC "Just-in-time access"): an account's max_window is at most
# 12 h; break-glass opens at most 1 h; a request starts at most 7 days ahead.
MAX_WINDOW_SECONDS = 12 * 3600
BREAK_GLASS_MAX_SECONDS = 3600
MAX_START_AHEAD_SECONDS = 7 * 86400

UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
UNIT_NAMES = {"w": "week", "d": "day", "h": "hour", "m": "minute", "s": "second"}
_DURATION = re.compile(
    r"(?:(?P<w>\d{1,4})w)?(?:(?P<d>\d{1,5})d)?(?:(?P<h>\d{1,6})h)?"
    r"(?:(?P<m>\d{1,7})m)?(?:(?P<s>\d{1,9})s)?"
)


def parse_seconds(text: str) -> int:
    """`30m` -> 1800, `1h0m` -> 3600, `7d` -> 604800, with no range.

    Raises ValidationError with a message for the person who typed it.
    """
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
    return sum(int(n) * UNIT_SECONDS[unit] for unit, n in match.groupdict().items() if n)


def parse_duration(text: str) -> int:
    """A console session's duration: parse_seconds, within 15m..1h."""
    seconds = parse_seconds(text)
    check_session_duration(seconds)
    return seconds


def parse_window(text: str, *, maximum: int) -> int:
    """A window's length: parse_seconds, within 15m..`maximum` (an account's max_window,
    or 1h for break-glass)."""
    seconds = parse_seconds(text)
    check_window(seconds, maximum=maximum)
    return seconds


def check_window(seconds: int, *, maximum: int = MAX_WINDOW_SECONDS) -> None:
    if seconds < MIN_SECONDS:
        raise ValidationError(
            f"{format_duration(seconds)} is too short: a window lasts at least 15m.",
            code="window_too_short",
        )
    if seconds > maximum:
        raise ValidationError(
            f"{format_duration(seconds)} is too long: at most {format_duration(maximum)} here.",
            code="window_too_long",
        )


def check_session_duration(seconds: int) -> None:
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise ValidationError(
            f"{format_duration(seconds)} is out of range: a session lasts from 15m to 1h "
            "(AWS caps role-chained sessions at 1 hour).",
            code="duration_out_of_range",
        )


def format_duration(seconds: int) -> str:
    """A configured duration, in the grammar above: 1800 -> `30m`; 3600 -> `1h`;
    930 -> `15m30s`. parse_seconds reads it back."""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    text += f"{secs}s" if secs or not text else ""
    return text


def format_countdown(seconds: float | None) -> str:
    """Time left on a running session, to the second: `12m 30s`, `1h 0m 5s`, `0s`.

    Always shows the seconds (a countdown ticks), so it is not the grammar's form.
    Empty for None.
    """
    if seconds is None:
        return ""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h"] if hours else []
    if minutes or hours:
        parts.append(f"{minutes}m")
    parts.append(f"{secs}s")
    return " ".join(parts)


def per(seconds: int) -> str:
    """A rate's window in words: 60 -> `minute`, 3600 -> `hour`, 90 -> `90 seconds`."""
    for unit, length in UNIT_SECONDS.items():
        if seconds == length:
            return UNIT_NAMES[unit]
    return f"{seconds} seconds"
