"""Settings, read from the environment once (12-factor).

With nothing set, the app runs on embedded defaults: SQLite under ./var, a local-memory
cache, and a Celery broker on the local filesystem, so clicking Access needs no server.
`DATABASE_URL` and `CELERY_BROKER_URL` switch to PostgreSQL and Redis.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import stat
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

from resources.aws.partitions import PARTITIONS, is_signin_host, signin_origins

from .brokers import transport_options
from .durations import UNIT_SECONDS

env = environ.Env()

PACKAGE_DIR = Path(__file__).resolve().parent
BASE_DIR = PACKAGE_DIR.parent
# A checkout keeps templates/ and static/ beside the apps; an installed wheel carries
# them inside this package (pyproject.toml maps them there).
CHECKOUT = (BASE_DIR / "manage.py").is_file()
TEMPLATES_DIR = BASE_DIR / "templates" if CHECKOUT else PACKAGE_DIR / "templates"
STATIC_DIR = BASE_DIR / "static" if CHECKOUT else PACKAGE_DIR / "static"
# What the app writes at run time (SQLite, the filesystem broker, the local secret key):
# ./var of the checkout, or PAM_VAR_DIR. An installed copy must be told: site-packages is
# no place for it, and a default relative to the working directory would give a web
# process and a worker started in different directories different keys and brokers.
_var_dir = env.str("PAM_VAR_DIR", default="")
if not _var_dir and not CHECKOUT:
    raise ImproperlyConfigured(
        "PAM_VAR_DIR is not set: an installed copy needs a directory for its run-time "
        "files (SQLite, the filesystem broker, the local secret key), e.g. /var/lib/pam."
    )
VAR_DIR = Path(_var_dir).resolve() if _var_dir else BASE_DIR / "var"
# Owner-only (0700), whatever the umask: the SQLite database (its session table holds
# the keys of signed-in sessions, each able to open consoles), the local secret key and
# the broker's messages are this app's alone.
_VAR_DIR_MODE = 0o700
# The SQLite database file itself (0600), in case var/ is ever opened up or the file
# copied out of it.
_SQLITE_FILE_MODE = 0o600


def _private_var_dir() -> None:
    """Create VAR_DIR owner-only if it is missing (every writer of run-time files finds it
    there). An existing one is tightened only if it is the checkout's own ./var, which
    earlier versions created with the umask (often 0755): a PAM_VAR_DIR that exists is
    the operator's, maybe shared on purpose (or /tmp), and not this app's to chmod.
    Where it cannot be created (a read-only tree that writes nothing there), nothing
    happens; whatever then needs it fails as it did before, saying what."""
    try:
        VAR_DIR.mkdir(mode=_VAR_DIR_MODE, parents=True)
        VAR_DIR.chmod(_VAR_DIR_MODE)  # mkdir's mode is filtered by the umask
    except FileExistsError:
        if not _var_dir:
            _tighten(VAR_DIR, _VAR_DIR_MODE)
    except OSError:
        pass


def _private_sqlite_file(name: object) -> None:
    """Create a SQLite database file owner-only before SQLite does, which would make it
    on first connect with the umask (often 0644: readable by every local user). An
    empty file is an empty database to SQLite, and the journal files it makes beside it
    take the database file's mode (SQLite's own rule). An existing file is tightened:
    made before this rule, it holds the same keys. Not :memory: or URI names; nothing
    when its directory is missing (SQLite then says so itself)."""
    if not isinstance(name, (str, Path)) or str(name) in ("", ":memory:"):
        return
    if str(name).startswith("file:"):
        return
    path = Path(name)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _SQLITE_FILE_MODE)
    except FileExistsError:
        _tighten(path, _SQLITE_FILE_MODE)
    except OSError:
        pass
    else:
        os.fchmod(fd, _SQLITE_FILE_MODE)  # as mkdir's, open's mode passes the umask
        os.close(fd)


def _tighten(path: Path, mode: int) -> None:
    """Drop group and other permissions from a file or directory this user owns."""
    try:
        st = path.stat()
        if st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) & 0o077:
            path.chmod(stat.S_IMODE(st.st_mode) & mode)
    except OSError:
        pass


_private_var_dir()


def _local_secret_key() -> str:
    """A random key kept in ./var for installs that set no SECRET_KEY.

    A fixed fallback key would let anyone who has read this repository forge session
    cookies of a deployment that forgot to set one; a per-process random key would log
    everybody out on every restart and differ between gunicorn workers.
    """
    path = VAR_DIR / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        VAR_DIR.mkdir(mode=_VAR_DIR_MODE, parents=True, exist_ok=True)
        key = secrets.token_urlsafe(50)
        path.touch(mode=0o600)
        path.write_text(key)
        return key


DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="") or _local_secret_key()
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # First, so its createsuperuser (which refuses a taken email) replaces Django's.
    "identity",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "csp",
    "axes",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "resources",
    "accounts",
    "access_requests",
    "sessions_app",
    "audit",
    # Second factor (mfa/): django-otp's device base, its passkey plugin, our devices.
    "django_otp",
    "django_otp_webauthn",
    "mfa",
    # Readiness and Prometheus metrics (operations/).
    "operations",
]

MIDDLEWARE = [
    # Outermost: the tasks a request publishes go once its response is out
    # (pam_project/publishing.py).
    "pam_project.publishing.DeferredPublishMiddleware",
    # Next, so every log line of a request (and the tasks it enqueues) carries its id.
    "pam_project.requestid.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "pam_project.middleware.DatabaseUnavailableMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "audit.context.AuditViaMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Staff pass a second factor before the admin (PAM_ADMIN_MFA, on with PAM_HTTPS).
    "mfa.middleware.StaffMfaMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "pam_project.middleware.CSPMiddleware",
    # Last, as django-axes requires: it answers locked-out logins.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # First: refuses credentials while their username or address is locked out (AXES_*).
    "axes.backends.AxesStandaloneBackend",
    # Passwords, within PAM_LOCAL_LOGIN.
    "identity.local.LocalPasswordBackend",
    # SSO: answers only the OIDC callback's authenticate(), and only when an IdP is set.
    "identity.oidc.PamOidcBackend",
]

ROOT_URLCONF = "pam_project.urls"
WSGI_APPLICATION = "pam_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [TEMPLATES_DIR],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                # The header's Approvals link (one lazy EXISTS query, when drawn).
                "access_requests.context_processors.nav",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    _private_sqlite_file(DATABASES["default"]["NAME"])
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles" if CHECKOUT else VAR_DIR / "staticfiles"
STATICFILES_DIRS = [STATIC_DIR]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Security ----------------------------------------------------------------------
# PAM_HTTPS=true is the production profile (served over HTTPS, directly or behind a
# proxy): secure cookies, HSTS, redirect to HTTPS. `manage.py check --deploy` then
# reports no issues (tested).
PAM_HTTPS = env.bool("PAM_HTTPS", default=False)
SECURE_SSL_REDIRECT = PAM_HTTPS and env.bool("SECURE_SSL_REDIRECT", default=True)
# Load balancers probe over plain HTTP inside the network; the answer holds nothing.
# The probes are answered over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
# Django's database store, its read written out (pam_project/sessions.py).
SESSION_ENGINE = "pam_project.sessions"
SESSION_COOKIE_SECURE = PAM_HTTPS
CSRF_COOKIE_SECURE = PAM_HTTPS
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600) if PAM_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = PAM_HTTPS
SECURE_HSTS_PRELOAD = PAM_HTTPS and env.bool("SECURE_HSTS_PRELOAD", default=True)
# Nothing in the app reads cookies from JavaScript.
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Whoever holds a signed-in browser can open consoles: sessions end after a work day.
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=12 * 3600)
# No Referer ever leaves for another origin. Not "no-referrer" site-wide: under it
# browsers send `Origin: null` with same-site form POSTs, which Django's CSRF check must
# refuse. The Access responses, which lead to the sign-in URL (a bearer credential), set
# "no-referrer" themselves.
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Login brute force (the site's login and the admin's share the count): 5 failures for
# one username, from any addresses, lock the username (one account guessed from many
# addresses), and 5 from one address, for any usernames, lock the address (one password
# sprayed over many accounts), for 15 minutes: a failure counts until it is 15 minutes
# old. A success clears its username's count and its address's. No pair entry
# (["username", "ip_address"]): axes has one limit for every entry, and a pair's
# failures count in both, so it would lock nothing more.
# Why 5 for both: people sign in by SSO; passwords are the first admin's and
# break-glass (or a small team's, without an IdP), so 5 failures in a row are far
# likelier an attack than typos. Per pair only (before issue 16), a new address per
# guess made the guesses unlimited. The price: anyone can lock a username out for 15
# minutes, break-glass included (`manage.py axes_reset_username NAME` lifts it), and
# behind a proxy PAM_TRUSTED_PROXIES does not count, all clients share its address.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)


def _axes_lockout_parameters(request_or_attempt: object, credentials: object = None) -> list:
    """["username", "ip_address"], but only "ip_address" for a failure that names no
    username (an authenticate() without one, as the OIDC callback's): axes would count
    every such failure, from anywhere, as one username, None, and 5 of them would lock
    out everyone's SSO."""
    from axes.helpers import get_client_username  # here: it needs the apps loaded

    if hasattr(request_or_attempt, "META"):
        username = get_client_username(request_or_attempt, credentials)
    else:  # an AccessAttempt
        username = getattr(request_or_attempt, "username", None)
    return ["username", "ip_address"] if username else ["ip_address"]


AXES_LOCKOUT_PARAMETERS = _axes_lockout_parameters
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "pam_project.http.client_ip"
AXES_VERBOSE = False

# --- Identity: SSO by OpenID Connect, and when passwords still work (SPEC "Identity") ---
# mozilla-django-oidc runs the code flow; identity/oidc.py reads the endpoints from the
# issuer's discovery document and checks the ID token (README "Single sign-on").
PAM_OIDC_ISSUER = env.str("PAM_OIDC_ISSUER", default="").rstrip("/")
PAM_OIDC_CLIENT_ID = env.str("PAM_OIDC_CLIENT_ID", default="")
PAM_OIDC_CLIENT_SECRET = env.str("PAM_OIDC_CLIENT_SECRET", default="")
PAM_OIDC_GROUPS_CLAIM = env.str("PAM_OIDC_GROUPS_CLAIM", default="groups")
PAM_OIDC_SCOPES = env.str("PAM_OIDC_SCOPES", default="openid email profile")
PAM_OIDC_NAME = env.str("PAM_OIDC_NAME", default="") or (
    urlsplit(PAM_OIDC_ISSUER).hostname or "your identity provider"
)
# Refuse an email the IdP does not mark verified (it becomes the CloudTrail session name).
PAM_OIDC_REQUIRE_EMAIL_VERIFIED = env.bool("PAM_OIDC_REQUIRE_EMAIL_VERIFIED", default=True)
# Seconds to wait for each answer of the IdP (discovery, token, keys, userinfo).
PAM_OIDC_TIMEOUT = env.float("PAM_OIDC_TIMEOUT", default=10.0)
if PAM_OIDC_ISSUER and not (PAM_OIDC_CLIENT_ID and PAM_OIDC_CLIENT_SECRET):
    raise ImproperlyConfigured(
        "PAM_OIDC_ISSUER is set: PAM_OIDC_CLIENT_ID and PAM_OIDC_CLIENT_SECRET are needed too"
    )
# The discovery document and the signing keys are trusted for what they say: only TLS
# stops a network attacker from answering with their own.
if (
    PAM_OIDC_ISSUER
    and not PAM_OIDC_ISSUER.startswith("https://")
    and not env.bool("PAM_DEMO", default=False)
):
    raise ImproperlyConfigured(
        f"PAM_OIDC_ISSUER must be an https:// URL (got {PAM_OIDC_ISSUER!r}); plain http "
        "is allowed only for the demo and tests (PAM_DEMO=true)"
    )
# all: anyone with a password; superusers: only them (break-glass); off: nobody.
PAM_LOCAL_LOGIN = env.str("PAM_LOCAL_LOGIN", default="superusers" if PAM_OIDC_ISSUER else "all")
if PAM_LOCAL_LOGIN not in ("all", "superusers", "off"):
    raise ImproperlyConfigured(
        f"PAM_LOCAL_LOGIN must be all, superusers or off (got {PAM_LOCAL_LOGIN!r})"
    )
if PAM_LOCAL_LOGIN == "off" and not PAM_OIDC_ISSUER:
    raise ImproperlyConfigured("PAM_LOCAL_LOGIN=off needs PAM_OIDC_ISSUER: nobody could sign in")
OIDC_RP_CLIENT_ID = PAM_OIDC_CLIENT_ID
OIDC_RP_CLIENT_SECRET = PAM_OIDC_CLIENT_SECRET
OIDC_RP_SCOPES = PAM_OIDC_SCOPES
OIDC_USE_NONCE = True
OIDC_USE_PKCE = True
OIDC_PKCE_CODE_CHALLENGE_METHOD = "S256"
OIDC_TIMEOUT = (min(PAM_OIDC_TIMEOUT, 5.0), PAM_OIDC_TIMEOUT)
# Never keep the IdP's tokens: nothing here calls the IdP on the person's behalf.
OIDC_STORE_ACCESS_TOKEN = False
OIDC_STORE_ID_TOKEN = False
# A person signed in through the IdP can be told how long ago; they are not sent back to
# it every 15 minutes (the SessionRefresh middleware is not installed).
OIDC_AUTHENTICATION_CALLBACK_URL = "oidc_authentication_callback"

# --- The product ----------------------------------------------------------------
# Base URL of this app as users reach it; used as the federation `Issuer` (where the
# console sends people when their session ends). Empty: derived from the request.
PAM_PUBLIC_URL = env.str("PAM_PUBLIC_URL", default="").rstrip("/")
# Who grants access, shown to users who have none yet (e.g. "#cloud-access on Slack").
PAM_ADMIN_CONTACT = env.str("PAM_ADMIN_CONTACT", default="")
# Set only by `./dev run --demo` and the tests: allows the local AWS stand-ins.
PAM_DEMO = env.bool("PAM_DEMO", default=False)
# Overrides the AWS federation endpoint (tests, demo). Empty: by partition.
PAM_SIGNIN_URL = env.str("PAM_SIGNIN_URL", default="")
_signin = urlsplit(PAM_SIGNIN_URL)
if (
    PAM_SIGNIN_URL
    and not PAM_DEMO
    and not (_signin.scheme == "https" and is_signin_host(_signin.hostname or ""))
):
    # The federation call carries live credentials: sending them to a stand-in, or to
    # any host that is not AWS's sign-in service, must be a deliberate demo, never a typo.
    raise ImproperlyConfigured(
        f"PAM_SIGNIN_URL={PAM_SIGNIN_URL!r} is not an AWS sign-in endpoint (https on "
        + " or ".join(p.signin_host for p in PARTITIONS.values())
        + "). Local stand-ins are only allowed with PAM_DEMO=true (./dev run --demo, tests)."
    )
# How many reverse proxies in front of the app append to X-Forwarded-For; 0 ignores it.
PAM_TRUSTED_PROXIES = env.int("PAM_TRUSTED_PROXIES", default=0)
# Access attempts per user: "<count>/<s|m|h>". Past it, Access answers 429 and the
# refusal is recorded. Counted from the Console Session rows, so it holds across web
# processes with no shared cache.
PAM_ACCESS_RATE_LIMIT = env.str("PAM_ACCESS_RATE_LIMIT", default="20/m")
_rate = re.fullmatch(r"(\d+)/([smh])", PAM_ACCESS_RATE_LIMIT.strip())
if _rate is None or int(_rate[1]) < 1:
    raise ImproperlyConfigured(
        f"PAM_ACCESS_RATE_LIMIT={PAM_ACCESS_RATE_LIMIT!r}: use <count>/<s|m|h>, e.g. 20/m."
    )
PAM_ACCESS_RATE = (int(_rate[1]), UNIT_SECONDS[_rate[2]])
# A pending Console Session older than this was left by a crashed request.
PAM_PENDING_TIMEOUT = timedelta(minutes=5)
# How many rows one sweep statement touches, so a backlog never holds long locks.
PAM_SWEEP_BATCH_SIZE = 5000

# --- Notifications (access_requests/notifications.py, README "Notifications") -------
# Mail goes through Django's mail: EMAIL_URL is smtp://user:password@host:25,
# smtp+tls://...:587 (STARTTLS) or smtp+ssl://...:465 (django-environ). With none set,
# mails are printed to the worker's output (consolemail://): nothing to configure for
# `./dev run`, nothing delivered until a deployment says where to.
_email = env.email_url("EMAIL_URL", default="consolemail://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
# django-environ answers None for what the URL leaves out; Django's defaults then hold.
EMAIL_HOST = _email.get("EMAIL_HOST") or "localhost"
EMAIL_PORT = _email.get("EMAIL_PORT") or 25
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER") or ""
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = bool(_email.get("EMAIL_USE_TLS"))
EMAIL_USE_SSL = bool(_email.get("EMAIL_USE_SSL"))
if _email.get("EMAIL_FILE_PATH"):
    EMAIL_FILE_PATH = _email["EMAIL_FILE_PATH"]
# Django waits forever on a mail server that accepts and never answers; a worker must not.
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=10.0)
DEFAULT_FROM_EMAIL = env.str("PAM_EMAIL_FROM", default="pam@localhost")
# A Slack incoming webhook (https://hooks.slack.com/services/...), or empty for none. The
# URL is itself the credential to post to the channel: it is never logged.
PAM_SLACK_WEBHOOK_URL = env.str("PAM_SLACK_WEBHOOK_URL", default="")
if PAM_SLACK_WEBHOOK_URL and not PAM_DEMO and urlsplit(PAM_SLACK_WEBHOOK_URL).scheme != "https":
    # Not echoed: the value is a secret.
    raise ImproperlyConfigured(
        "PAM_SLACK_WEBHOOK_URL must be an https:// URL; plain http is allowed only for the "
        "demo and tests (PAM_DEMO=true)"
    )

# --- Second factor (mfa/, README "Second factor (MFA)") ----------------------------
# Access to a require_mfa account needs a second-factor check this recent (SPEC: 5 min).
PAM_MFA_STEP_UP_SECONDS = 5 * 60
# Staff pass a second factor before any admin page: always in the production profile.
PAM_ADMIN_MFA = PAM_HTTPS or env.bool("PAM_ADMIN_MFA", default=False)
# Passkeys (WebAuthn): the relying party ID and the origins allowed to use it. Empty:
# PAM_PUBLIC_URL's host and origin, else the request's own (mfa/webauthn.py).
PAM_WEBAUTHN_RP_ID = env.str("PAM_WEBAUTHN_RP_ID", default="")
PAM_WEBAUTHN_ORIGINS = env.list("PAM_WEBAUTHN_ORIGINS", default=[])
OTP_WEBAUTHN_HELPER_CLASS = "mfa.webauthn.PamWebAuthnHelper"
OTP_WEBAUTHN_RP_ID_CALLABLE = "mfa.webauthn.rp_id"
OTP_WEBAUTHN_RP_NAME = "AWS Console PAM"
# A passkey is a second factor here, never a way to sign in without SSO or password.
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False
# Read by django-otp-webauthn's system checks only (https, or http://localhost); the
# helper decides per request as described above.
OTP_WEBAUTHN_ALLOWED_ORIGINS = PAM_WEBAUTHN_ORIGINS or [
    (
        PAM_PUBLIC_URL
        if PAM_PUBLIC_URL.startswith(("https://", "http://localhost"))
        else "http://localhost:8000"
    )
]

# Content-Security-Policy: no inline script anywhere, nothing from other origins.
# form-action must also allow the sign-in hosts, because browsers apply it to the
# redirect that follows a form POST (Access answers 302 to the federation endpoint).
_signin_origins = signin_origins()
# (PAM_SIGNIN_URL's origin is added per response by pam_project.middleware.CSPMiddleware.)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'", *_signin_origins],
    },
}

