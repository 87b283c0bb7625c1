from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .presenters import session_rows
from .selectors import sessions_for_user

PAGE_SIZE = 50


@require_GET
@login_required
def session_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(sessions_for_user(request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    rows = session_rows(page.object_list, show_account=True)
    return render(request, "sessions_app/list.html", {"page": page, "rows": rows})
