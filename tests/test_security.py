"""The production profile, security headers, cookies and login brute-force protection."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from .factories import PASSWORD

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(60),
    "ALLOWED_HOSTS": "pam.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://pam.example.com",
    "PAM_HTTPS": "true",
    "PAM_PUBLIC_URL": "https://pam.example.com",
}


def test_the_production_profile_passes_check_deploy_with_no_warnings(tmp_path):
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "pam_project.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        **PRODUCTION_ENV,
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_pages_carry_a_strict_policy_and_the_usual_headers(client, bob):
    client.force_login(bob)
    response = client.get("/")
    csp = dict(
        part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";")
    )
    assert csp["script-src"] == "'self'"  # no inline script, no other origin
    assert csp["style-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    assert csp["object-src"] == "'none'" and csp["base-uri"] == "'none'"
    assert "https://signin.aws.amazon.com" in csp["form-action"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_the_access_response_is_neither_cached_nor_referred(client, federation, account, bob):
    client.force_login(bob)
    response = client.post(reverse("account-access", args=[account.pk]))
    assert response.status_code == 302
    assert "no-store" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "no-referrer"


def test_cookies_are_http_only_and_secure_over_https(settings, bob):
    settings.PAM_HTTPS = True
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = settings.SECURE_HSTS_PRELOAD = True
    client = Client()
    page = client.get("/login/", secure=True)
    assert page["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    csrf = page.cookies["csrftoken"]
    assert csrf["secure"] and csrf["httponly"]
    response = client.post("/login/", {"username": "bob", "password": PASSWORD}, secure=True)
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["secure"] and session["httponly"] and session["samesite"] == "Lax"


@pytest.mark.parametrize(
    ("login_url", "username"), [("/login/", "bob"), ("/admin/login/", "alice")]
)
def test_repeated_wrong_passwords_lock_that_username(db, bob, alice, login_url, username):
    client = Client(REMOTE_ADDR="198.51.100.7")
    statuses = [
        client.post(login_url, {"username": username, "password": "wrong"}).status_code
        for _ in range(5)
    ]
    assert statuses == [200, 200, 200, 200, 429]  # the 5th failure locks
    locked = client.post(login_url, {"username": username, "password": PASSWORD})
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    # From any address: guesses spread over many addresses are still 5 guesses
    # (tests/test_lockout.py has the per-address lock and the cool-off).
    other = Client(REMOTE_ADDR="203.0.113.9")
    assert other.post(login_url, {"username": username, "password": PASSWORD}).status_code == 429