# --- Celery -----------------------------------------------------------------------
# The default broker is a directory: the web process and `./dev run`'s worker share it,
# so expiries are recorded with no Redis installed.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS = transport_options(CELERY_BROKER_URL, VAR_DIR)
CELERY_BROKER_CONNECTION_TIMEOUT = 0.5
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.1,
    "interval_max": 0.1,
}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "sweep-console-sessions": {
        "task": "sessions_app.tasks.sweep_sessions",
        "schedule": 60.0,
        # A missed run is pointless once the next one is due.
        "options": {"expires": 50},
    },
    # Pending requests expire after 24 h, windows end, "15 minutes left" notices: the
    # ETA tasks do it on time, this catches whatever the broker lost.
    "sweep-access-requests": {
        "task": "access_requests.tasks.sweep_requests",
        "schedule": 60.0,
        "options": {"expires": 50},
    },
}

# --- Logging ----------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "filters": {"redact": {"()": "pam_project.logging.RedactSecretsFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # At DEBUG, botocore logs request headers and response bodies (session tokens,
        # secret keys); urllib3 logs request lines at DEBUG and retried URLs at WARNING,
        # and the federation query carries the credentials. Their levels are pinned so
        # that no LOG_LEVEL can write a credential to the logs.
        # Their INFO lines ("Found credentials in environment variables", one per client
        # built, so one per Access) are noise; failures reach our own log as AwsStepError.
        "botocore": {"level": "WARNING"},
        "boto3": {"level": "WARNING"},
        "urllib3": {"level": "ERROR"},
        "s3transfer": {"level": "WARNING"},
    },
}

