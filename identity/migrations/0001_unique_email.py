"""Emails unique, case-insensitively (an empty one collides with nothing).

auth.User belongs to Django, so the constraint is a unique index created here. The
migration refuses to run over existing duplicates and says which they are.
"""

from django.core.management.base import CommandError
from django.db import migrations

from identity.emails import INDEX_NAME, duplicate_emails, duplicates_message


def refuse_duplicates(apps, schema_editor):
    User = apps.get_model("auth", "User")
    duplicates = duplicate_emails(User.objects.all())
    if duplicates:
        raise CommandError(duplicates_message(duplicates))


class Migration(migrations.Migration):
    dependencies = [("auth", "0012_alter_user_first_name_max_length")]

    operations = [
        migrations.RunPython(refuse_duplicates, migrations.RunPython.noop),
        # Same statement on PostgreSQL and SQLite: both index expressions and support
        # partial indexes.
        migrations.RunSQL(
            f"CREATE UNIQUE INDEX {INDEX_NAME} ON auth_user (UPPER(email)) WHERE email <> ''",
            f"DROP INDEX {INDEX_NAME}",
        ),
    ]
