"""Load: the app under gunicorn on loopback, with PostgreSQL, against the local AWS
stand-ins. At least 200 concurrent Access requests from several users: every request
gets a correct answer, every attempt is exactly one row, no 5xx, no deadlock. Then the
per-user rate limit under concurrency."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from pam_demo.stack import LiveStack

USERS = 20
PER_USER = 10  # 200 requests, at most 20 a minute per user: under the limit
LIMIT = 20


@pytest.fixture(scope="module")
def stack():
    with LiveStack(users=USERS, workers=4, threads=8, rate_limit=f"{LIMIT}/m") as running:
        yield running


def fire(stack, sessions):
    """All requests released at once."""
    barrier = threading.Barrier(len(sessions))

    def one(session):
        barrier.wait()
        try:
            return stack.access(session)
        except requests.RequestException as exc:  # reported, not raised: see them all
            return exc

    with ThreadPoolExecutor(max_workers=len(sessions)) as pool:
        results = list(pool.map(one, sessions, timeout=120))
    errors = [repr(r) for r in results if isinstance(r, Exception)]
    assert errors == [], f"{len(errors)} requests got no answer: {errors[:3]}"
    return results


def test_200_concurrent_access_requests(stack):
    sessions = [s for s in stack.sessions for _ in range(PER_USER)]
    responses = fire(stack, sessions)

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {302: USERS * PER_USER}, statuses
    for response in responses:
        location = response.headers["Location"]
        assert location.startswith(f"http://{stack.federation_host}/federation?Action=login")
        assert "SigninToken=" in location
    rows = stack.sql(
        "SELECT status, count(*), count(DISTINCT access_key_id) "
        "FROM sessions_app_consolesession GROUP BY status"
    )
    assert rows == [("active", USERS * PER_USER, USERS * PER_USER)]
    per_user = stack.sql(
        "SELECT user_email, count(*) FROM sessions_app_consolesession GROUP BY user_email"
    )
    assert sorted(n for _, n in per_user) == [PER_USER] * USERS


def test_the_rate_limit_holds_under_concurrency_and_records_refusals(stack):
    session = stack.sessions[0]  # already made PER_USER attempts this minute
    before = tally(stack)
    responses = fire(stack, [session] * 25)

    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {302, 429}, statuses
    assert statuses[429] >= 1
    # Concurrent attempts can slip past together only by the few whose rows were not yet
    # committed when the others counted.
    assert statuses[302] <= LIMIT - PER_USER + 2, statuses
    assert all(int(r.headers["Retry-After"]) >= 1 for r in responses if r.status_code == 429)
    after = tally(stack)
    # Every attempt is counted: admitted ones a row each, refused ones on one row per user
    # and minute (refused_count), so a flood of requests cannot flood the history.
    assert after["attempts"] - before["attempts"] == 25
    assert after["refused"] - before["refused"] == statuses[429]
    assert after["refused_rows"] - before["refused_rows"] <= 2  # a minute boundary at most
    assert after["rows"] - before["rows"] <= statuses[302] + 2


def tally(stack) -> dict[str, int]:
    """Attempts and rows in the history: refused ones (this app's rate limit) apart."""
    rows, attempts, refused_rows, refused = stack.sql(
        "SELECT count(*), coalesce(sum(refused_count), 0), "
        "count(*) FILTER (WHERE failure_step = 'rate_limited' AND error_code = 'TooManyRequests'), "
        "coalesce(sum(refused_count) FILTER (WHERE failure_step = 'rate_limited'), 0) "
        "FROM sessions_app_consolesession"
    )[0]
    return {"rows": rows, "attempts": attempts, "refused_rows": refused_rows, "refused": refused}
