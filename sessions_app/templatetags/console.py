"""The Access button, live sessions and account cards in templates: sessions_app/cards.py
makes their HTML (one source for every page that shows them)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import template
from django.utils.safestring import SafeString, mark_safe

from accounts.models import PamAccount
from mfa import stepup

from .. import cards
from ..home import Card
from ..presenters import Live

register = template.Library()


def _page(context: template.Context) -> tuple[bool, str, cards.Urls]:
    """Whether the person passed a second factor lately, the CSRF token and the URLs:
    looked up once per page (kept in the render context), not once per card."""
    key = "_console_page"
    found = context.render_context.get(key)
    if found is None:
        request = context.get("request")
        fresh = request is not None and stepup.is_fresh(request)
        found = (fresh, str(context.get("csrf_token", "")), cards.Urls.make())
        context.render_context[key] = found
    return found


@register.simple_tag(takes_context=True)
def access_button(context: template.Context, account: PamAccount) -> SafeString:
    fresh, csrf, urls = _page(context)
    return mark_safe(cards.access_button(account, fresh=fresh, csrf=csrf, urls=urls))  # noqa: S308 (escaped in cards.py)


@register.simple_tag(takes_context=True)
def live_session(context: template.Context, live: Live) -> SafeString:
    fresh, csrf, _ = _page(context)
    return mark_safe(cards.live_session(live, csrf=csrf, fresh=fresh))  # noqa: S308 (escaped in cards.py)


@register.simple_tag(takes_context=True)
def account_cards(context: template.Context, items: Iterable[Card], **options: Any) -> SafeString:
    fresh, csrf, urls = _page(context)
    request = context.get("request")
    back = request.get_full_path() if request is not None else "/"
    html = cards.account_cards(
        items, where=bool(options.get("where")), fresh=fresh, csrf=csrf, back=back, urls=urls
    )
    return mark_safe(html)  # noqa: S308 (escaped in cards.py)
