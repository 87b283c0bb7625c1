"""Reads shared by the admin, views and API."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.cache import cache

from . import aws

_IDENTITY_CACHE_KEY = "pam:deployment-identity"
_IDENTITY_TTL = 3600
_IDENTITY_FAILURE_TTL = 60


@dataclass(frozen=True)
class DeploymentIdentity:
    """This deployment's own AWS identity, which every Resource Role must trust."""

    account_id: str | None
    arn: str | None
    error: str | None = None


def deployment_identity(*, refresh: bool = False) -> DeploymentIdentity:
    """sts:GetCallerIdentity, cached: it changes only when the deployment's role does."""
    cached = None if refresh else cache.get(_IDENTITY_CACHE_KEY)
    if cached is not None:
        return cached
    try:
        identity = aws.caller_identity()
    except aws.AwsStepError as exc:
        result = DeploymentIdentity(None, None, f"{exc.code}: {exc.message}")
        cache.set(_IDENTITY_CACHE_KEY, result, _IDENTITY_FAILURE_TTL)
        return result
    result = DeploymentIdentity(identity.account_id, identity.arn)
    cache.set(_IDENTITY_CACHE_KEY, result, _IDENTITY_TTL)
    return result
