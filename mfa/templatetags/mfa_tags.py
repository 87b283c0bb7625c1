from __future__ import annotations

from django import template

from .. import stepup

register = template.Library()


@register.simple_tag(takes_context=True)
def step_up_fresh(context: template.Context) -> bool:
    """Whether this user passed a second factor in the last 5 minutes (no query)."""
    request = context.get("request")
    return request is not None and stepup.is_fresh(request)
