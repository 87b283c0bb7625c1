"""`./dev run --demo`: the app against local AWS stand-ins, with demo data and logins.

The terminal shows one banner, once everything answers, ending with the logins: the
web server's and the worker's own output goes to log files under var/ (the banner names
them), so nothing scrolls the logins away.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from pam_demo.people import SSO_APPROVERS, SSO_GROUP, SSO_PEOPLE

ROOT = Path(__file__).resolve().parent.parent
# What moto (the AWS stand-in) keeps across runs: pam_demo/aws_state.py.
STATE_FILE_NAME = "demo-aws.json"
REGION = "us-east-1"
# The stand-in takes any access key; these are just something to type.
ANY_KEY = ("demo", "demo")


def var_dir(env: dict[str, str]) -> Path:
    """Where the run writes its files: PAM_VAR_DIR, as settings.py reads it, else var/."""
    return Path(env.get("PAM_VAR_DIR") or ROOT / "var").resolve()


def shown(path: Path) -> str:
    """A path as the banner prints it: relative to the checkout where it is inside."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


@dataclass
class Demo:
    processes: list[subprocess.Popen] = field(default_factory=list)
    aws_url: str = ""
    federation_url: str = ""
    idp_url: str = ""
    state_file: Path = Path()
    logins: dict[str, str] = field(default_factory=dict)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} (port {port}) did not start")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{what} (port {port}) did not start in {seconds:.0f} s")


def start_demo(env: dict[str, str]) -> Demo:
    """Start the stand-ins and point this run's environment at them."""
    var = var_dir(env)
    var.mkdir(mode=0o700, parents=True, exist_ok=True)
    state_file = var / STATE_FILE_NAME
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
            "--state-file",
            str(state_file),
            "--quiet",
        ],
        cwd=ROOT,
        env=env,
    )
    wait_for_port(aws_port, proc, "the AWS stand-in")
    wait_for_port(federation_port, proc, "the federation stand-in")
    idp_port = _free_port()
    idp = _start_idp(idp_port, env)
    aws = f"http://127.0.0.1:{aws_port}"
    env.update(
        {
            "PAM_DEMO": "true",
            "DATABASE_URL": env.get("DATABASE_URL") or f"sqlite:///{var / 'demo.sqlite3'}",
            "AWS_ENDPOINT_URL_STS": aws,
            "AWS_ENDPOINT_URL_IAM": aws,
            "AWS_ACCESS_KEY_ID": "AKIADEMODEPLOYMENT00",
            "AWS_SECRET_ACCESS_KEY": "demo-deployment-secret",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
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
        aws_url=aws,
        federation_url=f"http://127.0.0.1:{federation_port}",
        idp_url=f"http://localhost:{idp_port}",
        state_file=state_file,
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
    wait_for_port(port, proc, "the demo identity provider")
    return proc


def seed_demo(demo: Demo, env: dict[str, str]) -> None:
    """Create or refresh the demo's roles, project, accounts and users; keep the logins."""
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "shell",
            "--no-imports",  # Django 5.2's shell would print what it imported
            "-c",
            "import json; from pam_demo.seed import seed; print(json.dumps(seed()))",
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    demo.logins = json.loads(result.stdout.strip().splitlines()[-1])


def log_file(env: dict[str, str], name: str) -> Path:
    """A child's output in demo mode (appended across runs), owner-only."""
    path = var_dir(env) / f"demo-{name}.log"
    path.touch(mode=0o600, exist_ok=True)
    return path


def banner(demo: Demo, *, url: str, admin_password: str | None, logs: list[Path]) -> list[str]:
    """What the terminal shows once the demo answers: where each part runs, how to add
    roles to the AWS stand-in, and last, the logins."""
    key, secret = ANY_KEY
    aws = demo.aws_url
    admin = f"admin / {admin_password}" if admin_password else "admin (your own password)"
    return [
        f"AWS Console PAM demo: {url}   (local stand-ins: nothing touches real AWS)",
        "",
        f"AWS stand-in (STS and IAM: moto, checking trust and permissions policies): {aws}",
        f"  Its IAM roles are kept in {shown(demo.state_file)} across restarts (delete the "
        "file to start empty).",
        "  Any access key works. To create a role (trust.json: the Target Role trust policy "
        "the admin shows for the resource):",
        f"    AWS_ACCESS_KEY_ID={key} AWS_SECRET_ACCESS_KEY={secret} "
        f"aws --endpoint-url {aws} --region {REGION} iam create-role "
        "--role-name my-role --assume-role-policy-document file://trust.json",
        f'    boto3.client("iam", endpoint_url="{aws}", region_name="{REGION}", '
        f'aws_access_key_id="{key}", aws_secret_access_key="{secret}")'
        '.create_role(RoleName="my-role", AssumeRolePolicyDocument=open("trust.json").read())',
        f"Console stand-in: {demo.federation_url}    Identity provider: {demo.idp_url}",
        f"Logs: {', '.join(shown(path) for path in logs)}    Stop: Ctrl-C",
        "",
        f"Sign in at {url}",
        f"  {admin:<28} the admin: {url}admin/",
        f"  {'demo / ' + demo.logins['demo']:<28} readonly (Access), broken (a failed "
        "Access), admin (by request)",
        f"  {'approver / ' + demo.logins['approver']:<28} decides admin requests",
        f"  {'visitor / ' + demo.logins['visitor']:<28} granted nothing",
        f"  Sign in with Demo IdP as sam (group {SSO_GROUP}: readonly; admin by request) or "
        f"robin (group {SSO_APPROVERS}: approves admin requests)",
    ]
