"""The whole app as it runs in production, on loopback, for the load test and benchmarks:
gunicorn workers on a fresh PostgreSQL database, the AWS stand-ins in their own process,
and signed-in users.

    with LiveStack(users=20) as stack:
        stack.access(stack.sessions[0])   # one Access as the first user
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("PAM_STACK_ADMIN_DB", "postgres://postgres@127.0.0.1:5432/test")
SEED = """
from django.contrib.auth.models import User
from accounts.models import AccountGrant, PamAccount
from pam_demo.seed import seed
import json, sys
admin = User.objects.filter(is_superuser=True).first() or User.objects.create_superuser(
    "admin", "admin@example.com", "unused-" + sys.argv[2])
seed(logins_file=__import__("pathlib").Path(sys.argv[1]))
account = PamAccount.objects.get(name="readonly")
for n in range(int(sys.argv[3])):
    user, _ = User.objects.get_or_create(username=f"load{n}",
                                         defaults={"email": f"load{n}@example.com"})
    user.set_password(sys.argv[2])
    user.save()
    AccountGrant.objects.get_or_create(account=account, user=user)
print(json.dumps({"account": account.pk}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[:4]} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} after {seconds} s")


def sign_in(url: str, username: str, password: str, timeout: float = 30) -> requests.Session:
    """A requests Session signed in at `url` through the login form, as a browser would."""
    session = requests.Session()
    session.get(f"{url}/login/", timeout=timeout)
    response = session.post(
        f"{url}/login/",
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
            "next": "/",
        },
        headers={"Referer": f"{url}/login/"},
        allow_redirects=False,
        timeout=timeout,
    )
    if response.status_code != 302:
        raise RuntimeError(f"could not sign in {username}: {response.status_code}")
    # Drop the keep-alive connection: gunicorn closes it after 2 idle seconds, and a
    # later POST on it would fail on the client's side.
    session.close()
    return session


@dataclass
class LiveStack:
    users: int = 20
    workers: int = 4
    threads: int = 8
    rate_limit: str = "20/m"
    standin_latency_ms: float = 0
    extra_env: dict[str, str] = field(default_factory=dict)
    url: str = ""
    env: dict[str, str] = field(default_factory=dict)
    account_id: int = 0
    sessions: list[requests.Session] = field(default_factory=list)
    standins_url: dict[str, str] = field(default_factory=dict)
    _procs: list[subprocess.Popen] = field(default_factory=list)
    _db_name: str = ""

    def _admin_sql(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(
            ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True
        ) as conn:
            conn.execute(sql)

    def __enter__(self) -> LiveStack:
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self) -> None:
        self._db_name = f"pam_stack_{uuid.uuid4().hex[:10]}"
        self._admin_sql(f'CREATE DATABASE "{self._db_name}"')
        database_url = re.sub(r"/[^/]*$", f"/{self._db_name}", ADMIN_URL)
        aws_port, federation_port, web_port = free_port(), free_port(), free_port()
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PAM_"))}
        self.env = {
            **base,
            "DJANGO_SETTINGS_MODULE": "pam_project.settings",
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": os.environ.get("PAM_STACK_BROKER", "memory://"),
            "SECRET_KEY": "live-stack-" + uuid.uuid4().hex,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "PAM_DEMO": "true",
            "PAM_SIGNIN_URL": f"http://127.0.0.1:{federation_port}",
            "PAM_ACCESS_RATE_LIMIT": self.rate_limit,
            "AWS_ENDPOINT_URL_STS": f"http://127.0.0.1:{aws_port}",
            "AWS_ENDPOINT_URL_IAM": f"http://127.0.0.1:{aws_port}",
            "AWS_ACCESS_KEY_ID": "AKIASTACKDEPLOYMENT0",
            "AWS_SECRET_ACCESS_KEY": "stack-deployment-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "LOG_LEVEL": "WARNING",
            **self.extra_env,
        }
        self.standins_url = {
            "aws": self.env["AWS_ENDPOINT_URL_STS"],
            "federation": self.env["PAM_SIGNIN_URL"],
        }
        standins = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pam_demo.standins",
                "--aws-port",
                str(aws_port),
                "--federation-port",
                str(federation_port),
                "--latency-ms",
                str(self.standin_latency_ms),
            ],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
        )
        self._procs.append(standins)
        wait_for_port(aws_port, standins)
        wait_for_port(federation_port, standins)
        manage = [sys.executable, str(ROOT / "manage.py")]
        subprocess.run(
            [*manage, "migrate", "--noinput", "-v0"],
            cwd=ROOT,
            env=self.env,
            check=True,
        )
        password = uuid.uuid4().hex
        logins = Path(tempfile.mkdtemp()) / "logins.txt"
        out = subprocess.run(
            [
                *manage,
                "shell",
                "-c",
                f"import sys; sys.argv = ['', {str(logins)!r}, {password!r}, "
                f"'{self.users}']\n{SEED}",
            ],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        shutil.rmtree(logins.parent, ignore_errors=True)
        self.account_id = int(re.search(r'"account": (\d+)', out).group(1))
        web = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "pam_project.wsgi",
                "--bind",
                f"127.0.0.1:{web_port}",
                "--workers",
                str(self.workers),
                "--threads",
                str(self.threads),
                "--timeout",
                "60",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=self.env,
        )
        self._procs.append(web)
        wait_for_port(web_port, web)
        self.url = f"http://127.0.0.1:{web_port}"
        self.sessions = [self.sign_in(f"load{n}", password) for n in range(self.users)]

    def sign_in(self, username: str, password: str) -> requests.Session:
        return sign_in(self.url, username, password)

    def access(self, session: requests.Session) -> requests.Response:
        """One Access, as the button does it (POST with the CSRF token)."""
        return session.post(
            f"{self.url}/accounts/{self.account_id}/access/",
            data={"csrfmiddlewaretoken": session.cookies["csrftoken"]},
            # A fresh connection per request: a pooled keep-alive connection that gunicorn
            # closed while idle would fail the POST on the client's side, not the server's.
            headers={"Referer": f"{self.url}/", "Connection": "close"},
            allow_redirects=False,
            timeout=60,
        )

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        import psycopg

        url = self.env["DATABASE_URL"].replace("postgres://", "postgresql://")
        with psycopg.connect(url) as conn:
            return conn.execute(query, params).fetchall()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for session in self.sessions:
            session.close()
        for proc in reversed(self._procs):
            proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self._db_name:
            self._admin_sql(f'DROP DATABASE IF EXISTS "{self._db_name}" WITH (FORCE)')

    @property
    def federation_host(self) -> str:
        return urlsplit(self.standins_url["federation"]).netloc
