"""Who is acting and through which entry point (the channel: admin, api, web, cli, idp), for
the audit log.

Both are context variables, so a change recorded deep inside a signal receiver (a group
membership set by Django's own admin, a flag changed by `manage.py shell`) still names
its actor and channel:

- requests: AuditViaMiddleware sets the channel from the path, and the actor to the
  request's user *as it is when an event is written*: DRF authenticates API tokens in
  the view, after every middleware, and sets the user on the Django request then;
- management commands (manage.py, `call_command`, the demo seed's `shell -c`): the
  channel `cli` (AuditConfig.ready() wraps BaseCommand.execute), acting as nobody;
- the IdP's sign-in sync (identity/sso.py): `idp`, acting as nobody (the IdP says so,
  not the browser that happens to be signed in);
- anything else (a Celery task, a bare script): no channel, no actor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest, HttpResponse
from django.utils.functional import LazyObject

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    ActorSource = Callable[[], AbstractBaseUser | None]

current_via: ContextVar[str] = ContextVar("audit_via", default="")
# A callable answering the acting user when an event is written (None: nobody, "system").
current_actor: ContextVar[ActorSource | None] = ContextVar("audit_actor", default=None)
# The last event this context wrote, while its transaction is open (audit/services.py
# `last_written`): what a following change of the same row may be folded into. Cleared
# when the transaction commits and at each request's and command's edges, so a test's
# requests (one transaction for the whole test) fold no more than production's do.
last_event: ContextVar[Any] = ContextVar("audit_last_event", default=None)


def acting_user() -> AbstractBaseUser | None:
    """The signed-in user this change is made by, or None (a command, the IdP, a task)."""
    source = current_actor.get()
    user = source() if source is not None else None
    if user is None or not getattr(user, "is_authenticated", False) or not user.pk:
        return None
    if isinstance(user, LazyObject):  # request.user: the user inside
        user = user._wrapped
    return user


_KEEP: Any = object()


@contextmanager
def audit_context(*, via: str | None = None, actor: Any = _KEEP) -> Iterator[None]:
    """Record the changes made inside under this channel and actor (a user, or None for
    nobody); either left out keeps the surrounding one."""
    via_token = current_via.set(via) if via is not None else None
    actor_token = None
    if actor is not _KEEP:
        actor_token = current_actor.set(lambda: actor)
    last_event.set(None)
    try:
        yield
    finally:
        last_event.set(None)
        if actor_token is not None:
            current_actor.reset(actor_token)
        if via_token is not None:
            current_via.reset(via_token)


def _request_user(request: HttpRequest) -> Callable[[], Any]:
    return lambda: getattr(request, "user", None)


class AuditViaMiddleware:
    """The channel of a request, and its user as the actor. Must come after
    AuthenticationMiddleware (it reads request.user only when an event is written)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        via = (
            "admin" if path.startswith("/admin/") else "api" if path.startswith("/api/") else "web"
        )
        via_token = current_via.set(via)
        actor_token = current_actor.set(_request_user(request))
        last_event.set(None)
        try:
            return self.get_response(request)
        finally:
            last_event.set(None)
            current_actor.reset(actor_token)
            current_via.reset(via_token)
