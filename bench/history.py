"""Console Session history at scale, on PostgreSQL.

Loads ROWS console sessions (default 1,000,000) across 50 accounts and 2,000 users over
90 days into a database of its own, then times, as medians of --runs runs in this
process (Django's test client: server time, no network):

- the admin session changelist, unfiltered and filtered by account and status (failed;
  the rare active and revoked; the common expired, whose capped count reads rows);
- an API list page with a filter (failed, active, revoked on one account), and with
  active_at=T;
- a user's /sessions/ page;
- the admin CSV export of every row (in a child process, for its peak RSS);
- the expiry sweep over 100,000 due sessions (median of 3).

With --keep, the statistics are those the last run's sweeps left (taken while 100,000
sessions were active): the plans after an outage, before autovacuum analyzes again.

    .venv/bin/python bench/history.py            # load (about a minute), then measure
    .venv/bin/python bench/history.py --keep     # reuse the loaded database next time

Prints `name: value unit (target ...)` lines, then EXPLAIN for the main queries (lines
starting with #). PAM_BENCH_ADMIN_DB names the server (default the local PostgreSQL).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import benchdb  # noqa: E402

USERS, ACCOUNTS, DAYS = 2000, 50, 90
DUE = 100_000


def configure(database: str) -> None:
    benchdb.configure(database, "history")


admin_sql = benchdb.admin_sql


# --- loading ---------------------------------------------------------------------

SESSIONS_SQL = """
INSERT INTO sessions_app_consolesession (
    user_id, user_email, account_id, target_role_arn, resource_role_arn,
    role_session_name, duration_seconds, status, failure_step, error_code,
    error_message, client_ip, user_agent, assumed_role_arn, access_key_id,
    assumed_role_id, revoked_by_name, revoke_reason, revocation_error, region, service,
    created_at, activated_at, expires_at, revoked_at, ended_at)
SELECT u.id, u.email, a.id, a.target_role_arn, %(resource_arn)s,
       u.email, a.duration_seconds,
       CASE WHEN s.failed THEN 'failed'
            WHEN s.revoked THEN 'revoked'
            WHEN s.created + make_interval(secs => a.duration_seconds) > now() THEN 'active'
            ELSE 'expired' END,
       CASE WHEN s.failed THEN (ARRAY['resource_role','target_role','federation'])[1 + s.g %% 3]
            ELSE '' END,
       CASE WHEN s.failed THEN 'AccessDenied' ELSE '' END,
       CASE WHEN s.failed THEN 'User is not authorized to perform: sts:AssumeRole' ELSE '' END,
       ('10.' || (s.g %% 250) || '.' || (s.g / 250 %% 250) || '.' || (s.g %% 7 + 1))::inet,
       'Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0',
       CASE WHEN s.failed THEN ''
            ELSE 'arn:aws:sts::210987654321:assumed-role/' || a.name || '/' || u.email END,
       CASE WHEN s.failed THEN '' ELSE 'ASIA' || upper(substr(md5(s.g::text), 1, 16)) END,
       CASE WHEN s.failed THEN '' ELSE 'AROAEXAMPLE' || a.id || ':' || u.email END,
       CASE WHEN s.revoked THEN 'ops@example.com' ELSE '' END,
       CASE WHEN s.revoked THEN 'incident' ELSE '' END,
       '', '', '',
       s.created,
       CASE WHEN s.failed THEN NULL ELSE s.created + interval '400 ms' END,
       CASE WHEN s.failed THEN NULL
            ELSE s.created + interval '400 ms' + make_interval(secs => a.duration_seconds) END,
       CASE WHEN s.revoked THEN least(s.created + interval '10 minutes', now()) END,
       CASE WHEN s.failed THEN s.created + interval '300 ms'
            WHEN s.revoked THEN least(s.created + interval '10 minutes', now())
            WHEN s.created + make_interval(secs => a.duration_seconds) > now() THEN NULL
            ELSE s.created + make_interval(secs => a.duration_seconds + 20) END
