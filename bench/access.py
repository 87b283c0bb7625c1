"""Access overhead: the app under gunicorn against the bare chain, on the same stand-ins.

App: POST /accounts/<id>/access/ through gunicorn (production-like: DEBUG off, PostgreSQL,
Redis broker, 2 workers x 4 threads), answered with the 302 to the sign-in URL.
Bare: the same two AssumeRole calls and one getSigninToken GET, made directly with boto3
(one Session, the hop-1 client reused; the hop-2 client built per iteration from that
Session, since it needs that iteration's credentials, which is also what the app does)
and a reused `requests` Session.
A third request per iteration, GET /healthz on the same gunicorn, gives the floor any
request pays (HTTP, middleware, one query), to tell it from the Access's own work.
A fourth, another member's Access to the same account through an eligible grant inside
an approved window (just-in-time access: one more query for the window, and the
session's duration capped by it), is compared with the first member's standing Access.
Both hit the same local STS (moto's server behind the trust-policy gate) and the same
federation stand-in, interleaved A B A B, sequentially (one request at a time).

    .venv/bin/python bench/access.py [--iterations 300] [--warmup 30] [--aws-latency-ms 0]

--aws-latency-ms N makes every stand-in answer after N ms (a sleep: no CPU), to see the
same overhead against a round trip like real STS's; --step-log has the workers log each
Access with its per-step timings (stderr).

Prints `name: value unit (target ...)` lines.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pam_demo.stack import LiveStack  # noqa: E402


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class BareChain:
    """The minimum the Access chain has to do, with nothing around it."""

    def __init__(
        self, env: dict[str, str], resource_arn: str, target_arn: str, external_id: str
    ) -> None:
        import boto3
        import requests

        self.boto = boto3.session.Session(
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name="us-east-1",
        )
        self.endpoint = env["AWS_ENDPOINT_URL_STS"]
        self.hop1 = self.boto.client("sts", endpoint_url=self.endpoint)
        self.http = requests.Session()
        self.federation = env["PAM_SIGNIN_URL"] + "/federation"
        self.resource_arn, self.target_arn, self.external_id = resource_arn, target_arn, external_id

    def run(self) -> None:
        creds = self.hop1.assume_role(
            RoleArn=self.resource_arn,
            RoleSessionName="bench@example.com",
            ExternalId=self.external_id,
            DurationSeconds=1800,
        )["Credentials"]
        hop2 = self.boto.client(
            "sts",
            endpoint_url=self.endpoint,
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        ).assume_role(
            RoleArn=self.target_arn,
            RoleSessionName="bench@example.com",
            ExternalId=self.external_id,
            DurationSeconds=1800,
        )["Credentials"]
        session = json.dumps(
            {
                "sessionId": hop2["AccessKeyId"],
                "sessionKey": hop2["SecretAccessKey"],
                "sessionToken": hop2["SessionToken"],
            }
        )
        answer = self.http.get(
            self.federation, params={"Action": "getSigninToken", "Session": session}, timeout=10
        )
        assert answer.status_code == 200 and answer.json()["SigninToken"]


# The second member (load1) holds the same account through an eligible grant instead,
# inside a 4-hour window `approver` approved: the same account, role and chain as the
# first member's standing Access, so the difference is the window's own cost.
WINDOW_SETUP = """
from django.contrib.auth.models import User
from access_requests import services
from accounts.models import AccountGrant, PamAccount
member, approver = User.objects.get(username="load1"), User.objects.get(username="approver")
account = PamAccount.objects.get(name="readonly")
AccountGrant.objects.filter(account=account, user=member).update(kind="eligible")
account.approver_users.add(approver)
request = services.request_create(requester=member, account=account, reason="bench",
                                  duration_seconds=4 * 3600)
services.request_decide(request=request, approver=approver, approve=True)
print(account.pk)
"""


def open_window(stack: LiveStack, *, standing: bool = False) -> int:
    """Put the second member inside a window; with `standing`, leave their grant standing
    (an A/A run: the two members' difference with no window at all)."""
    code = (
        'from accounts.models import PamAccount\nprint(PamAccount.objects.get(name="readonly").pk)'
    )
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "shell",
            "-c",
            code if standing else WINDOW_SETUP,
        ],
        cwd=ROOT,
        env=stack.env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return int(out.split()[-1])


