"""Red team: `pam` against a hostile server and a hostile local user.

The command talks to whatever URL `pam login` was given, and reads a file in the
person's home: both are inputs. Here a server on loopback answers what an attacker (or
a project admin writing an account's description) would, and the command must neither
hand anything to a third party, nor let the answer drive the terminal or the browser,
nor fall over with a traceback.

Most runs are in-process (`main(argv, Context(...))`, the same code `pam` runs); the
browser one is a subprocess, as Python's webbrowser reads $BROWSER once per process.
"""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pam_cli import config as config_file
from pam_cli.commands import Context
from pam_cli.main import main
from pam_demo.servers import serve_wsgi

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "pam_" + "T0kenValue" * 4

# What an attacker would put in a string the command prints: clear the screen, set the
# window title, write the clipboard (OSC 52), and flip the text's direction (U+202E).
ESCAPES = "\x1b[2J\x1b]0;owned\x07\x1b]52;c;cm0gLXJmIH4=\x07\u202e\x9b31m"


def assert_no_control(text: str) -> None:
    for char in text:
        assert char in "\n\t" or not (
            ord(char) < 32 or 127 <= ord(char) < 160 or char in "\u202a\u202b\u202c\u202d\u202e"
        ), f"control character {char!r} printed: {text!r}"


@dataclass
class Hostile:
    """A server on loopback answering canned bodies by (method, path), recording what
    it was asked, with which headers."""

    url: str
    routes: dict[tuple[str, str], tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    asked: list[tuple[str, str, str]] = field(default_factory=list)

    def answer(self, method: str, path: str, body: object, status: int = 200, **headers: str):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
        self.routes[(method, path)] = (status, headers, data)


def _app(server: Hostile) -> Callable:
    def app(environ: dict, start_response: Callable) -> list[bytes]:
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        server.asked.append((method, path, environ.get("HTTP_AUTHORIZATION", "")))
        query = environ.get("QUERY_STRING", "")
        missing = (404, {}, b'{"detail":"x"}')
        if len(server.asked) > 200:  # a command that loops ends here, not in a hang
            missing = (503, {}, b'{"detail":"asked 200 times"}')
            server.routes.clear()
        status, headers, body = server.routes.get(
            (method, f"{path}?{query}"), server.routes.get((method, path), missing)
        )
        start_response(f"{status} X", [*headers.items(), ("Content-Length", str(len(body)))])
        return [body]

    return app


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    server = Hostile(url="")
    running = serve_wsgi(_app(server))
    server.url = running.url
    yield server
    running.stop()


@pytest.fixture
def elsewhere() -> Iterator[Hostile]:
    """A third party the hostile server points the command at: must hear nothing."""
    server = Hostile(url="")
    running = serve_wsgi(_app(server))
    server.url = running.url
    yield server
    running.stop()


@dataclass
class Ran:
    code: int
    out: str
    err: str


def pam(*argv: str, env: dict[str, str], stdin: str = "") -> Ran:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), Context(env=env, stdin=io.StringIO(stdin), stdout=out, stderr=err))
    return Ran(code, out.getvalue(), err.getvalue())


def one_line(ran: Ran) -> str:
    assert ran.code != 0 and ran.out == ""
    lines = ran.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pam: "), ran.err
    return lines[0]


@pytest.fixture
def home(tmp_path) -> dict[str, str]:
    return {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}


@pytest.fixture
def env(hostile, home) -> dict[str, str]:
    return {**home, "PAM_URL": hostile.url, "PAM_TOKEN": TOKEN}


def accounts_listing(hostile: Hostile, **account: object) -> None:
    hostile.answer("GET", "/api/v1/resources/", [{"id": 1, "name": "sandbox", "project": 1}])
    hostile.answer("GET", "/api/v1/projects/", [{"id": 1, "name": "Demo"}])
    row = {"id": 7, "name": "readonly", "resource": 1, "granted": True, "grant_kind": "standing"}
    hostile.answer("GET", "/api/v1/accounts/", [{**row, **account}])


# --- terminal escape sequences -----------------------------------------------------------


