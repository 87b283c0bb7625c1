"""One person per email: the AWS RoleSessionName, and so CloudTrail, names a user by it.

Emails are unique case-insensitively; an empty email collides with nothing (the session
name then comes from the username). The database enforces it (migration 0001's unique
index on UPPER(email)); the admin says so on the field before the database has to.
"""

from __future__ import annotations

from collections import defaultdict

from django.db.models import QuerySet
from django.db.models.functions import Upper

INDEX_NAME = "identity_user_email_ci_unique"


def email_taken_by(email: str, users: QuerySet, *, exclude_pk: int | None = None) -> str | None:
    """The username of another user with this email (any case), or None."""
    if not email:
        return None
    clash = users.filter(email__iexact=email)
    if exclude_pk is not None:
        clash = clash.exclude(pk=exclude_pk)
    return clash.values_list("username", flat=True).first()


def duplicate_emails(users: QuerySet) -> dict[str, list[str]]:
    """Emails shared by several users (any case), each with `username <email>` of them."""
    # Folded by the database's UPPER(), as the unique index folds them (on SQLite only
    # ASCII letters fold), so this refuses exactly what the index would.
    seen: dict[str, list[str]] = defaultdict(list)
    rows = users.exclude(email="").annotate(folded=Upper("email"))
    for username, email, folded in rows.values_list("username", "email", "folded"):
        seen[folded].append(f"{username} <{email}>")
    return {email: sorted(names) for email, names in sorted(seen.items()) if len(names) > 1}


def duplicates_message(duplicates: dict[str, list[str]]) -> str:
    listed = "; ".join(" and ".join(users) for users in duplicates.values())
    return (
        "Emails must be unique (each names one person in CloudTrail), but these users "
        f"share one: {listed}. Give each of those users their own email (or clear "
        "it) in the admin, then run migrate again. Nothing was changed."
    )


def clash_message(email: str, users: QuerySet, *, exclude_pk: int | None = None) -> str | None:
    """The field error for an email another user already has (any case), or None."""
    other = email_taken_by(email, users, exclude_pk=exclude_pk)
    if other is None:
        return None
    return f'The email "{email}" already belongs to user "{other}": each email names one person.'
