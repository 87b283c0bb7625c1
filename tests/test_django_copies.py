"""Where the session admin rebuilds a piece of Django for speed, it must still give what
Django gives: these hold each copy to Django's own output, so a Django upgrade that
changes the original fails here instead of drifting silently."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib import admin
from django.contrib.admin.templatetags import admin_list
from django.test import RequestFactory
from django.test.html import parse_html

from sessions_app.models import ConsoleSession
from sessions_app.templatetags.session_admin import session_date_hierarchy

from .factories import AccountFactory, ConsoleSessionFactory

# Every day between the first and the last row of each month, and every month between
# the first and last of each year, holds a row: there Django's drill-down (which lists
# the periods that hold rows) and ours (every period between MIN and MAX) must agree.
DAYS = [(2025, 12, 30), (2025, 12, 31), (2026, 1, 1), (2026, 1, 2), (2026, 2, 1)]


@pytest.fixture
def model_admin() -> admin.ModelAdmin:
    return admin.site._registry[ConsoleSession]


@pytest.fixture
def sessions(db):
    account = AccountFactory()
    return [
        ConsoleSessionFactory(account=account, created_at=datetime(y, m, d, 12, tzinfo=UTC))
        for y, m, d in DAYS
    ]


def changelist(model_admin, alice, **params):
    request = RequestFactory().get("/admin/sessions_app/consolesession/", params)
    request.user = alice
    return model_admin.get_changelist_instance(request)


def test_the_action_checkbox_is_djangos_markup(model_admin, sessions):
    for session in sessions:
        ours = model_admin.action_checkbox(session)
        djangos = admin.ModelAdmin.action_checkbox(model_admin, session)
        assert parse_html(ours) == parse_html(djangos)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"created_at__year": "2025"},
        {"created_at__year": "2026"},
        {"created_at__year": "2025", "created_at__month": "12"},
        {"created_at__year": "2026", "created_at__month": "1"},
        {"created_at__year": "2026", "created_at__month": "1", "created_at__day": "2"},
    ],
)
def test_the_date_drill_down_is_djangos_where_every_period_holds_rows(
    model_admin, sessions, alice, params
):
    cl = changelist(model_admin, alice, **params)
    assert session_date_hierarchy(cl) == admin_list.date_hierarchy(cl)


def test_a_single_month_of_rows_opens_on_its_days_as_django_does(model_admin, db, alice):
    account = AccountFactory()
    for day in (3, 4, 5):
        ConsoleSessionFactory(account=account, created_at=datetime(2026, 3, day, 12, tzinfo=UTC))
    cl = changelist(model_admin, alice)
    ours = session_date_hierarchy(cl)
    assert ours == admin_list.date_hierarchy(cl)
    assert [c["title"] for c in ours["choices"]] == ["March 3", "March 4", "March 5"]
