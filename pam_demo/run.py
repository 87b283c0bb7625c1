"""`./dev run --demo`: the app against local AWS stand-ins, with demo data and logins."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from pam_demo.people import SSO_PEOPLE

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Demo:
    processes: list[subprocess.Popen] = field(default_factory=list)
    banner: list[str] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"a demo stand-in (port {port}) did not start")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"a demo stand-in (port {port}) did not start in time")


def start_demo(env: dict[str, str]) -> Demo:
    """Start the stand-ins and point this run's environment at them."""
    aws_port, federation_port = _free_port(), _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pam_demo.standins",
            "--aws-port",
            str(aws_port),
            "--federation-port",
            str(federation_port),
        ],
        cwd=ROOT,
        env=env,
    )
    _wait(aws_port, proc)
    _wait(federation_port, proc)
    idp_port = _free_port()
    idp = _start_idp(idp_port, env)
    aws = f"http://127.0.0.1:{aws_port}"
    env.update(
        {
            "PAM_DEMO": "true",
            "DATABASE_URL": env.get("DATABASE_URL") or f"sqlite:///{ROOT / 'var' / 'demo.sqlite3'}",
            "AWS_ENDPOINT_URL_STS": aws,
            "AWS_ENDPOINT_URL_IAM": aws,
            "AWS_ACCESS_KEY_ID": "AKIADEMODEPLOYMENT00",
            "AWS_SECRET_ACCESS_KEY": "demo-deployment-secret",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "PAM_SIGNIN_URL": f"http://127.0.0.1:{federation_port}",
            # A real OpenID provider (oidc-provider-mock): "Sign in with Demo IdP".
            "PAM_OIDC_ISSUER": f"http://localhost:{idp_port}",
            "PAM_OIDC_CLIENT_ID": "pam-demo",
            "PAM_OIDC_CLIENT_SECRET": "demo-client-secret",
            "PAM_OIDC_NAME": "Demo IdP",
            # The demo's password logins keep working beside SSO.
            "PAM_LOCAL_LOGIN": env.get("PAM_LOCAL_LOGIN", "all"),
        }
    )
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        env.pop(name, None)
    return Demo(
        processes=[proc, idp],
        banner=[
            f"Demo mode: local AWS at {aws}, federation and console stand-in at "
            f"http://127.0.0.1:{federation_port} (nothing touches real AWS)",
            f"Demo identity provider (oidc-provider-mock) at http://localhost:{idp_port}",
        ],
    )


def _start_idp(port: int, env: dict[str, str]) -> subprocess.Popen:
    people = [arg for person in SSO_PEOPLE for arg in ("--user-claims", json.dumps(person))]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "oidc_provider_mock",
            "--port",
            str(port),
            "--require-nonce",
            "true",
            *people,
        ],
        cwd=ROOT,
        env={**env, "PYTHONWARNINGS": "ignore"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait(port, proc)
    return proc


def seed_demo(env: dict[str, str]) -> list[str]:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "shell",
            "--no-imports",  # Django 5.2's shell would print what it imported into the banner
            "-c",
            "from pam_demo.seed import banner; print('\\n'.join(banner()))",
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return [line for line in result.stdout.splitlines() if line.strip()]
