"""The Access button, a live session's controls and the accounts page's cards, as HTML
made in Python.

The accounts page lists every account granted to a person, hundreds of them: through
Django's template engine (an include per card, a few dozen variable lookups each) a page
of 500 took 300 ms to render, six times bench/accounts.py's target; formatted here it
takes a few. The account page and the sessions table use the same functions (through
sessions_app/templatetags/console.py), so the markup has one source.

Every value from the database goes through `esc` (HTML-escaped, quotes included).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING

from django.urls import reverse

from accounts.models import PamAccount
from accounts.selectors import AccountListing

from .presenters import Live

if TYPE_CHECKING:
    from .home import Card


def esc(value: object) -> str:
    return escape(str(value), quote=True)


def _plural(n: int) -> str:
    return "" if n == 1 else "s"


@dataclass(frozen=True, slots=True)
class Urls:
    """The URLs a card links to, reversed once per page (with the script prefix) and
    formatted per card: a reverse() costs more than the rest of a card."""

    detail: str
    access: str
    favourite: str
    request_detail: str
    request_new: str

    @classmethod
    def make(cls) -> Urls:
        def pattern(name: str) -> str:
            return reverse(name, args=[0]).replace("/0/", "/{}/")

        return cls(
            detail=pattern("account-detail"),
            access=pattern("account-access"),
            favourite=pattern("account-favourite"),
            request_detail=pattern("request-detail"),
            request_new=reverse("request-new"),
        )


def csrf_input(token: str) -> str:
    return f'<input type="hidden" name="csrfmiddlewaretoken" value="{esc(token)}">'


def access_button(
    account: PamAccount | AccountListing,
    *,
    fresh: bool,
    csrf: str,
    urls: Urls,
    role_name: str | None = None,
) -> str:
    """The Access button of `account` (window_state attached, attach_window_states):
    for an eligible grant outside a window, Request access (or the ask in flight); for
    require_mfa without a fresh second factor, the way to verify first; else the form
    that POSTs Access into a new tab, with its region and service pickers where the
    account offers a choice. `role_name`: the Target Role's name, if already parsed."""
    state = getattr(account, "window_state", None)
    name = esc(account.name)
    if state is not None and state.kind != "window":
        if state.kind == "pending":
            request = state.request
            required = request.approvals_required
            inner = (
                '<p class="state"><span class="badge pending">Request pending</span> '
                f"{state.approvals} of {required} approval{_plural(required)} · "
                f'<a href="{urls.request_detail.format(request.pk)}">request #{request.pk}</a></p>'
            )
        elif state.kind == "scheduled":
            request = state.request
            inner = (
                f'<p class="state"><span class="badge approved">Approved</span> window opens '
                f'{esc(state.starts)} · <a href="{urls.request_detail.format(request.pk)}">'
                f"request #{request.pk}</a></p>"
            )
        else:
            ask = f"{urls.request_new}?account={account.pk}"
            inner = (
                f'<a class="button primary request-access" href="{ask}" aria-label="Request '
                f'access to {name} (needs approval)">Request access</a>'
            )
            if account.break_glass:
                inner += (
                    f' <a class="button break-glass" href="{ask}&amp;break_glass=1" '
                    f'aria-label="Break-glass: open a window on {name} now, with a second '
                    'factor">Break-glass</a>'
                )
        return f'<div class="request-state">{inner}</div>'
    role = esc(role_name or account.role.name)
    duration = esc(account.duration_text)
    window = ""
    if state is not None:
        window = (
            f'<p class="window-left">window ends <time datetime="{esc(state.ends_iso)}">'
            f"{esc(state.ends)}</time> ({state.minutes_left} min left)</p>"
        )
    if account.require_mfa and not fresh:
        return (
            f'<a class="button primary access" href="{urls.detail.format(account.pk)}" '
            f'aria-label="Verify a second factor, then Access the AWS Console as {role}">'
            f'Verify to Access <span class="role">{role}</span> · {duration}</a>{window}'
        )
    return (
        f'<form method="post" action="{urls.access.format(account.pk)}" target="_blank" '
        f'class="access">{csrf_input(csrf)}{_console_choice(account)}'
        f'<button type="submit" class="primary" aria-label="Access the AWS Console as {role} '
        f'for {duration} (opens in a new tab)">Access <span class="role">{role}</span> · '
        f"{duration}</button>{window}</form>"
    )


