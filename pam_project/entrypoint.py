"""The container's entry point, `pam-entrypoint <command> [args]` (Dockerfile, compose.yaml).

  web          gunicorn on 0.0.0.0:$PORT (8000): $WEB_CONCURRENCY workers x $WEB_THREADS
  worker       a Celery worker ($WORKER_CONCURRENCY processes; default one per CPU)
  beat         Celery beat: exactly ONE in the whole deployment (two run every schedule twice)
  migrate      apply the migrations (idempotent: a second run changes nothing)
  check        Django's system checks with --deploy (add --fail-level WARNING to be strict)
  healthcheck  GET /healthz on this container's web server; exit 0 on 200 (HEALTHCHECK)
  anything else goes to django-admin: createsuperuser, sessions, revoke, shell, ...

Extra arguments after web, worker and beat go to gunicorn and Celery. Each command
replaces this process (exec), so gunicorn or Celery receive the container's signals
themselves. The module paths are ./dev run's (pam_project/runner.py): `pam_project.wsgi`
for gunicorn, the Celery app `pam_project` (pam_project/celery.py).
"""

from __future__ import annotations

import os
import shutil
import sys
import urllib.error
import urllib.request
from pathlib import Path

SETTINGS = "pam_project.settings"
# Commands whose processes serve users or run tasks: each needs the deployment's key.
NEEDS_SECRET_KEY = ("web", "worker", "beat")


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise SystemExit(f"pam-entrypoint: {name} must be a whole number (got {value!r})") from None
    if number < 1:
        raise SystemExit(f"pam-entrypoint: {name} must be at least 1 (got {number})")
    return number


def web_argv(extra: list[str]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "pam_project.wsgi",
        "--bind",
        f"0.0.0.0:{_env_int('PORT', 8000)}",
        "--workers",
        str(_env_int("WEB_CONCURRENCY", 2)),
        "--threads",
        str(_env_int("WEB_THREADS", 4)),
        # The workers' heartbeat files on tmpfs: on a container's overlay filesystem a
        # slow disk can make gunicorn think a busy worker hung.
        "--worker-tmp-dir",
        "/dev/shm" if Path("/dev/shm").is_dir() else "/tmp",  # noqa: S108
        # Access log to stdout, errors to stderr: the container's log driver keeps both.
        "--access-logfile",
        "-",
        "--error-logfile",
        "-",
        "--log-level",
        os.environ.get("LOG_LEVEL", "info").lower(),
        # Who may tell gunicorn the request came over HTTPS (X-Forwarded-Proto): the
        # proxy's address. Without it, PAM_HTTPS's redirect loops behind a TLS proxy.
        "--forwarded-allow-ips",
        os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1"),
        *extra,
    ]


CELERY = [sys.executable, "-m", "celery", "-A", "pam_project"]


def worker_argv(extra: list[str]) -> list[str]:
    argv = [*CELERY, "worker", "--loglevel", "INFO"]
    if os.environ.get("WORKER_CONCURRENCY", "").strip():
        argv += ["--concurrency", str(_env_int("WORKER_CONCURRENCY", 1))]
    return [*argv, *extra]


def beat_argv(extra: list[str]) -> list[str]:
    # The schedule file is settings.CELERY_BEAT_SCHEDULE_FILENAME, under PAM_VAR_DIR;
    # losing it only makes the minute sweeps run once at start.
    return [*CELERY, "beat", "--loglevel", "INFO", *extra]


def django_argv(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "django", *args]


def argv_for(command: str, extra: list[str]) -> list[str]:
    if command == "web":
        return web_argv(extra)
    if command == "worker":
        return worker_argv(extra)
    if command == "beat":
        return beat_argv(extra)
    if command == "migrate":
        return django_argv(["migrate", "--noinput", *extra])
    if command == "check":
        return django_argv(["check", "--deploy", *extra])
    return django_argv([command, *extra])


def healthcheck() -> int:
    """0 when this container's web server answers /healthz with 200, else 1.

    The Host header is the first of ALLOWED_HOSTS: with ALLOWED_HOSTS=pam.example.com
    Django answers 400 to a request for 127.0.0.1, which would mark a healthy node sick.
    """
    hosts = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
    host = hosts[0].lstrip(".") if hosts and hosts[0] != "*" else "localhost"
    request = urllib.request.Request(
        f"http://127.0.0.1:{_env_int('PORT', 8000)}/healthz", headers={"Host": host}
    )
    try:
        # A fixed http URL on loopback, never one from input.
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            ok = response.status == 200
    except (urllib.error.URLError, OSError) as exc:
        print(f"pam-entrypoint: /healthz failed: {exc}", file=sys.stderr)
        return 1
    return 0 if ok else 1


def _reset_prometheus_dir() -> None:
    """prometheus-client's multiprocess directory must start empty at each start, or the
    counters of the previous run's processes are added to this one's."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip()
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        Path(folder).mkdir(mode=0o700, parents=True, exist_ok=True)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(__doc__.strip())
        return 0
    command, extra = args[0], args[1:]
    if command == "healthcheck":
        return healthcheck()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS)
    if command in NEEDS_SECRET_KEY and not os.environ.get("SECRET_KEY", "").strip():
        # Without it each container would make its own key under PAM_VAR_DIR, and users
        # would be signed out whenever the load balancer picked another container.
        print(
            f"pam-entrypoint: SECRET_KEY is not set; {command} needs the deployment's key, "
            "the same in every container (see .env.example)",
            file=sys.stderr,
        )
        return 2
    if command == "web":
        _reset_prometheus_dir()
    full = argv_for(command, extra)
    sys.stdout.flush()
    os.execv(full[0], full)  # noqa: S606 (this project's own commands, fixed argument lists)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
