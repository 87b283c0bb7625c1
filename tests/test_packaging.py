"""`pip install .` builds a wheel that holds the whole app: every package, the templates
and the static files, and it runs from that install without the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ["pam_project", "audit", "identity", "resources", "accounts", "sessions_app", "pam_cli"]

FROM_THE_INSTALL = """
import django, pathlib, sys
django.setup()
import pam_project
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.template.loader import get_template
assert pathlib.Path(pam_project.__file__).is_relative_to(sys.argv[1]), pam_project.__file__
for name in ("base.html", "accounts/home.html", "sessions_app/account_detail.html",
             "admin/sessions_app/consolesession/change_list.html"):
    get_template(name)
for name in ("pam/pam.css", "pam/copy.js"):
    assert finders.find(name), name
call_command("check")
print("ok")
"""


def test_the_package_list_names_every_package_of_the_tree():
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    in_tree = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for app in APPS
        for init in (ROOT / app).rglob("__init__.py")
    }
    assert in_tree <= listed
    assert {"pam_project.templates", "pam_project.static"} <= listed


def test_an_installed_copy_runs_without_the_checkout(tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "--target",
            str(target),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    elsewhere = tmp_path / "run"
    elsewhere.mkdir()
    env = {
        "PATH": os.environ["PATH"],
        # The installed packages, and the dependencies of this interpreter; not the checkout.
        "PYTHONPATH": str(target),
        "DJANGO_SETTINGS_MODULE": "pam_project.settings",
        "SECRET_KEY": "probe",
        "HOME": str(tmp_path),
        "PAM_VAR_DIR": str(tmp_path / "state"),
    }
    refused = subprocess.run(
        [sys.executable, "-c", FROM_THE_INSTALL, str(target)],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env={k: v for k, v in env.items() if k != "PAM_VAR_DIR"},
    )
    # Without PAM_VAR_DIR an installed copy refuses to start, saying what to set.
    assert refused.returncode != 0 and "PAM_VAR_DIR is not set" in refused.stderr
    out = subprocess.run(
        [sys.executable, "-c", FROM_THE_INSTALL, str(target)],
        check=True,
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
    )
    assert out.stdout.strip().endswith("ok")
    # What it writes at run time goes to PAM_VAR_DIR, not into site-packages or ./var.
    assert not (target / "var").exists() and not (elsewhere / "var").exists()
    assert (tmp_path / "state" / "celery-queue").is_dir()
    # The `pam` command for people (README "Command line") is installed with it.
    pam = subprocess.run(
        [str(target / "bin" / "pam"), "--version"],
        check=True,
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env=env,
    )
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert pam.stdout.strip() == f"pam {version}"
