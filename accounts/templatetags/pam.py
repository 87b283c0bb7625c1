from __future__ import annotations

from django import template

from accounts.durations import format_duration

register = template.Library()


@register.filter
def human_seconds(value: float | None) -> str:
    """Seconds as `12m 30s` (rounded down to the second); empty for None."""
    if value is None:
        return ""
    seconds = int(value)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h"] if hours else []
    if minutes or hours:
        parts.append(f"{minutes}m")
    parts.append(f"{secs}s")
    return " ".join(parts)


@register.filter
def duration(seconds: int) -> str:
    return format_duration(seconds)
