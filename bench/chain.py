"""The two-hop AssumeRole chain: the app's AWS module against a boto3 Session per call.

Runs moto's server on a loopback port (a separate process, so its CPU does not share our
GIL), then interleaves the two variants (A B A B ...) and prints median and p95 of each.

    .venv/bin/python bench/chain.py [--iterations 200]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESOURCE = "arn:aws:iam::111122223333:role/pam-resource"
TARGET = "arn:aws:iam::111122223333:role/pam-readonly"
EXTERNAL_ID = "bench-external-id"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto() -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("moto server did not start")


def app_chain() -> None:
    from resources import aws

    hop1 = aws.assume_resource_role(
        role_arn=RESOURCE,
        external_id=EXTERNAL_ID,
        session_name="bench@example.com",
        duration_seconds=900,
    )
    aws.assume_target_role(
        via=hop1.credentials,
        role_arn=TARGET,
        external_id=EXTERNAL_ID,
        session_name="bench@example.com",
        duration_seconds=900,
    )


def session_per_call_chain() -> None:
    import boto3

    sts = boto3.session.Session().client("sts")
    creds = sts.assume_role(
        RoleArn=RESOURCE,
        RoleSessionName="bench@example.com",
        ExternalId=EXTERNAL_ID,
        DurationSeconds=900,
    )["Credentials"]
    boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    ).client("sts").assume_role(
        RoleArn=TARGET,
        RoleSessionName="bench@example.com",
        ExternalId=EXTERNAL_ID,
        DurationSeconds=900,
    )


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()

    proc, url = start_moto()
    os.environ.update(
        {
            "AWS_ENDPOINT_URL_STS": url,
            "AWS_ACCESS_KEY_ID": "AKIABENCH",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
    )
    variants = {"app (one Session)": app_chain, "Session per call": session_per_call_chain}
    times: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for i in range(args.warmup + args.iterations):
            for name, run in variants.items():
                started = time.perf_counter()
                run()
                if i >= args.warmup:
                    times[name].append((time.perf_counter() - started) * 1000)
    finally:
        proc.terminate()
    print(f"two-hop chain on moto server at {url}, {args.iterations} iterations, interleaved")
    for name, samples in times.items():
        median, p95 = summary(samples)
        print(f"{name}: median {median:.1f} ms, p95 {p95:.1f} ms")
    app_median = summary(times["app (one Session)"])[0]
    naive_median = summary(times["Session per call"])[0]
    print(f"ratio session-per-call/app: {naive_median / app_median:.1f}x")


if __name__ == "__main__":
    main()