# --- REST framework ---------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: its authenticate_header makes anonymous requests answer 401.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "pam_project.scopes.TokenScope",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "pam_project.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "AWS Console PAM API",
    "DESCRIPTION": (
        "Projects, AWS IAM resources, PAM accounts and grants (admins write, with the same "
        "validation as the admin forms); Access for scripts; Console Session history for ops. "
        "Authenticate with a session (browsable API) or `Authorization: Bearer pam_...`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and Redoc assets are served by the app itself: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "FailureStepEnum": "sessions_app.models.FailureStep",
        "SessionStatusEnum": "sessions_app.models.Status",
        # default_service and allowed_services offer the same console services.
        "ConsoleServiceEnum": "resources.aws.console.SERVICES",
    },
}

# --- Operations (README "Operations": metrics, logs, error reports) -----------------

# Logs: `plain` (the default) or `json`, one object a line with the request id. Both
# pass the redaction filter; the JSON formatter redacts its own output once more.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain").lower()
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json (got {LOG_FORMAT!r})")
LOGGING["formatters"]["json"] = {
    "()": "pam_project.logging.JsonFormatter",
    "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
    "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
}
LOGGING["filters"]["request_id"] = {"()": "pam_project.requestid.RequestIdFilter"}
LOGGING["handlers"]["console"]["filters"] = [
    *LOGGING["handlers"]["console"]["filters"],
    "request_id",
]
LOGGING["handlers"]["console"]["formatter"] = LOG_FORMAT

