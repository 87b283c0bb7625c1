"""`pam`, the command line, end to end: the command runs as a person's laptop would run it
(`python -m pam_cli ...` in a subprocess, its own HOME and XDG_CONFIG_HOME, none of the
test's environment), against the app served on loopback (pytest-django's live_server)
with the local AWS stand-ins (moto behind its trust-policy gate, and the federation
endpoint with its console page), seeded as the demo is.

The credential_process test is botocore itself: a profile whose `credential_process`
runs `pam credentials`, then sts:GetCallerIdentity at the moto endpoint with what it got.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import boto3
import botocore.session
import pytest
import requests
from botocore.exceptions import CredentialRetrievalError
from moto.sts.models import sts_backends

from access_requests.models import AccessRequest, RequestStatus
from accounts import services as account_services
from accounts.models import AccountGrant, PamAccount
from accounts.tokens import token_create
from audit.models import AuditEvent
from pam_demo import seed
from pam_demo.aws_standin import revocation_denial
from resources.aws import iam, sts
from sessions_app.models import ConsoleSession, Kind, Status

from . import test_browser as _browser
from .factories import AccountFactory, ResourceFactory

ROOT = Path(__file__).resolve().parent.parent
# STS/IAM (moto) and the federation endpoint on loopback, test_browser.py's fixture: the
# live server's Access goes through them over HTTP.
aws_standins = _browser.aws_standins
READONLY = "Demo/sandbox/readonly"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo(aws_standins, alice, tmp_path):
    """Project Demo, resource sandbox, accounts readonly (standing), admin (eligible) and
    broken, granted to the user `demo`: as `./dev run --demo` builds them."""
    seed.seed(logins_file=tmp_path / "logins.txt")
    return PamAccount.objects.select_related("resource__project").get(name="readonly")


@pytest.fixture
def demo_user(demo):
    return AccountGrant.objects.get(account=demo).user


@pytest.fixture
def token(demo_user) -> str:
    return token_create(user=demo_user, name="laptop", scope="access")[1]


class Laptop:
    """A home folder and the `pam` command, as a person's computer runs it."""

    def __init__(self, tmp_path: Path, server: str) -> None:
        self.home = tmp_path / "home"
        self.config_home = tmp_path / "xdg"
        self.home.mkdir()
        self.server = server
        self.opened = tmp_path / "opened.txt"
        # $BROWSER, as Python's webbrowser module runs it: the URL as its argument.
        self.browser = tmp_path / "browser"
        self.browser.write_text(
            f"#!{sys.executable}\nimport pathlib, sys\n"
            f"pathlib.Path({str(self.opened)!r}).write_text(sys.argv[1])\n"
        )
        self.browser.chmod(0o700)

    @property
    def env(self) -> dict[str, str]:
        return {
            "PATH": os.environ["PATH"],
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.config_home),
            "PYTHONPATH": str(ROOT),
            "BROWSER": str(self.browser),
            "LANG": "C.UTF-8",
        }

    def pam(
        self, *args: str, stdin: str = "", env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "pam_cli", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env={**self.env, **(env or {})},
            cwd=self.home,
            timeout=120,
        )

    def login(self, token: str) -> subprocess.CompletedProcess:
        done = self.pam("login", self.server, stdin=token + "\n")
        assert done.returncode == 0, done.stderr
        return done

    @property
    def config(self) -> Path:
        return self.config_home / "pam" / "config.json"


@pytest.fixture
def laptop(tmp_path, live_server) -> Laptop:
    return Laptop(tmp_path, live_server.url)


def one_line_error(done: subprocess.CompletedProcess) -> str:
    """A failure is one `pam: ...` line on stderr, nothing on stdout, no traceback."""
    assert done.returncode != 0
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pam: "), done.stderr
    return lines[0]


# --- login ---------------------------------------------------------------------------------


def test_login_checks_the_token_and_stores_it_readable_only_by_the_user(laptop, token):
    done = laptop.login(token)

    assert json.loads(laptop.config.read_text()) == {"url": laptop.server, "token": token}
    assert stat.S_IMODE(laptop.config.stat().st_mode) == 0o600
    assert stat.S_IMODE(laptop.config.parent.stat().st_mode) == 0o700
    # Nothing else left behind (the temporary file of the atomic write is renamed).
    assert [p.name for p in laptop.config.parent.iterdir()] == ["config.json"]
    assert "Token 'laptop': scope access" in done.stderr
    assert token not in done.stdout + done.stderr