def test_escape_sequences_in_what_the_server_says_never_reach_the_terminal(hostile, env):
    # An account's description is free text a project admin writes; the server's
    # refusals, a session's fields, a redirect's Location are the server's words.
    accounts_listing(hostile, description=f"read only{ESCAPES}", session_duration="30m")
    listed = pam("accounts", env=env)
    assert listed.code == 0, listed.err
    assert "read only" in listed.out
    assert_no_control(listed.out + listed.err)

    hostile.answer("POST", "/api/v1/accounts/7/access/", {"detail": f"no{ESCAPES}"}, 403)
    refused = pam("console", "7", env=env)
    assert one_line(refused).startswith("pam: no")
    assert_no_control(refused.err)

    hostile.answer(
        "GET",
        "/api/v1/sessions/",
        [
            {
                "id": 1,
                "user_email": f"eve{ESCAPES}@example.com",
                "project_name": f"Demo{ESCAPES}",
                "status": "failed",
                "error_code": f"X{ESCAPES}",
                "kind": f"console{ESCAPES}",
            }
        ],
    )
    sessions = pam("sessions", env=env)
    assert sessions.code == 0, sessions.err
    assert "eve" in sessions.out
    assert_no_control(sessions.out + sessions.err)

    hostile.answer(
        "POST",
        "/api/v1/sessions/1/revoke/",
        {"id": 1, "account_name": ESCAPES, "status": "revoked", "revocation_error": ESCAPES},
    )
    revoked = pam("revoke", "1", "--reason", "x", env=env)
    assert revoked.code == 0
    assert_no_control(revoked.out + revoked.err)


@pytest.mark.django_db(transaction=True)
def test_a_description_a_project_admin_wrote_reaches_members_as_text(
    live_server, home, bob, settings
):
    """The same through the real server: nothing in the app stops a project admin from
    writing escape sequences into an account's description, which every granted member's
    `pam accounts` then prints."""
    from accounts.tokens import token_create

    from .factories import AccountFactory, GrantFactory

    account = AccountFactory(description=f"Prod read-only{ESCAPES}")
    GrantFactory(account=account, user=bob)
    _, raw = token_create(user=bob, name="laptop", scope="read")
    listed = pam("accounts", env={**home, "PAM_URL": live_server.url, "PAM_TOKEN": raw})
    assert listed.code == 0, listed.err
    assert "Prod read-only" in listed.out
    assert_no_control(listed.out)


# --- the browser ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "signin_url",
    [
        # Python's webbrowser passes the URL as the browser command's argument: one
        # starting with "-" is an option to it (CPython gh-143930, fixed after 3.11.7).
        "--renderer-cmd-prefix=touch /tmp/owned",
        "file:///etc/passwd",
        "javascript:alert(1)",
        # A sign-in token over plain http to a remote host: readable on the way.
        "http://signin.example.com/federation?Action=login&SigninToken=x",
    ],
)
def test_console_opens_only_a_web_address_the_server_answers(hostile, env, tmp_path, signin_url):
    opened = tmp_path / "argv.json"
    browser = tmp_path / "browser"
    browser.write_text(
        f"#!{sys.executable}\nimport json, pathlib, sys\n"
        f"pathlib.Path({str(opened)!r}).write_text(json.dumps(sys.argv[1:]))\n"
    )
    browser.chmod(0o700)
    browser = str(browser)
    hostile.answer(
        "POST",
        "/api/v1/accounts/7/access/",
        {"session_id": 1, "signin_url": signin_url, "expires_at": None},
    )
    for extra in ([], ["--print"]):
        done = subprocess.run(
            [sys.executable, "-m", "pam_cli", "console", "7", *extra],
            capture_output=True,
            text=True,
            env={**env, "PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "BROWSER": browser},
            timeout=60,
        )
        assert "Traceback" not in done.stderr
        assert done.returncode == 1, done.stdout + done.stderr
        assert done.stdout == "" and "sign-in URL" in done.stderr
        assert not opened.exists(), opened.read_text()


def test_console_still_opens_an_https_sign_in_url(hostile, env, tmp_path):
    url = "https://signin.aws.amazon.com/federation?Action=login&SigninToken=abc"
    hostile.answer("POST", "/api/v1/accounts/7/access/", {"session_id": 1, "signin_url": url})
    printed = pam("console", "7", "--print", env=env)
    assert (printed.code, printed.out) == (0, url + "\n")


# --- the token -----------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [TOKEN + "\nsecond-line", TOKEN[:20] + " " + TOKEN[20:]])
def test_a_malformed_token_is_refused_without_being_shown_or_sent(hostile, home, bad):
    ran = pam("accounts", env={**home, "PAM_URL": hostile.url, "PAM_TOKEN": bad})
    line = one_line(ran)
    assert "PAM_TOKEN" in line and "pam_" in line
    for part in bad.split():
        assert part[4:] not in ran.err
    assert hostile.asked == []

    # The same token in the file `pam login` writes (edited by hand, say).
    path = config_file.config_path(home)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"url": hostile.url, "token": bad}))
    path.chmod(0o600)
    ran = pam("accounts", env=home)
    assert "token" in one_line(ran)
    for part in bad.split():
        assert part[4:] not in ran.err
    assert hostile.asked == []


