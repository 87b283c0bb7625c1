# syntax=docker/dockerfile:1
# One image for every process of the app (web, worker, beat, migrate, check): the command
# given to pam-entrypoint (pam_project/entrypoint.py) chooses. compose.yaml runs them all.

# --- builder: the app as a wheel, and a venv holding exactly the runtime lock ------------
FROM python:3.11-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
# The lock alone first: this slow layer is rebuilt only when the lock changes.
COPY requirements.lock ./
# Hash-checked and --no-deps, as ./dev installs: exactly the pins of requirements.lock,
# nothing resolved (or swapped) at build time. requirements-dev.lock (tests, linters) is
# not the image's.
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --require-hashes --no-deps -r requirements.lock

COPY . .
# The app itself as the wheel `pip install .` builds (templates and static files inside,
# tests/test_packaging.py); --no-deps: its dependencies are the lock's, installed above.
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/venv/bin/pip install --no-deps /wheels/*.whl

# --- runtime: the venv, a non-root user, the collected static files ----------------------
FROM python:3.11-slim

# A fixed uid, never root: code running as root could rewrite the app or the image's
# Python; a fixed number lets volumes and runAsUser/runAsNonRoot (Kubernetes) name it.
ARG PAM_UID=10001
# PAM_VAR_DIR: an installed copy refuses to start without it (settings.py). Owner-only
# (0700), as settings.py makes the checkout's var/: it may hold SQLite and the broker's
# files when DATABASE_URL and CELERY_BROKER_URL are not set.
RUN groupadd --system --gid "${PAM_UID}" pam \
 && useradd --system --uid "${PAM_UID}" --gid pam --home-dir /var/lib/pam --no-create-home \
      --shell /usr/sbin/nologin pam \
 && install -d -m 0700 -o pam -g pam /var/lib/pam

COPY --from=builder /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=pam_project.settings \
    PAM_VAR_DIR=/var/lib/pam \
    PORT=8000

# Numeric, so an orchestrator can tell it is not root without reading /etc/passwd.
USER ${PAM_UID}:${PAM_UID}
WORKDIR /var/lib/pam

# Static files at build time, into the image: whitenoise serves them from
# PAM_VAR_DIR/staticfiles (STATIC_ROOT of an installed copy), so PAM_VAR_DIR here is the
# run-time one, not a throwaway. The settings need a SECRET_KEY to load: this one exists
# for this command only and is not in the image's environment (every deployment sets its
# own). The in-memory database and broker keep the import from leaving an empty SQLite
# file or broker folders behind. No VOLUME on PAM_VAR_DIR: Docker fills a new named
# volume from the image once, so a later image's static files would be hidden by the
# first one's; with DATABASE_URL, CELERY_BROKER_URL and SECRET_KEY set nothing there
# needs to outlive the container (docs/deployment.md, "Containers").
RUN SECRET_KEY=build-only-collectstatic DATABASE_URL=sqlite://:memory: \
    CELERY_BROKER_URL=memory:// python -m django collectstatic --noinput -v0

EXPOSE 8000
# Python, not curl (slim has none): GET /healthz on $PORT, with an allowed Host header.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["pam-entrypoint", "healthcheck"]
ENTRYPOINT ["pam-entrypoint"]
CMD ["web"]