def test_login_refuses_a_bad_token_and_keeps_the_old_one(laptop, token, demo_user):
    laptop.login(token)
    before = laptop.config.read_text()
    refused = laptop.pam("login", laptop.server, stdin="pam_" + "x" * 40 + "\n")
    assert "refused the token: Invalid, expired or revoked token" in one_line_error(refused)
    assert laptop.config.read_text() == before
    # Not a token at all, or http to a remote host: refused before anything is sent.
    assert "starts with pam_" in one_line_error(laptop.pam("login", laptop.server, stdin="x\n"))
    remote = laptop.pam("login", "http://pam.example.com", stdin=token + "\n")
    assert "use https" in one_line_error(remote)
    assert remote.returncode == 2


def test_a_read_token_is_told_what_it_cannot_do(laptop, demo_user):
    _, read = token_create(user=demo_user, name="reader", scope="read")
    done = laptop.login(read)
    assert "scope read" in done.stderr and "scope access" in done.stderr
    refused = laptop.pam("console", READONLY)
    assert 'This token\'s scope is "read"; this needs scope "access".' in one_line_error(refused)
    assert refused.returncode == 1


def test_the_environment_overrides_the_file(laptop, token, demo):
    done = laptop.pam("accounts", env={"PAM_URL": laptop.server, "PAM_TOKEN": token})
    assert done.returncode == 0, done.stderr
    assert READONLY in done.stdout
    assert not laptop.config.exists()
    assert "not logged in" in one_line_error(laptop.pam("accounts"))


# --- accounts ------------------------------------------------------------------------------


def test_accounts_lists_what_the_user_may_access(laptop, token, demo, alice):
    laptop.login(token)
    account_services.account_update(account=demo, actor=alice, allow_cli_credentials=True)
    done = laptop.pam("accounts")
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split() == ["ID", "ACCOUNT", "GRANT", "SESSION", "MFA", "CLI", "DESCRIPTION"]
    by_name = {row.split()[1]: row.split() for row in rows}
    assert set(by_name) == {"Demo/sandbox/admin", "Demo/sandbox/broken", READONLY}
    assert by_name[READONLY][:4] == [str(demo.pk), READONLY, "standing", "30m"]
    assert by_name[READONLY][4] == "yes"  # CLI credentials
    assert by_name["Demo/sandbox/admin"][2] == "eligible"

    listed = json.loads(laptop.pam("accounts", "--json").stdout)
    assert {a["path"]: a["allow_cli_credentials"] for a in listed} == {
        "Demo/sandbox/admin": False,
        "Demo/sandbox/broken": False,
        READONLY: True,
    }


def test_an_unknown_or_ambiguous_account_lists_the_candidates(laptop, token, demo, demo_user):
    laptop.login(token)
    unknown = laptop.pam("console", "nosuch")
    line = one_line_error(unknown)
    assert unknown.returncode == 2
    assert "no account 'nosuch'" in line and f"{READONLY} (id {demo.pk})" in line

    # A second `readonly`, in another resource: the bare name no longer says which.
    other = ResourceFactory(
        project=demo.resource.project,
        name="prod",
        resource_role_arn=demo.resource.resource_role_arn,
    )
    twin = AccountFactory(resource=other, name="readonly", target_role_arn=demo.target_role_arn)
    AccountGrant.objects.create(account=twin, user=demo_user)
    ambiguous = laptop.pam("console", "readonly")
    line = one_line_error(ambiguous)
    assert ambiguous.returncode == 2
    assert "ambiguous" in line
    assert f"Demo/prod/readonly (id {twin.pk})" in line and f"{READONLY} (id {demo.pk})" in line
    assert one_line_error(laptop.pam("console", "a/b/c/d")).startswith("pam: ACCOUNT 'a/b/c/d'")
    hidden = laptop.pam("console", "999999")
    assert "no account with id 999999 that you can see" in one_line_error(hidden)
    assert hidden.returncode == 2
    assert not ConsoleSession.objects.exists()
    assert not laptop.opened.exists()

    # Qualified, or by id, it is one account again.
    by_path = laptop.pam("console", "sandbox/readonly")
    by_id = laptop.pam("console", str(twin.pk))
    assert (by_path.returncode, by_id.returncode) == (0, 0), by_path.stderr + by_id.stderr
    assert list(ConsoleSession.objects.order_by("pk").values_list("account_id", flat=True)) == [
        demo.pk,
        twin.pk,
    ]


# --- console -------------------------------------------------------------------------------


