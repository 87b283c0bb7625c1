"""Sign-in by OpenID Connect: mozilla-django-oidc's code flow, held to this app's rules.

mozilla-django-oidc runs the authorization code flow (state, nonce and PKCE S256 kept in
the session, each used once) and fetches the signing keys. Around it, this module adds
what a PAM needs and the library leaves open:
- endpoints come from the issuer's discovery document, checked to name that issuer
  (OpenID Connect Discovery 1.0, section 4.3), fetched with a timeout and cached;
- the ID token is checked for issuer, audience (and `azp` when there are several),
  expiry, issue time and subject, not only its signature (Core 1.0, section 3.1.3.7);
  the library checks the signature and nonce but not `aud` or `iss`;
- a person is matched by (issuer, sub), never by email (identity/sso.py);
- every failure is an `SsoFailed` naming the step, shown as a page (identity/views.py),
  never a 500: an IdP that is down, a wrong state, a replayed code, a bad token.

Nothing from the IdP is stored: not the ID token, not the access token (OIDC_STORE_*_TOKEN
stay False), and the client secret is sent only to the token endpoint.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import jwt
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from .errors import SsoFailed
from .sso import sso_sign_in

log = logging.getLogger(__name__)

# How long a discovery document is trusted before it is fetched again. IdPs rotate
# signing keys (the JWKS is fetched at every sign-in anyway) far more often than they
# move endpoints.
DISCOVERY_TTL = 3600
# Tolerated clock difference between the IdP and this app, for exp/iat/nbf.
CLOCK_SKEW = 60
# Asymmetric algorithms only: an HS256 token would be checked with the client secret,
# which the IdP is not the only one to know; "none" is never accepted.
ALLOWED_ALGORITHMS = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"}


def enabled() -> bool:
    return bool(settings.PAM_OIDC_ISSUER)


def timeout() -> tuple[float, float]:
    return (min(settings.PAM_OIDC_TIMEOUT, 5.0), settings.PAM_OIDC_TIMEOUT)


_discovered: dict[str, tuple[float, dict[str, Any]]] = {}
_lock = threading.Lock()


def metadata() -> dict[str, Any]:
    """The issuer's discovery document (cached for DISCOVERY_TTL seconds)."""
    issuer = settings.PAM_OIDC_ISSUER
    cached = _discovered.get(issuer)
    if cached and time.monotonic() - cached[0] < DISCOVERY_TTL:
        return cached[1]
    with _lock:
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            response = requests.get(url, timeout=timeout())
            response.raise_for_status()
            document = response.json()
        except (requests.RequestException, ValueError) as exc:
            log.warning("OIDC discovery failed at %s: %s", url, type(exc).__name__)
            raise SsoFailed(
                "discovery",
                f"The identity provider did not answer its discovery document ({url}): "
                f"{_describe(exc)}. Check that PAM_OIDC_ISSUER is right and that the IdP "
                "is reachable from this server.",
                status=502,
            ) from exc
        if not isinstance(document, dict) or document.get("issuer") != issuer:
            found = document.get("issuer") if isinstance(document, dict) else None
            raise SsoFailed(
                "discovery",
                f'The discovery document names the issuer "{found}", not "{issuer}" '
                "(PAM_OIDC_ISSUER must be exactly the IdP's issuer).",
                status=502,
            )
        missing = [
            key
            for key in ("authorization_endpoint", "token_endpoint", "jwks_uri")
            if not document.get(key)
        ]
        if missing:
            raise SsoFailed(
                "discovery",
                f"The discovery document lacks {', '.join(missing)}.",
                status=502,
            )
        _discovered[issuer] = (time.monotonic(), document)
        return document


def reset() -> None:
    """Forget discovered documents (tests, and after a configuration change)."""
    _discovered.clear()


def _describe(exc: Exception) -> str:
    if isinstance(exc, requests.Timeout):
        return f"no answer within {settings.PAM_OIDC_TIMEOUT:g} s"
    if isinstance(exc, requests.ConnectionError):
        return "could not connect"
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, ValueError):
        return "the answer was not JSON"
    return type(exc).__name__


