"""Identity providers for the tests.

`RealIdp`: oidc-provider-mock (a maintained OpenID provider from PyPI, built on Authlib)
serving on a loopback port: discovery, authorization form, token, JWKS and userinfo
endpoints, people and their claims set over its HTTP API, exactly as an IdP admin would
change them. The sign-in goes through its real authorization endpoint.

`ForgedIdp`: for the ID tokens a real provider never issues (bad signature, wrong
audience or issuer, expired, no `sub`): the IdP's endpoints answered at the HTTP level
(`responses`), with tokens signed here by a key whose public half it publishes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import requests
import responses
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import Client
from jwt.algorithms import RSAAlgorithm
from oidc_provider_mock import run_server_in_thread

CLIENT_ID = "pam-tests"
CLIENT_SECRET = "idp-client-secret-for-tests"


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@dataclass
class RealIdp:
    issuer: str

    def set_person(self, sub: str, **claims: Any) -> None:
        claims.setdefault("email_verified", True)
        response = requests.put(f"{self.issuer}/users/{sub}", json=claims, timeout=5)
        response.raise_for_status()

    def approve(self, authorize_url: str, sub: str) -> str:
        """The person picks who they are on the IdP's form; returns the callback URL."""
        response = requests.post(authorize_url, data={"sub": sub}, allow_redirects=False, timeout=5)
        assert response.status_code == 302, response.text
        return response.headers["Location"]

    def sign_in(self, client: Client, sub: str, next_url: str = "/") -> Any:
        """The whole code flow for `client`: our start view, the IdP, our callback."""
        start = client.get("/oidc/authenticate/", {"next": next_url})
        assert start.status_code == 302, start.content
        callback = self.approve(start["Location"], sub)
        parts = urlsplit(callback)
        return client.get(parts.path, query(callback))


def start_real_idp() -> Any:
    """A context manager serving the provider on a free loopback port."""
    return run_server_in_thread(port=0, require_nonce=True)


def issuer_of(server: Any) -> str:
    return f"http://localhost:{server.server_port}"


@dataclass
class ForgedIdp:
    issuer: str = "https://idp.forged.test"
    key: Any = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    kid: str = "forged-1"
    # What the next ID token says, and what signs it; tests change them.
    overrides: dict[str, Any] = field(default_factory=dict)
    drop: tuple[str, ...] = ()
    signing_key: Any = None
    algorithm: str = "RS256"
    userinfo: dict[str, Any] = field(default_factory=dict)
    token_status: int = 200
    token_body: Any = None  # instead of a token answer
    issued: list[str] = field(default_factory=list)
    nonce: str = ""

    def install(self, mock: responses.RequestsMock) -> None:
        mock.add(
            responses.GET,
            f"{self.issuer}/.well-known/openid-configuration",
            json={
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "userinfo_endpoint": f"{self.issuer}/userinfo",
                "jwks_uri": f"{self.issuer}/jwks",
            },
        )
        public = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        mock.add(
            responses.GET,
            f"{self.issuer}/jwks",
            json={"keys": [{**public, "kid": self.kid, "alg": "RS256", "use": "sig"}]},
        )
        mock.add_callback(responses.POST, f"{self.issuer}/token", callback=self._token)
        mock.add_callback(responses.GET, f"{self.issuer}/userinfo", callback=self._userinfo)

    def claims(self) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "sub": "forged-person",
            "email": "forged@example.com",
            "email_verified": True,
            "iat": now,
            "exp": now + 300,
            "nonce": self.nonce,
            **self.overrides,
        }
        for name in self.drop:
            claims.pop(name, None)
        return claims

    def _token(self, request: Any) -> tuple[int, dict, str]:
        if self.token_status != 200:
            return self.token_status, {}, json.dumps({"error": "invalid_grant"})
        if self.token_body is not None:
            return 200, {}, json.dumps(self.token_body)
        id_token = jwt.encode(
            self.claims(),
            self.signing_key or self.key,
            algorithm=self.algorithm,
            headers={"kid": self.kid},
        )
        access_token = f"forged-access-{len(self.issued)}"
        self.issued += [id_token, access_token]
        body = {"access_token": access_token, "token_type": "Bearer", "id_token": id_token}
        return 200, {}, json.dumps(body)

    def _userinfo(self, request: Any) -> tuple[int, dict, str]:
        info = {
            k: v
            for k, v in self.claims().items()
            if k in ("sub", "email", "email_verified", "name")
        }
        return 200, {}, json.dumps({**info, **self.userinfo})

    def sign_in(self, client: Client) -> Any:
        start = client.get("/oidc/authenticate/")
        assert start.status_code == 302, start.content
        params = query(start["Location"])
        self.nonce = params["nonce"]
        return client.get("/oidc/callback/", {"code": "forged-code", "state": params["state"]})


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")