def test_console_opens_the_sign_in_url_in_the_browser_and_never_prints_it(
    laptop, token, demo, aws_standins
):
    laptop.login(token)
    done = laptop.pam("console", READONLY)
    assert done.returncode == 0, done.stderr

    url = laptop.opened.read_text()
    assert url.startswith(f"{aws_standins.federation.url}/federation?Action=login&")
    assert url not in done.stdout + done.stderr and "SigninToken" not in done.stderr
    assert done.stdout == ""
    session = ConsoleSession.objects.get()
    assert (session.kind, session.status, session.account_id) == (
        Kind.CONSOLE,
        Status.ACTIVE,
        demo.pk,
    )
    assert f"console session {session.pk}" in done.stderr
    assert session.user_agent.startswith("pam-cli/")
    # The link signs in, once, as the account's Target Role, named after the user.
    console = requests.get(url, timeout=10)
    assert console.status_code == 200
    assert "<dd id='role'>pam-demo-readonly</dd>" in console.text
    assert "<dd id='session-name'>demo.user@example.com</dd>" in console.text
    assert requests.get(url, timeout=10).status_code == 400  # used


def test_console_print_writes_the_url_to_stdout_only(laptop, token, demo, aws_standins):
    laptop.login(token)
    done = laptop.pam("console", READONLY, "--print")
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip()
    assert url.startswith(f"{aws_standins.federation.url}/federation?Action=login&")
    assert url not in done.stderr
    assert not laptop.opened.exists()


def test_console_region_and_service_pass_through_and_a_refusal_names_the_field(
    laptop, token, demo, alice
):
    laptop.login(token)
    account_services.account_update(
        account=demo, actor=alice, allowed_regions=["eu-west-1"], allowed_services=["s3"]
    )
    refused = laptop.pam("console", READONLY, "--region", "ap-south-1")
    line = one_line_error(refused)
    assert line.startswith("pam: region: ") and "eu-west-1" in line
    refused = laptop.pam("console", READONLY, "--service", "ec2")
    assert one_line_error(refused).startswith("pam: service: ")
    assert not ConsoleSession.objects.exists()

    done = laptop.pam("console", READONLY, "--region", "eu-west-1", "--service", "s3")
    assert done.returncode == 0, done.stderr
    session = ConsoleSession.objects.get()
    assert (session.region, session.service) == ("eu-west-1", "s3")
    assert "Destination=https%3A%2F%2Feu-west-1.console.aws.amazon.com%2Fs3%2F" in (
        laptop.opened.read_text()
    )


def test_a_failed_access_is_one_line_naming_the_step(laptop, token, demo):
    laptop.login(token)
    failed = laptop.pam("console", "broken")
    line = one_line_error(failed)
    assert line.startswith("pam: Access failed at step target_role (AccessDenied)")
    session = ConsoleSession.objects.get()
    assert f"[console session {session.pk}]" in line and session.status == Status.FAILED


def test_a_server_that_is_down_is_one_line(laptop, token):
    done = laptop.pam("accounts", env={"PAM_URL": "http://127.0.0.1:9", "PAM_TOKEN": token})
    assert "cannot reach http://127.0.0.1:9" in one_line_error(done)


# --- request, sessions, revoke ---------------------------------------------------------


def test_request_asks_for_a_window(laptop, token, demo, demo_user):
    laptop.login(token)
    # The server's rules, named by field, on one line; nothing is asked.
    too_long = laptop.pam("request", "admin", "--reason", "x", "--duration", "20h")
    assert one_line_error(too_long).startswith("pam: duration: ")
    bad_start = laptop.pam(
        "request", "admin", "--reason", "x", "--duration", "1h", "--start", "tomorrow"
    )
    assert one_line_error(bad_start).startswith("pam: starts_at: ")
    assert not AccessRequest.objects.exists()

    done = laptop.pam(
        "request", "admin", "--reason", "deploy the fix", "--duration", "2h", "--ticket", "INC-7"
    )
    assert done.returncode == 0, done.stderr
    made = AccessRequest.objects.get()
    assert (made.status, made.requester, made.account.name) == (
        RequestStatus.PENDING,
        demo_user,
        "admin",
    )
    assert (made.reason, made.ticket, made.duration_seconds) == ("deploy the fix", "INC-7", 7200)
    assert done.stdout.startswith(f"Request {made.pk} on admin: pending")