FROM (
    SELECT g, user_n, account_n, failed, revoked,
           -- Working hours late today may lie ahead: those move back a day.
           CASE WHEN created >= now() THEN created - interval '1 day' ELSE created END
             AS created
    FROM (
        SELECT g,
               -- A few heavy users and popular accounts, as in real teams.
               1 + floor(%(users)s * power(random(), 1.2))::int AS user_n,
               1 + floor(%(accounts)s * power(random(), 1.5))::int AS account_n,
               random() < 0.08 AS failed,
               -- Revoked sessions are rare: a few on the busiest account, so that
               -- "revoked on one account" finds fewer than a page of them.
               random() < 0.0002 AS revoked,
               -- Mostly working hours, on a uniform spread of days.
               CASE WHEN random() < 0.8
                    THEN date_trunc('day', now() - random() * make_interval(days => %(days)s))
                         + interval '7 hours' + random() * interval '11 hours'
                    ELSE now() - random() * make_interval(days => %(days)s) END AS created
        FROM generate_series(1, %(rows)s) AS g
    ) raw
) s
JOIN (SELECT id, email, row_number() OVER (ORDER BY id) AS n FROM auth_user
      WHERE username ~ '^bench[0-9]{4}$') u ON u.n = s.user_n
JOIN (SELECT id, name, target_role_arn, session_duration AS duration_seconds,
             row_number() OVER (ORDER BY id) AS n FROM accounts_pamaccount) a
  ON a.n = s.account_n
