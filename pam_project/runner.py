"""`./dev run`: prepare the database, make sure an admin exists, start web + worker.

With nothing configured this runs on SQLite and a filesystem Celery broker, with a worker
(with embedded beat) started beside the web server, so expiries are recorded with no Redis.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# As settings.py has it: PAM_VAR_DIR, else the checkout's var/.
VAR = Path(os.environ.get("PAM_VAR_DIR") or ROOT / "var").resolve()
PASSWORD_FILE = VAR / "admin-password.txt"
DEMO_PASSWORD_FILE = VAR / "demo-admin-password.txt"


def _shown(path: Path) -> Path:
    try:
        return path.relative_to(ROOT)
    except ValueError:
        return path


def manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], check=True, env=env, cwd=ROOT)


def ensure_admin(env: dict[str, str], password_file: Path) -> str:
    """Create `admin` with a random password if there is no superuser; say how to log in."""
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "ensure_admin",
            "--password-file",
            str(password_file),
        ],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    where = _shown(password_file)
    if result.stdout.strip() == "created":
        return f"Sign in as admin / {password_file.read_text().strip()} (saved in {where})"
    if password_file.exists():
        return f"Sign in as admin (password in {where}) or any account you created"
    return "Sign in with your admin account (reset: ./dev manage changepassword <name>)"


def _stop(children: list[subprocess.Popen]) -> None:
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="./dev run",
        description="Migrate, make sure an admin exists, and start the web server with a "
        "Celery worker (and beat) beside it.",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("PORT", "8000")),
        help="port of the web server (default: %(default)s, from $PORT when set)",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: %(default)s, this machine only; 0.0.0.0 for all)",
    )
    parser.add_argument(
        "--no-worker",
        action="store_true",
        help="do not start the Celery worker (run your own against Redis)",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="run against local AWS stand-ins, with demo data and users",
    )
    args = parser.parse_args(argv)

    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "pam_project.settings")
    env.setdefault("PAM_PUBLIC_URL", f"http://{args.host}:{args.port}")
    children: list[subprocess.Popen] = []
    try:
        if args.demo:
            from pam_demo.run import start_demo

            demo = start_demo(env)
            children.extend(demo.processes)

        manage("migrate", "--noinput", "-v0", env=env)
        manage("collectstatic", "--noinput", "-v0", env=env)
        # The demo has its own database, so its own admin.
        login = ensure_admin(env, DEMO_PASSWORD_FILE if args.demo else PASSWORD_FILE)
        if args.demo:
            from pam_demo.run import seed_demo

            seed_demo(demo, env)

        # The demo's terminal shows its banner and nothing else: the worker's and the web
        # server's own output go to log files (pam_demo/run.py names them).
        logs: dict[str, Path] = {}
        if args.demo:
            from pam_demo.run import log_file

            logs = {"web": log_file(env, "web"), "worker": log_file(env, "worker")}

        def output(name: str) -> dict:
            if name not in logs:
                return {}
            handle = logs[name].open("a")
            return {"stdout": handle, "stderr": subprocess.STDOUT}

        if not args.no_worker:
            children.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "celery",
                        "-A",
                        "pam_project",
                        "worker",
                        "--beat",
                        "--pool",
                        "solo",
                        "--loglevel",
                        "INFO",
                        "--schedule",
                        str(VAR / "celerybeat-schedule"),
                    ],
                    env=env,
                    cwd=ROOT,
                    **output("worker"),
                )
            )
        web = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "pam_project.wsgi",
                "--bind",
                f"{args.host}:{args.port}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--access-logfile",
                "-",
                "--log-level",
                "info",
            ],
            env=env,
            cwd=ROOT,
            **output("web"),
        )
        children.append(web)

        url = f"http://{args.host}:{args.port}/"
        if args.demo:
            from pam_demo.run import banner as demo_banner
            from pam_demo.run import wait_for_port

            # The banner once the app answers, so that it is the last thing on the screen.
            wait_for_port(args.port, web, "the web server")
            saved = DEMO_PASSWORD_FILE
            password = saved.read_text().strip() if saved.exists() else None
            lines = demo_banner(demo, url=url, admin_password=password, logs=list(logs.values()))
        else:
            time.sleep(1.5)
            lines = [f"AWS Console PAM is running at {url}", login]
            lines.append(f"Admin: {url}admin/    Stop: Ctrl-C")
        print("\n" + "=" * 72, flush=True)
        for line in lines:
            print(f"  {line}".rstrip(), flush=True)
        print("=" * 72 + "\n", flush=True)
    except BaseException:
        # A part that did not start (a port, a migration): stop the parts that did.
        _stop(children)
        raise

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.5)
    finally:
        _stop(children)
    failed = [c for c in children if c.returncode not in (0, -signal.SIGTERM, None)]
    if failed and not stopping and logs:
        print(f"A part of the demo stopped; its output is in {', '.join(map(str, logs.values()))}")
    return 1 if failed and not stopping else 0


if __name__ == "__main__":
    sys.exit(main())
