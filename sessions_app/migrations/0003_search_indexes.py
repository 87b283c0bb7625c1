"""Indexes for the admin's prefix search and the API's case-insensitive filters.

Django's istartswith / iexact compile to UPPER(col) LIKE UPPER('x%') / UPPER(col) =
UPPER('x') on PostgreSQL; only an expression index on UPPER(col) with text_pattern_ops
serves both without scanning the table. SQLite (the embedded default) has no operator
classes, and its tables are small, so it gets none.
"""

from django.db import migrations

COLUMNS = ["user_email", "role_session_name", "access_key_id", "assumed_role_arn"]
TABLE = "sessions_app_consolesession"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in COLUMNS:
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "session_{column}_upper_like" '
            f'ON "{TABLE}" (UPPER("{column}"::text) text_pattern_ops)'
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in COLUMNS:
        schema_editor.execute(f'DROP INDEX IF EXISTS "session_{column}_upper_like"')


class Migration(migrations.Migration):
    dependencies = [("sessions_app", "0002_history_indexes_and_tokens")]
    operations = [migrations.RunPython(create, drop)]