def _console_choice(account: PamAccount | AccountListing) -> str:
    """Where the console opens: pickers only where the account offers more than one
    region or service; else nothing is sent and Access applies the account's default."""
    regions, services = account.region_options, account.service_options
    if len(regions) <= 1 and len(services) <= 1:
        return ""
    parts = []
    if len(regions) > 1:
        chosen = account.console_region
        options = "".join(
            f'<option value="{esc(r)}"{" selected" if r == chosen else ""}>{esc(r)}</option>'
            for r in regions
        )
        parts.append(
            f'<label>Region <select name="region" id="region-{account.pk}">{options}</select>'
            "</label>"
        )
    if len(services) > 1:
        chosen = account.console_service
        options = "".join(
            f'<option value="{esc(slug)}"{" selected" if slug == chosen else ""}>'
            f"{esc(label)}</option>"
            for slug, label in services
        )
        parts.append(
            f'<label>Service <select name="service" id="service-{account.pk}">{options}'
            "</select></label>"
        )
    return f'<div class="console-choice">{"".join(parts)}</div>'


def live_session(live: Live, *, csrf: str, fresh: bool) -> str:
    """A running session's time left (counted down by static/pam/countdown.js, which
    says "ended" at zero and shows Renew in the last 15 minutes), Open again, and Renew
    or why it is not offered. `fresh`: a second factor passed lately (else Renew of a
    require_mfa account is the way to verify first, as its Access button is)."""
    parts = [
        f'<span class="countdown" data-seconds-left="{live.seconds_left}" role="timer">'
        f"{esc(live.time_left)}</span>"
    ]
    if live.open_url:
        parts.append(
            f'<a class="open-again" href="{esc(live.open_url)}" target="_blank" '
            'rel="noopener noreferrer" aria-label="Open again: the AWS Console of this '
            'session, in a new tab (no new sign-in)">Open again</a>'
        )
    hidden = "" if live.renew_now else " hidden"
    if live.renew_url and live.verify_url and not fresh:
        parts.append(
            f'<a class="renew" href="{esc(live.verify_url)}" data-renew-at="{live.renew_at}"'
            f'{hidden} aria-label="Verify a second factor, then Renew">Verify to Renew</a>'
        )
    elif live.renew_url:
        where = " · ".join(v for v in (live.region, live.service) if v)
        fields = "".join(
            f'<input type="hidden" name="{name}" value="{esc(value)}">'
            for name, value in (("region", live.region), ("service", live.service))
            if value
        )
        parts.append(
            f'<form method="post" action="{esc(live.renew_url)}" target="_blank" '
            f'class="renew" data-renew-at="{live.renew_at}"{hidden}>{csrf_input(csrf)}{fields}'
            '<button type="submit" class="link renew-button" aria-label="Renew: a new '
            f'session of the same role{f" ({esc(where)})" if where else ""}, in a new tab">'
            "Renew</button></form>"
        )
    elif live.renew_refused:
        parts.append(f'<span class="renew-refused">{esc(live.renew_refused)}</span>')
    return f'<span class="live" data-live>{" ".join(parts)}</span>'


def account_cards(
    cards: Iterable[Card], *, where: bool, fresh: bool, csrf: str, back: str, urls: Urls
) -> str:
    """The cards of one list of the accounts page. `where`: say each account's project
    and resource (the lists before the grouped one); `back`: the page's own address, where
    a star's form (without the page's script) comes back to."""
    token = csrf_input(csrf)
    back_input = f'<input type="hidden" name="next" value="{esc(back)}">'
    out = []
    for card in cards:
        account = card.account
        pk = account.pk
        name = esc(account.name)
        about = [f'<a class="name" href="{urls.detail.format(pk)}">{name}</a>']
        if where:
            resource = account.resource
            about.append(
                f' <span class="muted where">{esc(resource.project.name)} / '
                f"{esc(resource.name)}</span>"
            )
        if account.description:
            about.append(f'<p class="desc">{esc(account.description)}</p>')
        about.append(f'<p class="arn"><code>{esc(account.target_role_arn)}</code></p>')
        if card.live is not None:
            about.append(
                '<p class="live-here">Live session: '
                f"{live_session(card.live, csrf=csrf, fresh=fresh)}</p>"
            )
        # The star: a box (unticked sends "off", ticked "on" after it: the last value
        # wins), saved at once by static/pam/accounts.js, or by Save without it.
        star = (
            f'<form method="post" action="{urls.favourite.format(pk)}" class="favourite">'
            f'{token}{back_input}<input type="hidden" name="state" value="off">'
            f'<input type="checkbox" class="star" name="state" value="on" id="favourite-{pk}"'
            f'{" checked" if card.favourite else ""}><label for="favourite-{pk}" '
            f'title="Favourite: listed first"><span class="visually-hidden">Favourite {name}'
            '</span></label><noscript><button type="submit" class="link">Save</button>'
            "</noscript></form>"
        )
        button = access_button(account, fresh=fresh, csrf=csrf, urls=urls, role_name=card.role_name)
        out.append(
            f'<li class="account" id="account-{pk}" data-filter="{esc(card.haystack)}"'
            f'{"" if card.shown else " hidden"}><div class="about">{"".join(about)}</div>'
            f'<div class="actions">{star}{button}</div></li>\n'
        )
    return "".join(out)
