"""Test settings: defaults for the environment, then the one real settings module.

The suite runs against the local PostgreSQL unless DATABASE_URL says otherwise, never
touches real AWS (moto stands in), and publishes Celery messages to memory unless a test
starts a real broker.
"""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
os.environ.setdefault("CELERY_BROKER_URL", "memory://")
os.environ.setdefault("SECRET_KEY", "tests-only-not-a-secret")
# No developer's real AWS identity can leak into a test run.
for name in (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL_IAM",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
):
    os.environ.pop(name, None)
os.environ["AWS_ACCESS_KEY_ID"] = "AKIATESTDEPLOYMENT00"
os.environ["AWS_SECRET_ACCESS_KEY"] = "deployment-secret-for-tests"
os.environ["AWS_REGION"] = "us-east-1"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

from pam_project.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
PAM_SIGNIN_URL = ""
PAM_PUBLIC_URL = "https://pam.example.test"
# Serve static files from the source folders: no collectstatic before a test run.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
