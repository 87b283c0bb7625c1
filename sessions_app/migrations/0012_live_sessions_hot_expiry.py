"""An expiry touches no index of the Console Session table (a HOT update), so the sweep
records 100,000 missed expiries in about a second instead of 15 (docs/benchmarks.md).

- `status` leaves every index: the three that held it (the sweep's partial index on
  active rows, (status, created_at), (account, status, created_at)) give way to partial
  indexes on columns the expiry leaves alone (failed, pending, revoked rows), and the
  sweep finds due expiries in the new LiveSession table, filled here with the sessions
  active now.
- fillfactor 50 on PostgreSQL: a HOT update needs room on the row's own page, and the
  sweep after an outage rewrites every row of the newest pages at once, so each page
  keeps room for a second version of each of its rows. It applies to pages written from
  now on (the rows a sweep will rewrite); older pages keep their layout until a VACUUM
  FULL. SQLite has no fillfactor.
  https://www.postgresql.org/docs/15/sql-createtable.html#RELOPTION-FILLFACTOR
"""

import django.db.models.deletion
from django.db import migrations, models

TABLE = "sessions_app_consolesession"
FILLFACTOR = 50


def fill_live_sessions(apps, schema_editor):
    schema_editor.execute(
        "INSERT INTO sessions_app_livesession (session_id, expires_at) "
        f"SELECT id, expires_at FROM {TABLE} WHERE status = 'active'"
    )


def set_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'ALTER TABLE "{TABLE}" SET (fillfactor = {FILLFACTOR})')


def reset_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'ALTER TABLE "{TABLE}" RESET (fillfactor)')


class Migration(migrations.Migration):
    dependencies = [("sessions_app", "0011_session_kind")]

    operations = [
        migrations.CreateModel(
            name="LiveSession",
            fields=[
                (
                    "session",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        primary_key=True,
                        related_name="live",
                        serialize=False,
                        to="sessions_app.consolesession",
                    ),
                ),
                ("expires_at", models.DateTimeField(null=True)),
            ],
            options={
                "indexes": [
                    models.Index(fields=["expires_at"], name="live_session_expires_idx")
                ],
            },
        ),
        # Reverse: the rows go with the table.
        migrations.RunPython(fill_live_sessions, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="consolesession",
            index=models.Index(
                condition=models.Q(("failure_step", ""), _negated=True),
                fields=["account", "-created_at"],
                name="session_account_failed_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="consolesession",
            index=models.Index(
                condition=models.Q(("activated_at__isnull", True), ("failure_step", "")),
                fields=["created_at"],
                name="session_pending_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="consolesession",
            index=models.Index(
                condition=models.Q(("revoked_at__isnull", False)),
                fields=["created_at"],
                name="session_revoked_idx",
            ),
        ),
        migrations.RemoveIndex(model_name="consolesession", name="session_status_created_idx"),
        migrations.RemoveIndex(model_name="consolesession", name="session_account_status_idx"),
        migrations.RemoveIndex(model_name="consolesession", name="session_active_expires_idx"),
        migrations.RunPython(set_fillfactor, reset_fillfactor),
    ]