def queries_per_access(stack: LiveStack) -> tuple[int, list[str]]:
    """Run one Access in this process against the stack's database and count its SQL."""
    os.environ.update(stack.env)
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(User.objects.get(username="load0"))
    client.get("/")  # the session row and the user are loaded as in any request
    with CaptureQueriesContext(connection) as captured:
        response = client.post(f"/accounts/{stack.account_id}/access/")
    assert response.status_code == 302, response.status_code
    return len(captured), [q["sql"][:110] for q in captured]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument(
        "--aws-latency-ms",
        type=float,
        default=0,
        help="delay each stand-in answer, as a real endpoint's round trip",
    )
    parser.add_argument(
        "--step-log",
        action="store_true",
        help="let the workers log each Access with its per-step timings",
    )
    parser.add_argument(
        "--aa",
        action="store_true",
        help="leave the second member standing too: the window line then shows the noise",
    )
    args = parser.parse_args()

    broker = os.environ.get("PAM_BENCH_BROKER", "redis://127.0.0.1:6379/12")
    os.environ["PAM_STACK_BROKER"] = broker
    with LiveStack(
        users=2,
        workers=2,
        threads=4,
        rate_limit="1000000/h",
        standin_latency_ms=args.aws_latency_ms,
        extra_env={"LOG_LEVEL": "INFO"} if args.step_log else {},
    ) as stack:
        details = stack.sql(
            "SELECT r.resource_role_arn, a.target_role_arn, p.external_id "
            "FROM accounts_pamaccount a JOIN resources_awsiamresource r ON a.resource_id = r.id "
            "JOIN resources_project p ON r.project_id = p.id WHERE a.id = %s",
            (stack.account_id,),
        )[0]
        bare = BareChain(stack.env, *details)
        member = stack.sessions[0]
        access_url = f"{stack.url}/accounts/{stack.account_id}/access/"
        form = {"csrfmiddlewaretoken": member.cookies["csrftoken"]}
        referer = {"Referer": f"{stack.url}/"}
        window_url = f"{stack.url}/accounts/{open_window(stack, standing=args.aa)}/access/"
        eligible = stack.sessions[1]
        eligible_form = {"csrfmiddlewaretoken": eligible.cookies["csrftoken"]}
        app_ms: list[float] = []
        bare_ms: list[float] = []
        floor_ms: list[float] = []
        window_ms: list[float] = []

        def access_ms(session: object, url: str, data: dict) -> float:
            started = time.perf_counter()
            response = session.post(
                url, data=data, headers=referer, allow_redirects=False, timeout=60
            )
            assert response.status_code == 302, response.status_code
            return (time.perf_counter() - started) * 1000

        for i in range(args.warmup + args.iterations):
            # Keep-alive on both sides: the requests follow each other well within
            # gunicorn's keep-alive window, and the bare side reuses its connections too.
            # The window Access goes first on odd iterations, last on even ones, so
            # neither side gains from its place in the sequence.
            if i % 2:
                window = access_ms(eligible, window_url, eligible_form)
            app = access_ms(member, access_url, form)
            started = time.perf_counter()
            bare.run()
            plain = (time.perf_counter() - started) * 1000
            started = time.perf_counter()
            health = member.get(f"{stack.url}/healthz", timeout=60)
            floor = (time.perf_counter() - started) * 1000
            assert health.status_code == 200, health.status_code
            if not i % 2:
                window = access_ms(eligible, window_url, eligible_form)
            if i >= args.warmup:
                app_ms.append(app)
                bare_ms.append(plain)
                floor_ms.append(floor)
                window_ms.append(window)
        count, sql = queries_per_access(stack)

    app_median, bare_median = statistics.median(app_ms), statistics.median(bare_ms)
    overheads = [a - b for a, b in zip(app_ms, bare_ms, strict=True)]
    print(
        f"# {args.iterations} interleaved iterations after {args.warmup} warm-up; "
        f"gunicorn 2x4 on PostgreSQL, broker {broker}, "
        f"stand-in latency {args.aws_latency_ms:g} ms per call"
    )
    print(f"access_app_median: {app_median:.1f} ms")
    print(f"access_app_p95: {percentile(app_ms, 0.95):.1f} ms")
    print(f"access_bare_median: {bare_median:.1f} ms")
    print(f"access_bare_p95: {percentile(bare_ms, 0.95):.1f} ms")
    print(f"access_ratio_app_over_bare: {app_median / bare_median:.2f} x (target <= 1.10)")
    print(f"access_overhead_median: {app_median - bare_median:.1f} ms (target <= 10)")
    print(f"access_overhead_pairwise_median: {statistics.median(overheads):.1f} ms")
    print(
        f"http_floor_median: {statistics.median(floor_ms):.1f} ms "
        "(GET /healthz on the same gunicorn: HTTP, middleware, one query)"
    )
    window_median = statistics.median(window_ms)
    print(f"access_window_median: {window_median:.1f} ms")
    print(f"access_window_minus_standing_median: {window_median - app_median:.1f} ms (target <= 2)")
    print(f"access_sql_queries: {count} queries")
    for line in sql:
        print(f"#   {line}")


if __name__ == "__main__":
    main()