class PamOidcBackend(OIDCAuthenticationBackend):
    """The authentication backend for `auth.authenticate(request, nonce=..., code_verifier=...)`.

    Django instantiates backends for every request's `get_user`, so nothing here talks
    to the IdP until a sign-in actually happens.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.UserModel = get_user_model()
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = ""  # chosen per token from ALLOWED_ALGORITHMS
        self.OIDC_RP_IDP_SIGN_KEY = None

    @property
    def OIDC_OP_TOKEN_ENDPOINT(self) -> str:
        return metadata()["token_endpoint"]

    @property
    def OIDC_OP_USER_ENDPOINT(self) -> str | None:
        return metadata().get("userinfo_endpoint")

    @property
    def OIDC_OP_JWKS_ENDPOINT(self) -> str:
        return metadata()["jwks_uri"]

    def authenticate(self, request: Any, **kwargs: Any) -> AbstractUser | None:
        if not enabled() or "nonce" not in kwargs:
            return None  # a password sign-in: not for this backend
        return super().authenticate(request, **kwargs)

    def get_user(self, user_id: Any) -> AbstractUser | None:
        # The library's loads any user; a deactivated one must lose their sign-in at
        # once, as ModelBackend's users do (user_can_authenticate).
        user = super().get_user(user_id)
        return user if user is not None and user.is_active else None

    def get_token(self, payload: dict[str, Any]) -> dict[str, Any]:
        answer = self._token(payload)
        if not isinstance(answer, dict) or not isinstance(answer.get("id_token"), str):
            raise SsoFailed(
                "token", "The identity provider's token answer holds no ID token.", status=502
            )
        return answer

    def _token(self, payload: dict[str, Any]) -> Any:
        try:
            return super().get_token(payload)
        except requests.HTTPError as exc:
            # The IdP's error code only: its body may echo what we sent.
            error = _oauth_error(exc.response)
            raise SsoFailed(
                "token",
                f"The identity provider refused to exchange the sign-in code ({error}). "
                "A code works once and for a few minutes: start the sign-in again. If it "
                "keeps failing, check PAM_OIDC_CLIENT_ID, PAM_OIDC_CLIENT_SECRET and the "
                "redirect URI registered at the IdP.",
                status=502,
            ) from None
        except (requests.RequestException, ValueError) as exc:
            raise SsoFailed(
                "token",
                f"The identity provider's token endpoint failed: {_describe(exc)}.",
                status=502,
            ) from None

    def retrieve_matching_jwk(self, token: str) -> jwt.PyJWK:
        """The IdP's published key that signed `token`: by `kid`, or the only key when
        the token names none (some providers omit it when they publish one key)."""
        try:
            response = requests.get(self.OIDC_OP_JWKS_ENDPOINT, timeout=timeout())
            response.raise_for_status()
            keys = response.json()["keys"]
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            raise SsoFailed(
                "id_token",
                f"The identity provider's signing keys could not be fetched: {_describe(exc)}.",
                status=502,
            ) from None
        header = jwt.get_unverified_header(token)
        kid, alg = header.get("kid"), header.get("alg")
        usable = [
            k
            for k in keys
            if isinstance(k, dict)
            and k.get("use", "sig") == "sig"
            and k.get("alg", alg) == alg
            and (kid is None or k.get("kid") == kid)
        ]
        if len(usable) != 1:
            raise SsoFailed(
                "id_token",
                "The ID token is signed with a key the identity provider does not publish.",
            )
        try:
            return jwt.PyJWK(usable[0], algorithm=alg)
        except jwt.PyJWTError:
            raise SsoFailed(
                "id_token", "The identity provider publishes a signing key this app cannot use."
            ) from None

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        """Signature, issuer, audience, expiry, subject and nonce of an ID token."""
        if not isinstance(token, str) or not token:
            raise SsoFailed("id_token", "The identity provider sent no ID token.")
        try:
            alg = jwt.get_unverified_header(token).get("alg")
        except jwt.PyJWTError:
            raise SsoFailed("id_token", "The ID token is not a signed JWT.") from None
        if alg not in ALLOWED_ALGORITHMS:
            raise SsoFailed(
                "id_token", f'The ID token is signed with "{alg}", which this app refuses.'
            )
        key = self.retrieve_matching_jwk(token)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.OIDC_RP_CLIENT_ID,
                issuer=settings.PAM_OIDC_ISSUER,
                leeway=CLOCK_SKEW,
                options={"require": ["iss", "aud", "exp", "iat", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise SsoFailed("id_token", "The ID token has expired: sign in again.") from None
        except jwt.InvalidAudienceError:
            raise SsoFailed(
                "id_token",
                "The ID token was issued for another application (aud), not this one's "
                "PAM_OIDC_CLIENT_ID.",
            ) from None
        except jwt.InvalidIssuerError:
            raise SsoFailed(
                "id_token", "The ID token was issued by another issuer than PAM_OIDC_ISSUER."
            ) from None
        except jwt.MissingRequiredClaimError as exc:
            raise SsoFailed("id_token", f'The ID token has no "{exc.claim}" claim.') from None
        except jwt.InvalidSignatureError:
            raise SsoFailed("id_token", "The ID token's signature is not valid.") from None
        except jwt.PyJWTError as exc:
            raise SsoFailed("id_token", f"The ID token is not valid ({exc}).") from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.OIDC_RP_CLIENT_ID:
            raise SsoFailed("id_token", "The ID token is meant for several parties, not us.")
        if "nonce" in kwargs and claims.get("nonce") != kwargs["nonce"]:
            # The nonce ties the token to this browser's sign-in: a token obtained for
            # another sign-in (a replay) does not carry it.
            raise SsoFailed("id_token", "The ID token does not belong to this sign-in (nonce).")
        return claims

    def get_userinfo(self, access_token: str, id_token: str, payload: dict[str, Any]) -> dict:
        if not self.OIDC_OP_USER_ENDPOINT:
            return {}
        try:
            response = requests.get(
                self.OIDC_OP_USER_ENDPOINT,
                headers={"Authorization": f"Bearer {access_token}"},
                timeout=timeout(),
            )
            response.raise_for_status()
            info = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise SsoFailed(
                "userinfo",
                f"The identity provider's userinfo endpoint failed: {_describe(exc)}.",
                status=502,
            ) from None
        return info if isinstance(info, dict) else {}

    def get_or_create_user(
        self, access_token: str, id_token: str, payload: dict[str, Any]
    ) -> AbstractUser:
        info = self.get_userinfo(access_token, id_token, payload)
        # Core 1.0 section 5.3.2: the userinfo `sub` must be the ID token's, or the
        # answer may belong to someone else.
        if info and info.get("sub") != payload["sub"]:
            raise SsoFailed("userinfo", "The userinfo answer is for another subject.")
        return sso_sign_in(
            issuer=settings.PAM_OIDC_ISSUER,
            claims={**payload, **info},
            groups_claim=settings.PAM_OIDC_GROUPS_CLAIM,
        )


def _oauth_error(response: requests.Response | None) -> str:
    if response is None:
        return "no answer"
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    code = str(error)[:64] if error else "no error code"
    return f"HTTP {response.status_code}, {code}"
