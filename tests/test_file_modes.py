"""Run-time files are the app's alone (issue 16): var/ is owner-only (0700) and the
SQLite database, whose session table holds the keys of signed-in sessions, 0600,
whatever the umask the app starts under."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import pam_project.settings as conf

ROOT = Path(__file__).resolve().parent.parent


def manage(command: str, var: Path, umask: int) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "pam_project.settings",
        "HOME": str(var.parent),
        "PAM_VAR_DIR": str(var),
        # No DATABASE_URL, CELERY_BROKER_URL or SECRET_KEY: the embedded defaults, all
        # of which write under var/.
    }
    subprocess.run(
        [sys.executable, "manage.py", command, *(["--noinput"] if command == "migrate" else [])],
        cwd=ROOT,
        env=env,
        umask=umask,
        check=True,
        capture_output=True,
        text=True,
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(
    ("command", "umask"), [("migrate", 0o022), ("check", 0o002)], ids=["migrate-022", "check-002"]
)
def test_var_and_the_sqlite_database_are_created_owner_only(tmp_path, command, umask):
    var = tmp_path / "state"
    manage(command, var, umask)

    assert mode(var) == 0o700
    database = var / "db.sqlite3"
    assert mode(database) == 0o600
    assert mode(var / "secret_key") == 0o600
    if command == "migrate":  # the file made beforehand became the real database
        with sqlite3.connect(database) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        assert {"django_session", "sessions_app_consolesession"} <= tables


def test_an_existing_database_is_tightened_and_an_operators_directory_left_alone(tmp_path):
    """A PAM_VAR_DIR that exists is the operator's (it may be shared on purpose); the
    database in it is the app's, made world-readable by an earlier version."""
    var = tmp_path / "state"
    var.mkdir()
    var.chmod(0o755)
    database = var / "db.sqlite3"
    database.touch()
    database.chmod(0o644)

    manage("check", var, 0o022)

    assert mode(database) == 0o600
    assert mode(var) == 0o755


def test_the_checkouts_own_var_is_tightened(tmp_path, monkeypatch):
    """./var of a checkout is the app's: earlier versions made it with the umask."""
    var = tmp_path / "var"
    var.mkdir()
    var.chmod(0o755)
    monkeypatch.setattr(conf, "VAR_DIR", var)
    monkeypatch.setattr(conf, "_var_dir", "")  # no PAM_VAR_DIR: the checkout's default
    conf._private_var_dir()
    assert mode(var) == 0o700

    var.chmod(0o755)
    monkeypatch.setattr(conf, "_var_dir", str(var))  # named by PAM_VAR_DIR: the operator's
    conf._private_var_dir()
    assert mode(var) == 0o755
