"""`./dev run --demo` as a newcomer starts it (issue 17): one quiet banner that ends with
the logins, the exact lines to create a role in the AWS stand-in (which work), roles
that survive a restart, and an Access that works for `demo`.

It runs the real startup (`python -m pam_project.runner --demo`, what ./dev execs) in a
temporary PAM_VAR_DIR: stand-ins, identity provider, migrations on a fresh SQLite file,
seed, Celery worker and gunicorn. So it takes a while; it is the demo's one end-to-end
test.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import requests

from pam_demo import stack

ROOT = Path(__file__).resolve().parent.parent
RULE = "=" * 72
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Run:
    """One `./dev run --demo`: its output, read as it comes."""

    def __init__(self, var: Path, port: int) -> None:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_", "PAM_", "DJANGO_", "CELERY_"))
            and k not in {"DATABASE_URL", "SECRET_KEY", "PORT"}
        }
        env.update({"PAM_VAR_DIR": str(var), "DJANGO_SETTINGS_MODULE": "pam_project.settings"})
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pam_project.runner", "--demo", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: stopped as one below
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def banner(self, seconds: float = 240) -> list[str]:
        """The lines between the two rules, once the second is printed."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            rules = [n for n, line in enumerate(self.lines) if line == RULE]
            if len(rules) >= 2:
                return self.lines[rules[0] + 1 : rules[1]]
            if self.proc.poll() is not None:
                break
            time.sleep(0.5)
        pytest.fail("no banner; the demo printed:\n" + "\n".join(self.lines))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._reader.join(timeout=5)


@pytest.fixture
def demo_run(tmp_path) -> Iterator:
    runs: list[Run] = []

    def start(port: int) -> Run:
        runs.append(Run(tmp_path / "var", port))
        return runs[-1]

    yield start
    for run in runs:
        run.stop()


def sign_in_and_access(base: str, username: str, password: str) -> requests.Response:
    session = stack.sign_in(base, username, password)
    home = session.get(f"{base}/", timeout=30).text
    cards = re.findall(r'class="name" href="/accounts/(\d+)/"[^>]*>([^<]+)<', home)
    accounts = {name: pk for pk, name in cards}
    return session.post(
        f"{base}/accounts/{accounts['readonly']}/access/",
        data={"csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"Referer": f"{base}/"},
        allow_redirects=False,
        timeout=60,
    )


def test_the_demo_starts_quietly_ends_with_the_logins_and_keeps_its_roles(
    demo_run, tmp_path, monkeypatch
):
    port = free_port()
    run = demo_run(port)
    banner = run.banner()
    text = "\n".join(banner)
    time.sleep(3)  # anything printed after the banner would push the logins away
    after = run.lines[run.lines.index(RULE, run.lines.index(RULE) + 1) + 1 :]
    assert [line for line in after if line.strip()] == []
    everything = "\n".join(run.lines)
    # The noise a newcomer saw is gone.
    for noise in ("objects imported automatically", "aws=http", "celery@", "[tasks]", "gunicorn"):
        assert noise not in everything, noise
    # Before the banner, nothing but an empty line.
    assert [line for line in run.lines[: run.lines.index(RULE)] if line.strip()] == []

    # It ends with the logins, each the one the seed keeps.
    logins = dict(
        line.split(" ", 1)
        for line in (tmp_path / "var" / "demo-logins.txt").read_text().split("\n")
        if line
    )
    admin_password = (tmp_path / "var" / "demo-admin-password.txt").read_text().strip()
    content = [line.strip() for line in banner if line.strip()]
    assert content[-6] == f"Sign in at http://127.0.0.1:{port}/"
    assert content[-5].startswith(f"admin / {admin_password} ")
    assert content[-4].startswith(f"demo / {logins['demo']} ")
    assert content[-3].startswith(f"approver / {logins['approver']} ")
    assert content[-2].startswith(f"visitor / {logins['visitor']} ")
    assert content[-1].startswith("Sign in with Demo IdP as sam")
    assert f"kept in {tmp_path / 'var' / 'demo-aws.json'} across restarts" in text
    assert "Any access key works" in text

    # The printed lines create roles in the stand-in, as printed.
    aws_line = next(line.strip() for line in banner if " aws --endpoint-url " in line)
    boto_line = next(line.strip() for line in banner if line.strip().startswith("boto3.client("))
    endpoint = re.search(r"--endpoint-url (\S+)", aws_line).group(1)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "trust.json").write_text(json.dumps(TRUST))
    if shutil.which("aws"):
        words = shlex.split(aws_line)
        creds = dict(word.split("=", 1) for word in words if "=" in word and "--" not in word)
        command = [word for word in words if word.split("=", 1)[0] not in creds]
        created = subprocess.run(
            command, env={**os.environ, **creds}, capture_output=True, text=True, timeout=60
        )
        assert created.returncode == 0, created.stderr
        assert json.loads(created.stdout)["Role"]["RoleName"] == "my-role"
        boto_line = boto_line.replace('"my-role"', '"my-other-role"')
    eval(compile(boto_line, "<banner>", "eval"), {"boto3": boto3, "open": open})  # noqa: S307

    # Access works for the demo user, up to the console stand-in.
    base = f"http://127.0.0.1:{port}"
    access = sign_in_and_access(base, "demo", logins["demo"])
    assert access.status_code == 302
    console = requests.get(access.headers["Location"], timeout=30)
    assert "<dd id='role'>pam-demo-readonly</dd>" in console.text

    # A restart keeps the roles (the stand-in's port is new; its IAM is not).
    run.stop()
    assert run.proc.returncode == 0
    again = demo_run(port)
    banner = again.banner()
    endpoint = re.search(r"--endpoint-url (\S+)", "\n".join(banner)).group(1)
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="anything",
        aws_secret_access_key="anything",
    )
    names = {role["RoleName"] for role in iam.list_roles()["Roles"]}
    assert {"pam-demo-resource", "pam-demo-readonly", "my-other-role"} <= names
    assert ("my-role" in names) is bool(shutil.which("aws"))
    # The same logins, and Access still works against the restored roles.
    assert sign_in_and_access(base, "demo", logins["demo"]).status_code == 302
