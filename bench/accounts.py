"""The accounts page (`/`) of a person granted many accounts, on PostgreSQL.

Builds, in a database of its own, one person granted ACCOUNTS accounts (default 500)
over 10 projects of 2 resources each, half of them through a group, one through an
eligible grant inside an approved window; with 5 favourites, 20 recent Access attempts
and LIVE running sessions. Then times GET / (Django's test client, in process: server
time, no network) as the median of --runs runs, and counts its SQL statements, which
must not grow with the number of accounts (tests/test_console_pages.py runs build() at
two sizes and checks EXPECTED_QUERIES).

    .venv/bin/python bench/accounts.py [--accounts 500] [--runs 25]

Prints `name: value unit (target ...)` lines. PAM_BENCH_ADMIN_DB names the server
(default the local PostgreSQL).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import benchdb  # noqa: E402

PROJECTS, RESOURCES_PER_PROJECT = 10, 2
FAVOURITES, ATTEMPTS, LIVE = 5, 20, 2
# The page's statements, whatever the number of accounts: the signed-in session and its
# user; the accounts (grants, resource, project and favourite in one); the open requests
# of the eligible grants; the last attempts and the live sessions (one UNION ALL); the
# header's Approvals link (the person's permissions, two, then one EXISTS).
EXPECTED_QUERIES = 8


def configure(database: str) -> None:
    benchdb.configure(database, "accounts")


admin_sql = benchdb.admin_sql


def build(accounts: int, *, username: str = "bench-member"):  # noqa: ANN201 (a User)
    """One person granted `accounts` accounts, as described above; returns the person."""
    from django.contrib.auth.models import Group, User
    from django.utils import timezone

    from access_requests import services as request_services
    from accounts.models import AccountGrant, Favourite, GrantKind, PamAccount
    from resources.models import AwsIamResource, Project
    from sessions_app.models import ConsoleSession, Status

    member = User.objects.create_user(username, f"{username}@example.com")
    approver = User.objects.create_user(f"{username}-approver", f"{username}-a@example.com")
    team = Group.objects.create(name=f"{username}-team")
    member.groups.add(team)
    resources = []
    for p in range(PROJECTS):
        project = Project.objects.create(name=f"{username} project {p:02d}")
        for r in range(RESOURCES_PER_PROJECT):
            resources.append(
                AwsIamResource.objects.create(
                    project=project,
                    name=f"resource-{r}",
                    resource_role_arn=f"arn:aws:iam::2109876543{p:02d}:role/pam-resource-{r}",
                )
            )
    made = PamAccount.objects.bulk_create(
        PamAccount(
            resource=resources[n % len(resources)],
            name=f"role-{n:03d}",
            description="Read-only access for the on-call team." if n % 3 == 0 else "",
            target_role_arn=f"arn:aws:iam::210987654321:role/team/Role{n:03d}",
            session_duration=[900, 1800, 3600][n % 3],
        )
        for n in range(accounts)
    )
    eligible = made[0]
    AccountGrant.objects.bulk_create(
        AccountGrant(
            account=account,
            kind=GrantKind.ELIGIBLE if account is eligible else GrantKind.STANDING,
            **({"user": member} if n % 2 == 0 else {"group": team}),
        )
        for n, account in enumerate(made)
    )
    eligible.approver_users.add(approver)
    request = request_services.request_create(
        requester=member, account=eligible, reason="bench", duration_seconds=3600
    )
    request_services.request_decide(request=request, approver=approver, approve=True)
    Favourite.objects.bulk_create(
        Favourite(user=member, account=made[(n * 7) % accounts]) for n in range(FAVOURITES)
    )
    now = timezone.now()
    fields = {
        "user": member,
        "user_email": member.email,
        "resource_role_arn": resources[0].resource_role_arn,
        "role_session_name": member.email,
        "duration_seconds": 900,
    }
    ConsoleSession.objects.bulk_create(
        [
            ConsoleSession(
                **fields,
                account=made[(n * 3) % accounts],
                target_role_arn=made[(n * 3) % accounts].target_role_arn,
                status=Status.EXPIRED,
                created_at=now - timedelta(hours=2, minutes=n),
                expires_at=now - timedelta(hours=1, minutes=n),
            )
            for n in range(ATTEMPTS)
        ]
        + [
            ConsoleSession(
                **fields,
                account=made[n + 1],
                target_role_arn=made[n + 1].target_role_arn,
                status=Status.ACTIVE,
                created_at=now - timedelta(minutes=5),
                activated_at=now - timedelta(minutes=5),
                expires_at=now + timedelta(minutes=10 + n),
            )
            for n in range(LIVE)
        ]
    )
    return member


calibration_ms = benchdb.calibration_ms


def measure(member, runs: int, accounts: int) -> None:  # noqa: ANN001 (a User)
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(member)

    def get() -> str:
        response = client.get("/")
        assert response.status_code == 200, response.status_code
        return response.content.decode()

    page = get()  # warm: connection, templates
    assert page.count('<li class="account"') == accounts, "not every account is on the page"
    print(f"python_loop_calibration: {calibration_ms():.0f} ms (1e6 additions; lower is faster)")
    samples, cpu = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        get()
        samples.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    with CaptureQueriesContext(connection) as capture:
        get()
    queries = len(capture.captured_queries)
    sql_ms = sum(float(q["time"]) for q in capture.captured_queries) * 1000
    print(
        f"accounts_page_{accounts}_median: {statistics.median(samples):.1f} ms (target <= 50)",
        flush=True,
    )
    print(
        f"accounts_page_{accounts}_queries: {queries} queries "
        f"(target {EXPECTED_QUERIES}, whatever the number of accounts)"
    )
    print(f"# p95 {sorted(samples)[int(len(samples) * 0.95) - 1]:.1f} ms; {sql_ms:.1f} ms in SQL")
    # This process's own CPU time: the page's work without the waits a shared machine
    # adds (a busy database, other processes on the cores).
    print(f"# median CPU time of this process per page: {statistics.median(cpu):.1f} ms")
    print(f"# {len(page) / 1024:.0f} KiB of HTML")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=500)
    parser.add_argument("--runs", type=int, default=25)
    parser.add_argument("--database", default="pam_bench_accounts")
    args = parser.parse_args()
    admin_sql(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
    admin_sql(f'CREATE DATABASE "{args.database}"')
    configure(args.database)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    member = build(args.accounts)
    measure(member, args.runs, args.accounts)


if __name__ == "__main__":
    main()
