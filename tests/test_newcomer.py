"""The defects a newcomer's walk through the app found (issue 17), each pinned down."""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.views import defaults

from resources.models import Project, generate_external_id
from sessions_app.failures import retry_when

from .factories import PASSWORD, ProjectFactory, ProjectRoleFactory, UserFactory


def csp(response) -> dict[str, list[str]]:
    """The response's Content-Security-Policy, directive -> sources."""
    return {
        name: sources
        for name, *sources in (
            part.split() for part in response["Content-Security-Policy"].split(";") if part.strip()
        )
    }


def test_swagger_ui_runs_its_init_script_from_a_file_under_the_strict_csp(client, db):
    page = client.get("/api/docs/")
    html = page.content.decode()
    # The init script is fetched from the same URL, not written inline.
    assert '<script src="/api/docs/?script=' in html
    assert "<script>" not in html and "<style>" not in html
    assert csp(page)["script-src"] == ["'self'"]
    assert csp(page)["style-src"] == ["'self'"]

    script = client.get("/api/docs/", {"script": ""})
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle(" in script.content.decode()


def test_redoc_alone_may_use_inline_styles_and_blob_workers_never_inline_scripts(client, db):
    page = client.get("/api/redoc/")
    html = page.content.decode()
    assert "<redoc spec-url=" in html and "<script>" not in html
    assert "fonts.googleapis.com" not in html
    policy = csp(page)
    assert policy["script-src"] == ["'self'"]
    assert "'unsafe-inline'" in policy["style-src"]
    assert policy["worker-src"] == ["blob:"]
    # The relaxation is the Redoc page's alone.
    for other in ("/api/docs/", "/login/"):
        policy = csp(client.get(other))
        assert "'unsafe-inline'" not in policy["style-src"], other
        assert "worker-src" not in policy, other


# --- The error pages: the app's layout, and a way back ------------------------------


def test_a_404_is_the_apps_page_with_its_nav_and_a_way_home(client, bob):
    client.force_login(bob)
    page = client.get("/no-such-page/")
    assert page.status_code == 404
    html = page.content.decode()
    assert "Page not found" in html
    assert "pam/pam.css" in html and '<nav aria-label="Main">' in html
    assert '<a href="/">Back to your accounts</a>' in html


def test_a_404_for_someone_signed_out_still_has_the_layout(client, db):
    page = client.get("/no-such-page/")
    assert page.status_code == 404
    assert "pam/pam.css" in page.content.decode()
    assert "Back to your accounts" in page.content.decode()


def test_a_403_says_why_and_offers_the_way_home(client, db):
    # A staff member with no project role (ops) opening the accounts admin.
    ops = UserFactory(username="ops", is_staff=True)
    client.force_login(ops)
    page = client.get("/admin/accounts/pamaccount/")
    assert page.status_code == 403
    html = page.content.decode()
    assert "Not allowed" in html and "pam/pam.css" in html
    assert '<a href="/">Back to your accounts</a>' in html


def test_the_500_page_renders_from_djangos_empty_context(rf):
    """server_error renders 500.html with no request and no context processors: the page
    must not need them (no user, no nav), and still lead home."""
    response = defaults.server_error(rf.get("/"))
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong" in html and "pam/pam.css" in html
    assert '<a href="/">Back to your accounts</a>' in html
    assert "<nav" not in html


# --- The home page's hint to the admin ----------------------------------------------


ADMIN_HINT = "Grants are made on each account in the"


@pytest.mark.parametrize("who", ["superuser", "project admin"])
def test_who_may_add_grants_is_pointed_to_the_admin_without_being_told_to_grant_themself(
    client, db, who
):
    if who == "superuser":
        user = UserFactory(is_staff=True, is_superuser=True)
    else:
        user = UserFactory(is_staff=True)
        ProjectRoleFactory(user=user, role="admin")
    client.force_login(user)
    html = client.get("/").content.decode()
    assert ADMIN_HINT in html
    assert 'href="/admin/accounts/pamaccount/"' in html
    assert "yourself" not in html
    assert "ask another admin to grant you one" in html


@pytest.mark.parametrize("role", [None, "auditor", "approver"])
def test_staff_who_may_not_add_grants_get_no_link_to_a_403(client, db, role):
    ops = UserFactory(is_staff=True)
    if role:
        ProjectRoleFactory(user=ops, role=role)
    client.force_login(ops)
    html = client.get("/").content.decode()
    assert "No AWS accounts granted to you yet" in html
    assert ADMIN_HINT not in html and "/admin/accounts/pamaccount/" not in html
    assert "yourself" not in html
    # The link they no longer see is indeed closed to them (for an auditor, it is not:
    # they read the accounts, but cannot add a grant there).
    if role is None:
        assert client.get("/admin/accounts/pamaccount/").status_code == 403


# --- The rate-limit page: this app's limit, and when to try again -------------------


def test_the_rate_limit_page_says_it_is_this_apps_limit_and_when_to_try_again(
    federation, account, bob, client, settings
):
    settings.PAM_ACCESS_RATE = (1, 3600)
    client.force_login(bob)
    access = reverse("account-access", args=[account.pk])
    assert client.post(access).status_code == 302
    with time_machine.travel(datetime(2026, 12, 2, 14, 0, 30, tzinfo=UTC), tick=False):
        refused = client.post(access)
    assert refused.status_code == 429
    html = refused.content.decode()
    assert "AWS said" not in html
    assert "this app's own limit on Access attempts, not an answer from AWS" in html
    wait = int(refused["Retry-After"])
    assert f"Try again in {math.ceil(wait / 60)} minutes, after " in html
    assert " UTC." in html


def test_retry_when_words_seconds_and_rounds_the_clock_time_up():
    now = datetime(2026, 12, 2, 14, 0, 30, tzinfo=UTC)
    assert retry_when(1, now) == "in 1 second"
    assert retry_when(42, now) == "in 42 seconds"
    assert retry_when(60, now) == "in 1 minute, after 14:02 UTC"  # 14:01:30 -> 14:02
    assert retry_when(3600, now.replace(second=0)) == "in 60 minutes, after 15:00 UTC"


# --- External IDs a command line can take ---------------------------------------------


def test_generated_external_ids_never_start_with_a_dash_and_keep_the_rules():
    # The old form started with `-` one time in 64: 3000 draws would all but surely show it.
    for _ in range(3000):
        external_id = generate_external_id()
        assert not external_id.startswith("-"), external_id
        # STS: 2..1224 of [\w+=,.@:/-]; the model column holds 64.
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{32}", external_id), external_id
        assert re.fullmatch(r"[\w+=,.@:/-]{2,1224}", external_id)
        assert len(external_id) <= Project._meta.get_field("external_id").max_length


def test_a_projects_existing_external_id_is_kept(db):
    project = ProjectFactory()
    Project.objects.filter(pk=project.pk).update(external_id="-Old-generated-id-0123456789abcdef")
    project.refresh_from_db()
    project.description = "edited"
    project.save()
    project.refresh_from_db()
    assert project.external_id == "-Old-generated-id-0123456789abcdef"


# --- /favicon.ico ---------------------------------------------------------------------


def test_favicon_ico_leads_to_the_apps_icon(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    icon = client.get(response["Location"])
    assert icon.status_code == 200
    assert icon["Content-Type"] == "image/svg+xml"
    assert b"<svg" in b"".join(icon.streaming_content)
    # And the pages name it, so browsers need not guess.
    assert response["Location"] in client.get("/login/").content.decode()


# --- ./dev's help, and ./dev run's ----------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
BASH = shutil.which("bash") or "/bin/bash"


def dev(*args: str) -> subprocess.CompletedProcess[str]:
    # Only commands that print and exit: help needs no venv, and nothing is started.
    return subprocess.run(
        [BASH, str(ROOT / "dev"), *args], capture_output=True, text=True, timeout=30
    )


@pytest.mark.parametrize("args", [(), ("help",), ("--help",)])
def test_dev_help_is_the_header_comment_and_ends_with_it(args):
    done = dev(*args)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.rstrip("\n").splitlines()
    assert lines[0].startswith("Developer entry point.")
    assert lines[-1].strip().startswith("./dev manage")
    assert not any(line.startswith(("set ", "#")) for line in lines), lines
    assert "./dev run --help" in done.stdout


def test_dev_refuses_an_unknown_command():
    done = dev("frobnicate")
    assert done.returncode != 0
    assert "unknown command: frobnicate" in done.stderr


def test_dev_run_help_explains_port_and_host_with_their_defaults():
    """What `./dev run --help` prints: ./dev execs this module with the arguments (run
    directly here, so the test never installs into the venv or starts anything)."""
    env = {k: v for k, v in os.environ.items() if k != "PORT"}
    done = subprocess.run(
        [sys.executable, "-m", "pam_project.runner", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    assert "--port PORT port of the web server (default: 8000" in text
    assert "--host HOST address to listen on (default: 127.0.0.1" in text


# --- The lockout page: when it ends, and the way back ---------------------------------


def test_the_lockout_page_says_when_sign_in_reopens_and_leads_back_to_it(db, bob):
    client = Client(REMOTE_ADDR="192.0.2.7")
    with time_machine.travel(datetime(2030, 1, 7, 9, 0, 20, tzinfo=UTC), tick=False):
        answers = [
            client.post("/login/", {"username": "bob", "password": "wrong"}) for _ in range(5)
        ]
    assert answers[-1].status_code == 429
    html = answers[-1].content.decode()
    assert "Too many failed sign-ins" in html  # the page's own wording is kept
    # 09:00:20 + 15 minutes, rounded up to the minute.
    assert "Try again after <strong>09:16 UTC</strong> (7 Jan 2030)" in html
    assert '<a href="/login/">Back to sign-in</a>' in html

    # An attempt later in the lock starts the cool-off again, and the page says so.
    with time_machine.travel(datetime(2030, 1, 7, 9, 10, 0, tzinfo=UTC), tick=False):
        again = client.post("/login/", {"username": "bob", "password": PASSWORD})
    assert again.status_code == 429
    assert "Try again after <strong>09:25 UTC</strong>" in again.content.decode()
    with time_machine.travel(datetime(2030, 1, 7, 9, 25, 1, tzinfo=UTC), tick=False):
        assert client.post("/login/", {"username": "bob", "password": PASSWORD}).status_code == 302
