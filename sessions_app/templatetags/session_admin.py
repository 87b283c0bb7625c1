"""A date drill-down for the session changelist that does not read the history.

Django's date_hierarchy lists the years, months or days that hold rows with SELECT
DISTINCT date_trunc(...) over every matching row: over a million sessions that is a
sequential scan on each page view. This one reads MIN and MAX of created_at (two index
probes) and offers every period between them. With sessions every working day, a
period without any is rare, and opening one shows an empty list, nothing worse.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

from django import template
from django.contrib.admin.views.main import ChangeList
from django.db.models import Max, Min
from django.utils import formats, timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _

register = template.Library()


def _months(first: datetime.date, last: datetime.date) -> Iterator[datetime.date]:
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        yield datetime.date(year, month, 1)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def _days(first: datetime.date, last: datetime.date) -> Iterator[datetime.date]:
    day = first
    while day <= last:
        yield day
        day += datetime.timedelta(days=1)


def _bounds(cl: ChangeList, field: str) -> tuple[datetime.date, datetime.date] | None:
    found = cl.queryset.aggregate(first=Min(field), last=Max(field))
    if not (found["first"] and found["last"]):
        return None
    return timezone.localtime(found["first"]).date(), timezone.localtime(found["last"]).date()


@register.inclusion_tag("admin/date_hierarchy.html")
def session_date_hierarchy(cl: ChangeList) -> dict[str, Any]:
    """The context Django's date_hierarchy tag gives its template, built from a range."""
    field = cl.date_hierarchy
    year_field, month_field, day_field = f"{field}__year", f"{field}__month", f"{field}__day"
    year, month, day = (cl.params.get(name) for name in (year_field, month_field, day_field))

    def link(filters: dict[str, Any]) -> str:
        return cl.get_query_string(filters, [f"{field}__"])

    bounds = _bounds(cl, field)
    if not (year or month or day):
        if bounds is None:
            return {"show": True, "back": None, "choices": []}
        first, last = bounds
        if first.year == last.year:
            year = first.year
            if first.month == last.month:
                month = first.month
    if year and month and day:
        chosen = datetime.date(int(year), int(month), int(day))
        return {
            "show": True,
            "back": {
                "link": link({year_field: year, month_field: month}),
                "title": capfirst(formats.date_format(chosen, "YEAR_MONTH_FORMAT")),
            },
            "choices": [{"title": capfirst(formats.date_format(chosen, "MONTH_DAY_FORMAT"))}],
        }
    if year and month:
        days = _days(*bounds) if bounds else iter(())
        return {
            "show": True,
            "back": {"link": link({year_field: year}), "title": str(year)},
            "choices": [
                {
                    "link": link({year_field: year, month_field: month, day_field: d.day}),
                    "title": capfirst(formats.date_format(d, "MONTH_DAY_FORMAT")),
                }
                for d in days
            ],
        }
    if year:
        months = _months(*bounds) if bounds else iter(())
        return {
            "show": True,
            "back": {"link": link({}), "title": _("All dates")},
            "choices": [
                {
                    "link": link({year_field: year, month_field: m.month}),
                    "title": capfirst(formats.date_format(m, "YEAR_MONTH_FORMAT")),
                }
                for m in months
            ],
        }
    # A month or day without a year (a hand-edited URL) lands here too, rows or not.
    years = range(bounds[0].year, bounds[1].year + 1) if bounds else range(0)
    return {
        "show": True,
        "back": None,
        "choices": [{"link": link({year_field: str(y)}), "title": str(y)} for y in years],
    }
