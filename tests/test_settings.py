"""Configuration comes only from the environment; nothing set means embedded defaults."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from django.contrib.auth.models import User
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, django
from django.conf import settings
django.setup()
from pam_project import celery_app
db = settings.DATABASES["default"]
print(json.dumps({
    "engine": db["ENGINE"], "name": db["NAME"], "host": db.get("HOST"),
    "cache": settings.CACHES["default"]["BACKEND"],
    "broker": celery_app.conf.broker_url,
    "transport": celery_app.conf.broker_transport_options,
    "serializer": celery_app.conf.task_serializer, "accept": celery_app.conf.accept_content,
    "debug": settings.DEBUG,
}))
"""


def settings_under(env: dict[str, str], tmp_path: Path) -> dict:
    clean = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "pam_project.settings",
        "SECRET_KEY": "probe",
        "HOME": str(tmp_path),
        **env,
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=clean,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_with_nothing_set_it_runs_on_sqlite_locmem_and_a_filesystem_broker(tmp_path):
    got = settings_under({}, tmp_path)
    assert got["engine"] == "django.db.backends.sqlite3"
    assert got["name"].endswith("var/db.sqlite3")
    assert got["cache"] == "django.core.cache.backends.locmem.LocMemCache"
    assert got["broker"] == "filesystem://"
    assert got["debug"] is False
    assert (got["serializer"], got["accept"]) == ("json", ["json"])


def test_database_and_broker_urls_switch_to_postgresql_and_redis(tmp_path):
    got = settings_under(
        {
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test",
            "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
        },
        tmp_path,
    )
    assert got["engine"] == "django.db.backends.postgresql"
    assert (got["name"], got["host"]) == ("test", "127.0.0.1")
    assert got["broker"] == "redis://127.0.0.1:6379/0"
    assert got["transport"]["visibility_timeout"] > 3600
    assert got["transport"]["socket_timeout"] <= 1


def test_ensure_admin_creates_one_admin_with_a_private_random_password(db, tmp_path):
    path = tmp_path / "admin-password.txt"
    call_command("ensure_admin", password_file=path)
    password = path.read_text().strip()
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(password)
    assert len(password) >= 16
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    call_command("ensure_admin", password_file=tmp_path / "again.txt")
    assert User.objects.count() == 1
    assert not (tmp_path / "again.txt").exists()


def startup(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    clean = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "pam_project.settings",
        "SECRET_KEY": "probe",
        "HOME": str(tmp_path),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        check=False,
    )


def test_production_refuses_a_federation_endpoint_that_is_not_aws(tmp_path):
    for url in (
        "http://127.0.0.1:9000",
        "https://signin.aws.amazon.com.attacker.io/federation",
        "https://internal.example.com/federation",
    ):
        result = startup({"PAM_SIGNIN_URL": url}, tmp_path)
        assert result.returncode != 0
        assert "is not an AWS sign-in endpoint" in result.stderr
        assert "PAM_DEMO=true" in result.stderr


def test_aws_endpoints_and_the_demo_stand_in_are_accepted(tmp_path):
    assert (
        startup(
            {"PAM_SIGNIN_URL": "https://us-east-1.signin.aws.amazon.com/federation"}, tmp_path
        ).returncode
        == 0
    )
    assert (
        startup({"PAM_SIGNIN_URL": "https://signin.amazonaws.cn/federation"}, tmp_path).returncode
        == 0
    )
    assert (
        startup(
            {"PAM_SIGNIN_URL": "http://127.0.0.1:9000", "PAM_DEMO": "true"}, tmp_path
        ).returncode
        == 0
    )


PUBLISH = """
import django
django.setup()
from datetime import UTC, datetime
from sessions_app.scheduling import schedule_expiry
assert schedule_expiry(1, datetime(2030, 1, 1, tzinfo=UTC))
"""


def test_the_filesystem_broker_writes_only_under_var_whatever_the_working_directory(tmp_path):
    """kombu's filesystem transport keeps its exchange table in ./control of the working
    directory unless told otherwise: publishing from elsewhere must leave nothing there."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    var = tmp_path / "var"
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "pam_project.settings",
        "SECRET_KEY": "probe",
        "HOME": str(tmp_path),
        "PAM_VAR_DIR": str(var),
    }
    subprocess.run(
        [sys.executable, "-c", PUBLISH], cwd=elsewhere, env=env, check=True, capture_output=True
    )
    assert list(elsewhere.iterdir()) == []
    assert len(list((var / "celery-queue").iterdir())) == 1  # the message itself
    assert (var / "celery-control" / "celery.exchange").is_file()


def test_identity_settings_that_cannot_work_stop_the_start_with_a_clear_message(tmp_path):
    idp = {
        "PAM_OIDC_ISSUER": "https://idp.example.test",
        "PAM_OIDC_CLIENT_ID": "pam",
        "PAM_OIDC_CLIENT_SECRET": "s",
    }
    for env, says in (
        ({"PAM_LOCAL_LOGIN": "sometimes"}, "PAM_LOCAL_LOGIN must be all, superusers or off"),
        ({"PAM_LOCAL_LOGIN": "off"}, "nobody could sign in"),
        ({**idp, "PAM_OIDC_CLIENT_SECRET": ""}, "PAM_OIDC_CLIENT_SECRET are needed too"),
        ({**idp, "PAM_OIDC_ISSUER": "http://idp.example.test"}, "must be an https:// URL"),
    ):
        result = startup(env, tmp_path)
        assert result.returncode != 0, env
        assert says in result.stderr, result.stderr
    assert startup({**idp, "PAM_LOCAL_LOGIN": "off"}, tmp_path).returncode == 0