-- In time order, as the app appends them: ids and the table's physical order follow
-- created_at, which is what the export and the sweep meet in production.
ORDER BY s.created
"""


def load(rows: int) -> None:
    from django.contrib.auth.models import User
    from django.db import connection

    from accounts.models import AccountGrant, PamAccount
    from resources.models import AwsIamResource, Project

    resource_arn = "arn:aws:iam::210987654321:role/pam-resource-role"
    project = Project.objects.create(name="bench")
    res = AwsIamResource.objects.create(
        project=project, name="production", resource_role_arn=resource_arn
    )
    accounts = PamAccount.objects.bulk_create(
        PamAccount(
            resource=res,
            name=f"role-{n:02d}",
            target_role_arn=f"arn:aws:iam::210987654321:role/team/role-{n:02d}",
            session_duration=[900, 1800, 3600][n % 3],
        )
        for n in range(ACCOUNTS)
    )
    users = User.objects.bulk_create(
        User(username=f"bench{n:04d}", email=f"user{n:04d}@example.com") for n in range(USERS)
    )
    AccountGrant.objects.bulk_create(
        AccountGrant(account=accounts[(n * 7 + k) % ACCOUNTS], user=user)
        for n, user in enumerate(users)
        for k in range(3)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            SESSIONS_SQL,
            {
                "resource_arn": resource_arn,
                "users": USERS,
                "accounts": ACCOUNTS,
                "days": DAYS,
                "rows": rows,
            },
        )
        # The active ones are live, as their activation (services.session_activate)
        # would have recorded them.
        cursor.execute(LIVE_SQL)
    vacuum()


LIVE_SQL = (
    "INSERT INTO sessions_app_livesession (session_id, expires_at) "
    "SELECT id, expires_at FROM sessions_app_consolesession WHERE status = 'active' "
    "ON CONFLICT DO NOTHING"
)


def vacuum() -> None:
    """VACUUM ANALYZE the two tables (VACUUM needs autocommit). It also fills the
    visibility map for index-only scans."""
    from django.db import connection

    connection.ensure_connection()
    autocommit = connection.connection.autocommit
    connection.connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE sessions_app_consolesession")
            cursor.execute("VACUUM ANALYZE sessions_app_livesession")
    finally:
        connection.connection.autocommit = autocommit


# --- measuring -------------------------------------------------------------------


calibration_ms = benchdb.calibration_ms


def report(name: str, value: float, unit: str, target: str) -> None:
    print(f"{name}: {value:.1f} {unit} (target {target})", flush=True)


def explain(title: str, sql: str, params: tuple = ()) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) " + sql, params)
        plan = [row[0] for row in cursor.fetchall()]
    print(f"# EXPLAIN {title}")
    for line in plan:
        print(f"#   {line}")


def main_query(
    queries: list[dict], contains: str, table: str = "sessions_app_consolesession"
) -> str:
    """The captured statement on `table` that matches `contains`."""
    for query in queries:
        sql = query["sql"]
        if table in sql and contains in sql:
            return sql
    raise LookupError(contains)


def measure(runs: int) -> None:
    from django.contrib.auth.models import Permission, User
    from django.db import connection
    from django.db.models import Count
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from sessions_app.models import ConsoleSession
    from sessions_app.services import sessions_sweep

    admin = User.objects.filter(username="bench-admin").first() or User.objects.create_superuser(
        "bench-admin", "bench-admin@example.com", None
    )
    ops, _ = User.objects.get_or_create(username="bench-ops", email="ops@example.com")
    ops.user_permissions.add(Permission.objects.get(codename="view_consolesession"))
    busiest = (
        ConsoleSession.objects.values("user_id")
        .annotate(n=Count("id"))
        .order_by("-n")
        .values_list("user_id", "n")
        .first()
    )
    member = User.objects.get(pk=busiest[0])
    account_id = (
        ConsoleSession.objects.values("account_id")
        .annotate(n=Count("id"))
        .order_by("-n")
        .values_list("account_id", flat=True)
        .first()
    )
    total = ConsoleSession.objects.count()
    print(f"# {total} console sessions; busiest user has {busiest[1]}; medians of {runs} runs")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_relation_size(oid) / 8192, pg_relation_size(oid) >> 20, reloptions "
            "FROM pg_class WHERE relname = 'sessions_app_consolesession'"
        )
        pages, megabytes, options = cursor.fetchone()
        cursor.execute(
            "SELECT status, count(*) FROM sessions_app_consolesession "
            "WHERE account_id = %s GROUP BY status ORDER BY status",
            [account_id],
        )
        statuses = ", ".join(f"{n} {status}" for status, n in cursor.fetchall())
    print(f"# table: {pages} pages ({megabytes} MB), options {options}")
    print(f"# busiest account {account_id}: {statuses}")
    print(f"python_loop_calibration: {calibration_ms():.0f} ms (1e6 additions; lower is faster)")

    def client_for(user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    as_admin, as_ops, as_member = client_for(admin), client_for(ops), client_for(member)

    def get(client: Client, url: str) -> Callable[[], None]:
        def run() -> None:
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)

        return run

    changelist = "/admin/sessions_app/consolesession/"
    filtered = f"{changelist}?account__id__exact={account_id}&status__exact=failed"
    # Mid-afternoon a month ago: a busy instant in the middle of the history.
    instant = (timezone.now() - timedelta(days=30)).replace(
        hour=14, minute=0, second=0, microsecond=0
    )
    api_filter = f"/api/v1/sessions/?account={account_id}&status=failed"
    api_active = "/api/v1/sessions/?active_at=" + instant.isoformat().replace("+00:00", "Z")
    # No index holds `status` (sessions_app/models.py): the rare statuses on the busiest
    # account, where a page of matches is not met early by walking the account's rows,
    # and the common one, where the admin's capped count reads the rows themselves.
    by_status = f"{changelist}?account__id__exact={account_id}&status__exact="
    api_by_status = f"/api/v1/sessions/?account={account_id}&status="
    pages = [
        ("admin_changelist_unfiltered", as_admin, changelist, 150),
        ("admin_changelist_account_status", as_admin, filtered, 150),
        ("admin_changelist_account_active", as_admin, by_status + "active", 150),
        ("admin_changelist_account_revoked", as_admin, by_status + "revoked", 150),
        ("admin_changelist_account_expired", as_admin, by_status + "expired", 150),
        ("api_sessions_filtered", as_ops, api_filter, 50),
        ("api_sessions_account_active", as_ops, api_by_status + "active", 50),
        ("api_sessions_account_revoked", as_ops, api_by_status + "revoked", 50),
        ("api_sessions_active_at", as_ops, api_active, 50),
        ("user_sessions_page", as_member, "/sessions/", 50),
    ]
    # Pages take turns, run after run, so that a slow spell of the machine (they come
    # and go on shared hosts) weighs on all of them alike.
    samples: dict[str, list[float]] = {name: [] for name, *_ in pages}
    for _name, client, url, _ in pages:
        get(client, url)()  # warm: connection, templates, caches
    for _ in range(runs):
        for name, client, url, _ in pages:
            started = time.perf_counter()
            get(client, url)()
            samples[name].append((time.perf_counter() - started) * 1000)
    captured = {}
    for name, client, url, target in pages:
        with CaptureQueriesContext(connection) as capture:
            get(client, url)()
        captured[name] = list(capture.captured_queries)  # the log is a bounded deque
        sql_ms = sum(float(q["time"]) for q in captured[name]) * 1000
        report(name, statistics.median(samples[name]), "ms", f"<= {target}")
        print(f"# {name}: {len(captured[name])} queries, {sql_ms:.0f} ms of them in SQL")

    export_seconds, export_rss, export_rows = export_in_child()
    report("csv_export_all", export_seconds, "s", "<= 20")
    report("csv_export_peak_rss", export_rss, "MB", "< 150")
    print(f"# csv export wrote {export_rows} rows")

    sweep_samples = []
    for _ in range(3):
        due = make_due(DUE)
        with CaptureQueriesContext(connection) as sweep_capture:
            started = time.perf_counter()
            result = sessions_sweep()
            sweep_samples.append(time.perf_counter() - started)
        assert result.expired >= due, (result, due)  # plus any that came due meanwhile
    sweep_queries = list(sweep_capture.captured_queries)
    batches = sum("SKIP LOCKED" in q["sql"] for q in sweep_queries)
    report("sweep_100k_due", statistics.median(sweep_samples) * 1000, "ms", "<= 2000")
    print(f"# the sweep ran {batches} locking batches (PAM_SWEEP_BATCH_SIZE)")

    explain(
        "admin changelist, unfiltered",
        main_query(captured["admin_changelist_unfiltered"], "LIMIT 50"),
    )
    explain(
        "admin changelist, account and status",
        main_query(captured["admin_changelist_account_status"], "LIMIT 50"),
    )
    explain(
        "admin changelist, account and expired: the capped count",
        main_query(captured["admin_changelist_account_expired"], "COUNT"),
    )
    explain("API, account and status", main_query(captured["api_sessions_filtered"], "LIMIT"))
    explain("API, account and active", main_query(captured["api_sessions_account_active"], "LIMIT"))
    explain(
        "API, account and revoked", main_query(captured["api_sessions_account_revoked"], "LIMIT")
    )
    explain("API, active_at", main_query(captured["api_sessions_active_at"], "LIMIT"))
    explain("user /sessions/", main_query(captured["user_sessions_page"], "LIMIT"))
    make_due(DUE)
    explain(
        "sweep, one batch: the due LiveSession rows",
        main_query(sweep_queries, "SKIP LOCKED", table="sessions_app_livesession"),
    )
    sessions_sweep()


def make_due(count: int) -> int:
    """Turn the newest `count` expired sessions back into active ones whose expiry is
    past and unrecorded, with their LiveSession rows, as after a day without workers.

    Then VACUUM, as autovacuum would have run in that day: the activations that made
    those sessions active were hours ago, and the row versions they left behind were
    long cleaned away. Without it, the old versions this UPDATE leaves are still on the
    pages when the sweep comes a second later, and whether the sweep's own versions fit
    beside them would depend on whether anything (an autovacuum ANALYZE) holds a
    snapshot from before this UPDATE at that moment."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE sessions_app_consolesession SET status = 'active', ended_at = NULL "
            "WHERE id IN (SELECT id FROM sessions_app_consolesession WHERE status = 'expired' "
            "ORDER BY id DESC LIMIT %s)",
            [count],
        )
        made = cursor.rowcount
        cursor.execute(LIVE_SQL)
    vacuum()
    return made