# GET /metrics (Prometheus): allowed with `Authorization: Bearer <PAM_METRICS_TOKEN>` or
# from PAM_METRICS_ALLOWED_IPS (addresses or networks, e.g. 10.0.0.0/8); with neither,
# it answers 404 to everyone.
PAM_METRICS_TOKEN = env.str("PAM_METRICS_TOKEN", default="")
if PAM_METRICS_TOKEN and len(PAM_METRICS_TOKEN) < 16:
    raise ImproperlyConfigured(
        "PAM_METRICS_TOKEN is too short: use at least 16 random characters "
        "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
    )
PAM_METRICS_ALLOWED_IPS = env.list("PAM_METRICS_ALLOWED_IPS", default=[])
try:
    PAM_METRICS_ALLOWED_NETWORKS = [
        ipaddress.ip_network(item, strict=False) for item in PAM_METRICS_ALLOWED_IPS
    ]
except ValueError as _exc:
    raise ImproperlyConfigured(f"PAM_METRICS_ALLOWED_IPS: {_exc}") from None

# Error reports to Sentry, only when SENTRY_DSN is set; scrubbed of every credential
# (pam_project/error_reporting.py).
SENTRY_DSN = env.str("SENTRY_DSN", default="")
SENTRY_ENVIRONMENT = env.str("SENTRY_ENVIRONMENT", default="")
if SENTRY_DSN:
    from .error_reporting import init_sentry

    init_sentry(SENTRY_DSN, environment=SENTRY_ENVIRONMENT)