# --- the configuration file ----------------------------------------------------------------


def write_config(home: dict[str, str], url: str, mode: int) -> Path:
    path = config_file.config_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    path.write_text(json.dumps({"url": url, "token": TOKEN}))
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o666, 0o620, 0o602])
def test_a_config_file_others_can_write_is_not_trusted(hostile, home, mode):
    """Whoever can write the file chooses the server the token (and the AWS CLI's
    trust) goes to: refused, as ssh refuses such a config, naming the fix."""
    accounts_listing(hostile)
    path = write_config(home, hostile.url, mode)
    line = one_line(pam("accounts", env=home))
    assert str(path) in line and "chmod 600" in line
    assert hostile.asked == []
    # Not for the environment's URL: the file's token is still not used from it.
    ran = pam("accounts", env={**home, "PAM_URL": hostile.url})
    assert ran.code != 0 and hostile.asked == []
    # With both in the environment the file is not read at all.
    ran = pam("accounts", env={**home, "PAM_URL": hostile.url, "PAM_TOKEN": TOKEN})
    assert ran.code == 0, ran.err


def test_a_config_file_of_another_user_is_not_trusted(hostile, home, monkeypatch):
    accounts_listing(hostile)
    path = write_config(home, hostile.url, 0o600)
    monkeypatch.setattr(config_file.os, "geteuid", lambda: path.stat().st_uid + 1)
    line = one_line(pam("accounts", env=home))
    assert str(path) in line and "owned by" in line
    assert hostile.asked == []


def test_a_private_config_file_works_and_one_readable_by_others_warns(hostile, home, capsys):
    accounts_listing(hostile)
    path = write_config(home, hostile.url, 0o600)
    ran = pam("accounts", env=home)
    assert (ran.code, ran.err, capsys.readouterr().err) == (0, "", "")
    path.chmod(0o644)
    ran = pam("accounts", env=home)
    assert ran.code == 0 and "readable by others" in capsys.readouterr().err


def test_login_never_follows_a_symlink_at_the_config_path(hostile, home, tmp_path):
    """A link at config.json (to a file others read) is replaced, not written through:
    the token lands only in a new 0600 file."""
    hostile.answer("GET", "/api/v1/tokens/", [{"prefix": TOKEN[:12], "scope": "access"}])
    elsewhere = tmp_path / "shared.txt"
    elsewhere.write_text("")
    elsewhere.chmod(0o644)
    path = config_file.config_path(home)
    path.parent.mkdir(parents=True)
    path.symlink_to(elsewhere)
    ran = pam("login", hostile.url, env=home, stdin=TOKEN + "\n")
    assert ran.code == 0, ran.err
    assert elsewhere.read_text() == ""
    assert not path.is_symlink() and stat.S_IMODE(path.stat().st_mode) == 0o600


# --- odd answers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "method", "path", "body"),
    [
        (["accounts"], "GET", "/api/v1/accounts/", [1, 2]),
        (["accounts"], "GET", "/api/v1/accounts/", {"results": [{"id": "x"}]}),
        (["accounts"], "GET", "/api/v1/accounts/", "a string"),
        (["sessions"], "GET", "/api/v1/sessions/", [{"no": "id"}]),
        (["console", "7"], "POST", "/api/v1/accounts/7/access/", []),
        (["console", "7"], "POST", "/api/v1/accounts/7/access/", {"session_id": 1}),
        (["revoke", "1", "--reason", "x"], "POST", "/api/v1/sessions/1/revoke/", [1]),
        (["request", "7", "--reason", "r", "--duration", "1h"], "POST", "/api/v1/requests/", 7),
    ],
)
def test_an_odd_answer_is_one_line_not_a_traceback(hostile, env, argv, method, path, body):
    accounts_listing(hostile)
    hostile.answer(method, path, body)
    line = one_line(pam(*argv, env=env))
    assert "answer" in line


def test_login_with_an_odd_token_list_is_one_line(hostile, home):
    hostile.answer("GET", "/api/v1/tokens/", ["not", "rows"])
    one_line(pam("login", hostile.url, env=home, stdin=TOKEN + "\n"))