def export_in_child() -> tuple[float, float, int]:
    out = subprocess.run(
        [sys.executable, __file__, "--export-child"],
        env=os.environ.copy(),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    seconds, rss, rows = out.split()
    return float(seconds), float(rss), int(rows)


def export_child() -> None:
    """The admin's 'Export these as CSV' over everything, consumed as a browser would."""
    from django.contrib.auth.models import User
    from django.test import Client

    client = Client()
    client.force_login(User.objects.get(username="bench-admin"))
    started = time.perf_counter()
    response = client.get("/admin/sessions_app/consolesession/export.csv")
    assert response.status_code == 200 and response.streaming
    lines = 0
    with open(os.devnull, "wb") as sink:
        for chunk in response.streaming_content:
            sink.write(chunk)
            lines += chunk.count(b"\n")  # the loaded rows hold no newline of their own
    seconds = time.perf_counter() - started
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{seconds:.2f} {rss_mb:.1f} {lines - 1}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--database", default="pam_bench_history")
    parser.add_argument("--keep", action="store_true", help="reuse a loaded database")
    parser.add_argument("--export-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.export_child:
        import django

        django.setup()
        export_child()
        return

    reuse = False
    if args.keep:
        try:
            configure(args.database)
            from sessions_app.models import ConsoleSession

            reuse = ConsoleSession.objects.count() >= args.rows * 0.99
        except Exception:  # no such database yet
            reuse = False
    if not reuse:
        if args.keep:
            from django.db import connections

            connections.close_all()
        admin_sql(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        admin_sql(f'CREATE DATABASE "{args.database}"')
        configure(args.database)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        load(args.rows)
        print(f"# loaded in {time.perf_counter() - started:.0f} s", flush=True)
    else:
        from django.core.management import call_command

        call_command("migrate", verbosity=0)  # index changes since the load
    measure(args.runs)


if __name__ == "__main__":
    main()
