"""`pam credentials` as the AWS CLI pays for it: the AWS CLI does not cache what
credential_process returns, so every `aws` command waits for one whole run of it.

The app under gunicorn (PostgreSQL, 2 workers x 4 threads) against the local stand-ins;
the account has allow_cli_credentials on; one person's token of scope access, stored by
`pam login` in a temporary XDG_CONFIG_HOME. Interleaved per iteration:
- `process_by_id`: `python -m pam_cli credentials <id>`, start to exit (what credential_process
  costs the AWS CLI: interpreter start, imports, one POST);
- `process_by_name`: the same with `project/resource/account` (three list calls first);
- `api_credentials`: the POST /api/v1/accounts/<id>/credentials/ alone (the server: both
  hops, the row, no federation step);
- `api_access`: POST /api/v1/accounts/<id>/access/ (the console's Access, with the
  federation step), for comparison;
- `process_startup`: `python -m pam_cli --version` (the floor any run pays).

    PAM_STACK_ADMIN_DB=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/cli.py [--iterations 30] [--warmup 3] [--aws-latency-ms 0]

Prints `name: value unit (target ...)` lines.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pam_demo.stack import LiveStack  # noqa: E402

TARGETS = {"process_by_id": 1000, "process_by_name": 1500}


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed_run(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pam_cli", *args], env=env, capture_output=True, text=True
    )
    elapsed = (time.perf_counter() - started) * 1000
    assert done.returncode == 0, done.stderr
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--aws-latency-ms", type=float, default=0)
    args = parser.parse_args()

    with (
        LiveStack(
            users=1,
            workers=2,
            threads=4,
            rate_limit="1000000/h",
            standin_latency_ms=args.aws_latency_ms,
        ) as stack,
        tempfile.TemporaryDirectory() as home,
    ):
        stack.sql(
            "UPDATE accounts_pamaccount SET allow_cli_credentials = true WHERE id = %s "
            "RETURNING id",
            (stack.account_id,),
        )
        member = stack.sessions[0]
        made = member.post(
            f"{stack.url}/api/v1/tokens/",
            json={"name": "bench", "scope": "access"},
            headers={"X-CSRFToken": member.cookies["csrftoken"], "Referer": f"{stack.url}/"},
            timeout=30,
        )
        assert made.status_code == 201, made.text
        token = made.json()["token"]
        env = {
            "PATH": os.environ["PATH"],
            "HOME": home,
            "XDG_CONFIG_HOME": str(Path(home) / "xdg"),
            "PYTHONPATH": str(ROOT),
        }
        login = subprocess.run(
            [sys.executable, "-m", "pam_cli", "login", stack.url],
            input=token + "\n",
            env=env,
            capture_output=True,
            text=True,
        )
        assert login.returncode == 0, login.stderr
        name = stack.sql(
            "SELECT p.name || '/' || r.name || '/' || a.name FROM accounts_pamaccount a "
            "JOIN resources_awsiamresource r ON a.resource_id = r.id "
            "JOIN resources_project p ON r.project_id = p.id WHERE a.id = %s",
            (stack.account_id,),
        )[0][0]
        headers = {"Authorization": f"Bearer {token}", "Connection": "close"}
        base = f"{stack.url}/api/v1/accounts/{stack.account_id}"

        def api(path: str) -> float:
            started = time.perf_counter()
            answer = member.post(f"{base}/{path}/", headers=headers, timeout=60)
            elapsed = (time.perf_counter() - started) * 1000
            assert answer.status_code == 200, answer.text
            return elapsed

        samples: dict[str, list[float]] = {
            name: []
            for name in (
                "process_startup",
                "process_by_id",
                "process_by_name",
                "api_credentials",
                "api_access",
            )
        }
        for i in range(args.warmup + args.iterations):
            taken = {
                "process_startup": timed_run(["--version"], env),
                "process_by_id": timed_run(["credentials", str(stack.account_id)], env),
                "process_by_name": timed_run(["credentials", name], env),
                "api_credentials": api("credentials"),
                "api_access": api("access"),
            }
            if i >= args.warmup:
                for key, value in taken.items():
                    samples[key].append(value)
        kinds = stack.sql(
            "SELECT kind, count(*) FROM sessions_app_consolesession GROUP BY kind ORDER BY kind"
        )

    print(
        f"# gunicorn 2x4 on PostgreSQL, stand-in latency {args.aws_latency_ms:g} ms; "
        f"{args.iterations} interleaved iterations after {args.warmup} warm-up; "
        f"sessions by kind: {json.dumps(dict(kinds))}"
    )
    for key, values in samples.items():
        target = TARGETS.get(key)
        suffix = f" (target <= {target})" if target else ""
        print(f"cli_{key}_median: {statistics.median(values):.1f} ms{suffix}")
        print(f"cli_{key}_p95: {percentile(values, 0.95):.1f} ms{suffix}")


if __name__ == "__main__":
    main()