# --- bad input on the command line ---------------------------------------------------------


def test_bad_input_is_one_line_naming_what_is_wrong(hostile, env, home, tmp_path):
    accounts_listing(hostile)
    # "²".isdigit() is True, and int("²") a ValueError: a name, then, that names nothing.
    ran = pam("console", "²", env=env)
    assert "no account '²'" in one_line(ran) and ran.code == 2
    hostile.asked.clear()
    for url in ("https://[::1", "https://pam.example.com:99999999"):
        ran = pam("login", url, env=home, stdin=TOKEN + "\n")
        assert "URL" in one_line(ran) and ran.code == 2
        ran = pam("accounts", env={**home, "PAM_URL": url, "PAM_TOKEN": TOKEN})
        assert "URL" in one_line(ran)
    assert hostile.asked == []
    # Where the config folder should be, a file: login says it cannot write there.
    hostile.answer("GET", "/api/v1/tokens/", [])
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "pam").write_text("")
    ran = pam("login", hostile.url, env={**home, "XDG_CONFIG_HOME": str(blocked)}, stdin=TOKEN)
    assert "cannot write" in one_line(ran)


# --- what holds ----------------------------------------------------------------------------


def test_a_redirect_elsewhere_is_not_followed_and_the_token_stays_home(hostile, elsewhere, env):
    hostile.answer(
        "POST",
        "/api/v1/accounts/7/credentials/",
        b"",
        302,
        Location=f"{elsewhere.url}/api/v1/accounts/7/credentials/",
    )
    line = one_line(pam("credentials", "7", env=env))
    assert "redirects to" in line and "pam login" in line
    assert elsewhere.asked == []


def test_a_next_page_elsewhere_is_read_from_the_server_itself(hostile, elsewhere, env):
    hostile.answer("GET", "/api/v1/resources/", [{"id": 1, "name": "sandbox", "project": 1}])
    hostile.answer("GET", "/api/v1/projects/", [{"id": 1, "name": "Demo"}])
    hostile.answer(
        "GET",
        "/api/v1/accounts/",
        {"results": [], "next": f"{elsewhere.url}/steal/?page=2"},
    )
    hostile.answer("GET", "/api/v1/accounts/?page=2", {"results": [], "next": None})
    pam("accounts", env=env)
    assert elsewhere.asked == []
    assert all(path.startswith("/api/v1/") for _, path, _ in hostile.asked)


def test_credentials_print_one_json_line_and_write_no_file(hostile, env, tmp_path):
    keys = {
        "Version": 1,
        "AccessKeyId": "ASIAEXAMPLE000000000",
        "SecretAccessKey": "secret/" + "s" * 33,
        "SessionToken": "token" * 20,
        "Expiration": "2030-01-01T00:00:00Z",
        "Extra": "dropped",
    }
    hostile.answer("POST", "/api/v1/accounts/7/credentials/", keys)
    before = sorted(tmp_path.rglob("*"))
    ran = pam("credentials", "7", env=env)
    assert ran.code == 0 and ran.err == ""
    assert ran.out.count("\n") == 1
    assert json.loads(ran.out) == {k: v for k, v in keys.items() if k != "Extra"}
    assert sorted(tmp_path.rglob("*")) == before
    assert [a[2] for a in hostile.asked] == [f"Bearer {TOKEN}"]


def test_a_next_page_that_loops_ends_in_one_line(hostile, env):
    """A `next` link back to a page already read (a hostile server, or a broken proxy
    answering the first page again) must not keep pam, or the AWS CLI waiting on
    `pam credentials NAME`, reading the same rows forever."""
    hostile.answer("GET", "/api/v1/resources/", [{"id": 1, "name": "sandbox", "project": 1}])
    hostile.answer("GET", "/api/v1/projects/", [{"id": 1, "name": "Demo"}])
    row = {"id": 7, "name": "readonly", "resource": 1, "granted": True}
    hostile.answer("GET", "/api/v1/accounts/", {"results": [row], "next": f"{hostile.url}/?page=2"})
    hostile.answer(
        "GET", "/api/v1/accounts/?page=2", {"results": [row], "next": f"{hostile.url}/?page=1"}
    )
    hostile.answer(
        "GET", "/api/v1/accounts/?page=1", {"results": [row], "next": f"{hostile.url}/?page=2"}
    )
    for argv in (["accounts"], ["credentials", "Demo/sandbox/readonly"]):
        line = one_line(pam(*argv, env=env))
        assert "page" in line
    assert len(hostile.asked) < 20