def test_sessions_lists_and_revoke_revokes(laptop, token, demo, demo_user):
    laptop.login(token)
    assert laptop.pam("console", READONLY).returncode == 0
    session = ConsoleSession.objects.get()

    listed = laptop.pam("sessions")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split() == ["ID", "STARTED", "USER", "ACCOUNT", "KIND", "STATUS", "ENDS"]
    cells = row.split()
    assert cells[0] == str(session.pk)
    assert cells[3:7] == ["demo.user@example.com", READONLY, "console", "active"]
    assert "left" in row

    # Without a reason, and nobody at a terminal to ask: refused before the server.
    no_reason = laptop.pam("revoke", str(session.pk))
    assert "--reason" in one_line_error(no_reason) and no_reason.returncode == 2
    done = laptop.pam("revoke", str(session.pk), "--reason", "done for today")
    assert done.returncode == 0, done.stderr
    session.refresh_from_db()
    assert (session.status, session.revoke_reason, session.revoked_by) == (
        Status.REVOKED,
        "done for today",
        demo_user,
    )
    assert done.stdout.strip().endswith(": revoked.")
    assert "revoked" in laptop.pam("sessions", "--status", "revoked").stdout
    assert "No sessions." in laptop.pam("sessions", "--status", "active").stderr

    again = laptop.pam("revoke", "999999", "--reason", "x")
    assert one_line_error(again) == "pam: no session 999999 that you can see"
    assert again.returncode == 2


# --- credentials: credential_process for real ------------------------------------------


def aws_profile(laptop: Laptop, account: str) -> boto3.Session:
    """A botocore session whose only credentials are a profile's credential_process
    running `pam credentials`: what a person puts in ~/.aws/config."""
    config = laptop.home / ".aws" / "config"
    config.parent.mkdir()
    config.write_text(
        "[profile pam]\n"
        f"credential_process = {sys.executable} -m pam_cli credentials {account}\n"
        "region = us-east-1\n"
    )
    session = botocore.session.Session()
    session.set_config_variable("config_file", str(config))
    # An explicit profile: botocore then ignores the test process's own AWS keys.
    session.set_config_variable("profile", "pam")
    return boto3.Session(botocore_session=session)


def assumed_roles() -> int:
    return sum(
        len(backend.assumed_roles)
        for by_partition in sts_backends.values()
        for backend in by_partition.values()
    )


def test_credential_process_gives_the_aws_cli_the_target_roles_session(
    laptop, token, demo, alice, aws_standins, monkeypatch
):
    laptop.login(token)
    account_services.account_update(account=demo, actor=alice, allow_cli_credentials=True)
    # botocore runs credential_process with this process's environment.
    for name, value in laptop.env.items():
        monkeypatch.setenv(name, value)
    profile = aws_profile(laptop, READONLY)

    caller = profile.client("sts", endpoint_url=aws_standins.aws.url).get_caller_identity()

    account_id = demo.target_role_arn.split(":")[4]
    assert caller["Arn"] == (
        f"arn:aws:sts::{account_id}:assumed-role/pam-demo-readonly/demo.user@example.com"
    )
    session = ConsoleSession.objects.get()
    assert (session.kind, session.status) == (Kind.CREDENTIALS, Status.ACTIVE)
    keys = profile.get_credentials().get_frozen_credentials()
    assert keys.access_key == session.access_key_id
    assert aws_standins.federation_app.token_requests == []  # no federation step

    # Listed with its kind, and revoked like any session: IAM now denies its userid.
    listed = laptop.pam("sessions")
    assert "credentials" in listed.stdout.splitlines()[1].split()
    done = laptop.pam("revoke", str(session.pk), "--reason", "laptop lost")
    assert done.returncode == 0, done.stderr
    session.refresh_from_db()
    assert session.status == Status.REVOKED
    assert revocation_denial(session.access_key_id, session.activated_at) is not None
    hop1 = sts.assume_resource_role(
        role_arn=session.resource_role_arn,
        external_id=demo.resource.project.external_id,
        session_name="cli-test",
        duration_seconds=900,
    )
    [statement] = iam.read_revocation_policy(credentials=hop1.credentials, target_role=demo.role)[
        "Statement"
    ]
    assert statement["Condition"]["StringEquals"]["aws:userid"] == session.assumed_role_id


def test_credential_process_is_refused_where_cli_credentials_are_off(
    laptop, token, demo, aws_standins, monkeypatch
):
    laptop.login(token)
    assert demo.allow_cli_credentials is False
    before = assumed_roles()

    direct = laptop.pam("credentials", READONLY)
    line = one_line_error(direct)
    assert "allow_cli_credentials" in line and direct.returncode == 1

    for name, value in laptop.env.items():
        monkeypatch.setenv(name, value)
    profile = aws_profile(laptop, READONLY)
    with pytest.raises(CredentialRetrievalError) as refused:
        profile.client("sts", endpoint_url=aws_standins.aws.url).get_caller_identity()
    # botocore reports the process's failure with what it said.
    assert "allow_cli_credentials" in str(refused.value)

    assert assumed_roles() == before  # nothing reached AWS
    assert not ConsoleSession.objects.exists()
    assert (
        AuditEvent.objects.filter(
            action="access_refused", changes__rule="allow_cli_credentials"
        ).count()
        == 2
    )
