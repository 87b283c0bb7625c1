"""The lockout page's "when": django-axes gives the template its cool-off but no end time."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template

register = template.Library()


@register.filter
def lock_ends(attempt_time: datetime | None, cool_off: timedelta | None) -> datetime | None:
    """When a lock that this attempt ran into lifts: axes counts failures for the cool-off
    after the last one, and (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT, its default)
    an attempt while locked counts too, so this attempt starts the cool-off again. Rounded
    up to the minute, so that "after HH:MM" is never still too early."""
    if not isinstance(attempt_time, datetime) or not isinstance(cool_off, timedelta):
        return None
    end = attempt_time + cool_off
    if end.second or end.microsecond:
        end = end.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return end
