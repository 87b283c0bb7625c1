"""Revocation latency: from the Revoke click to the deny written in IAM.

The app under gunicorn (PostgreSQL, 2 workers x 4 threads) against the local stand-ins
(moto's STS and IAM behind the trust-policy gate). Each sample is one POST
/sessions/<id>/revoke/ as the button sends it; the answer comes after hop 1 and the
PutRolePolicy have returned, so its latency is the time until the deny is in IAM.
- `single`: one revoke at a time, of a session just opened by Access.
- `concurrent`: 20 people revoke their sessions of the same Target Role at the same
  moment (the per-role lock serializes them: the last one waits for the 19 before it).
Between samples the statements are aged out (their prune time moved into the past), so
the role stays far below IAM's 10,240-character limit, as it would an hour later.

    .venv/bin/python bench/revoke.py [--single 30] [--rounds 5] [--aws-latency-ms 0]

Prints `name: value unit (target ...)` lines.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pam_demo.stack import LiveStack  # noqa: E402

CONCURRENT = 20


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def latest_active(stack: LiveStack, username: str) -> int:
    rows = stack.sql(
        "SELECT s.id FROM sessions_app_consolesession s JOIN auth_user u ON s.user_id = u.id "
        "WHERE u.username = %s AND s.status = 'active' ORDER BY s.id DESC LIMIT 1",
        (username,),
    )
    return rows[0][0]


def revoke(stack: LiveStack, member, session_id: int) -> float:  # noqa: ANN001
    started = time.perf_counter()
    response = member.post(
        f"{stack.url}/sessions/{session_id}/revoke/",
        data={"csrfmiddlewaretoken": member.cookies["csrftoken"], "reason": "bench"},
        headers={"Referer": f"{stack.url}/sessions/", "Connection": "close"},
        allow_redirects=False,
        timeout=60,
    )
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 302, response.status_code
    return elapsed


def age_out(stack: LiveStack) -> None:
    stack.sql(
        "UPDATE sessions_app_revocation SET prune_after = now() - interval '1 second' RETURNING id"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--single", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--aws-latency-ms", type=float, default=0)
    args = parser.parse_args()

    with LiveStack(
        users=CONCURRENT,
        workers=2,
        threads=4,
        rate_limit="1000000/h",
        standin_latency_ms=args.aws_latency_ms,
    ) as stack:
        single: list[float] = []
        member = stack.sessions[0]
        for i in range(args.single + 3):
            assert stack.access(member).status_code == 302
            took = revoke(stack, member, latest_active(stack, "load0"))
            if i >= 3:  # warm-up
                single.append(took)
            age_out(stack)

        concurrent: list[float] = []
        walls: list[float] = []
        for _ in range(args.rounds):
            for member in stack.sessions:
                assert stack.access(member).status_code == 302
            ids = [latest_active(stack, f"load{n}") for n in range(CONCURRENT)]
            barrier = threading.Barrier(CONCURRENT)
            results: list[float] = []

            def one(
                n: int,
                session_id: int,
                results: list[float] = results,
                barrier: threading.Barrier = barrier,
            ) -> None:
                barrier.wait()
                results.append(revoke(stack, stack.sessions[n], session_id))

            threads = [threading.Thread(target=one, args=(n, sid)) for n, sid in enumerate(ids)]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            walls.append((time.perf_counter() - started) * 1000)
            concurrent.extend(results)
            revoked = stack.sql(
                "SELECT count(*) FROM sessions_app_consolesession WHERE id = ANY(%s) "
                "AND status = 'revoked'",
                (ids,),
            )[0][0]
            assert revoked == CONCURRENT, revoked
            age_out(stack)

    print(
        f"# gunicorn 2x4 on PostgreSQL, stand-in latency {args.aws_latency_ms:g} ms; "
        f"{len(single)} single revokes, {args.rounds} rounds of {CONCURRENT} at once"
    )
    print(f"revoke_single_median: {statistics.median(single):.1f} ms (target <= 1000)")
    print(f"revoke_single_p95: {percentile(single, 0.95):.1f} ms (target <= 1000)")
    print(f"revoke_concurrent20_median: {statistics.median(concurrent):.1f} ms")
    print(f"revoke_concurrent20_p95: {percentile(concurrent, 0.95):.1f} ms (target <= 1000)")
    print(f"revoke_concurrent20_all_written: {statistics.median(walls):.1f} ms (median round)")


if __name__ == "__main__":
    main()
