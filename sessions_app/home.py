"""The accounts page (`/`): every account granted to the person, their favourites and
recently used accounts first, each card with its Access button and, where one runs,
its live session's time left, Open again and Renew.

Built for hundreds of accounts (bench/accounts.py): a fixed number of queries whatever
the count (the accounts, the favourites, the last attempts, the live sessions, and the
open requests where a grant is eligible), and the filter's text made once per card here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import groupby

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.utils import timezone

from access_requests.presenters import attach_window_states
from accounts.selectors import AccountListing, ProjectListing, ResourceListing, granted_listing
from pam_project.durations import MAX_SECONDS

from .models import ConsoleSession, Status
from .presenters import Live, live_of

# "Recently used": the accounts of the person's last few Access attempts.
RECENT_ATTEMPTS = 20
RECENT_ACCOUNTS = 5


@dataclass(slots=True)
class Card:
    account: AccountListing
    role_name: str
    favourite: bool
    # Lower-case "project resource account role": what the filter matches terms against.
    haystack: str
    shown: bool = True  # matches the filter the page was asked with
    live: Live | None = None


# Counts and flags are worked out once, when the page is built: the template reads them
# several times, and a property would walk every card each time.


@dataclass
class ResourceGroup:
    resource: ResourceListing
    cards: list[Card]
    shown: bool = False  # any of its cards matches the filter


@dataclass
class ProjectGroup:
    project: ProjectListing
    resources: list[ResourceGroup]
    shown: bool = False


@dataclass
class HomePage:
    query: str
    total: int
    favourites: list[Card] = field(default_factory=list)
    recent: list[Card] = field(default_factory=list)
    projects: list[ProjectGroup] = field(default_factory=list)
    shown: int = 0  # cards matching the filter
    any_eligible: bool = False  # some grant needs an approved window

    @property
    def cards(self) -> list[Card]:
        rest = [c for p in self.projects for r in p.resources for c in r.cards]
        return self.favourites + self.recent + rest


def matches(haystack: str, query: str) -> bool:
    """Every whitespace-separated term of `query` is in `haystack`, case-insensitively
    (static/pam/accounts.js applies the same rule as the person types)."""
    return all(term in haystack for term in query.lower().split())


def recent_and_live(
    user: AbstractBaseUser, now: datetime
) -> tuple[list[int], dict[int, ConsoleSession]]:
    """(the accounts of `user`'s last RECENT_ATTEMPTS Access attempts, most recent first,
    at most RECENT_ACCOUNTS; `user`'s newest running session per account), in one query
    (two index scans on (user, created_at), in a UNION ALL: a round trip to a busy
    database costs more than either scan).

    A session lasts at most MAX_SECONDS from its activation, which follows its creation
    by at most the pending timeout: the live ones were all created in the last hour and
    a quarter, so that scan stays short whatever the history."""
    mine = ConsoleSession.objects.filter(user=user)
    last = mine.order_by("-created_at", "-id")[:RECENT_ATTEMPTS]
    running = mine.filter(
        status=Status.ACTIVE,
        expires_at__gt=now,
        created_at__gt=now - timedelta(seconds=MAX_SECONDS + 15 * 60),
    ).order_by()
    # Newest first, once each (a running session among the last attempts comes twice).
    # SQLite (the embedded default) takes no LIMIT inside a UNION: two queries there.
    if connection.features.supports_slicing_ordering_in_compound:
        both = list(last.union(running, all=True))
    else:
        both = [*last, *running]
    unique = {s.pk: s for s in both}
    sessions = sorted(unique.values(), key=lambda s: (s.created_at, s.pk), reverse=True)
    recent = dict.fromkeys(s.account_id for s in sessions[:RECENT_ATTEMPTS])
    live: dict[int, ConsoleSession] = {}
    for s in sessions:  # newest first: the first running one of each account wins
        if s.status == Status.ACTIVE and s.expires_at and s.expires_at > now:
            live.setdefault(s.account_id, s)
    return list(recent)[:RECENT_ACCOUNTS], live


def home_page(user: AbstractBaseUser, query: str = "") -> HomePage:
    now = timezone.now()
    accounts = granted_listing(user)
    page = HomePage(query=query.strip(), total=len(accounts))
    if not accounts:
        return page
    # Eligible grants: Request access, the pending ask, or the open window's end, from
    # one read of the user's open requests for the whole page.
    attach_window_states(user, accounts, now)
    recent, live = recent_and_live(user, now)
    cards: dict[int, Card] = {}
    for account in accounts:
        resource = account.resource
        role_name = account.role.name
        haystack = " ".join((resource.project.name, resource.name, account.name, role_name)).lower()
        session = live.get(account.pk)
        cards[account.pk] = Card(
            account=account,
            role_name=role_name,
            favourite=account.favourite,
            haystack=haystack,
            shown=matches(haystack, page.query),
            live=live_of(session, account, now) if session else None,
        )
    page.favourites = [c for c in cards.values() if c.favourite]
    page.recent = [cards[pk] for pk in recent if pk in cards and not cards[pk].favourite]
    first = {c.account.pk for c in page.favourites + page.recent}
    rest = [c for c in cards.values() if c.account.pk not in first]
    for project, items in groupby(rest, lambda c: c.account.resource.project):
        resources = []
        for resource, group in groupby(items, lambda c: c.account.resource):
            listed = list(group)
            resources.append(ResourceGroup(resource, listed, any(c.shown for c in listed)))
        page.projects.append(ProjectGroup(project, resources, any(r.shown for r in resources)))
    page.shown = sum(c.shown for c in cards.values())
    page.any_eligible = any(c.account.window_state for c in cards.values())
    return page
