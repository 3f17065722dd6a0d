"""Single sign-on at the province's OIDC issuer: authorization code + PKCE (S256), with state and
nonce (docs/IDENTITY.md).

``/login/oidc`` keeps a fresh state, nonce and code verifier in the (anonymous) server-side
session and sends the browser to the issuer's authorization endpoint; ``/login/callback`` checks
the state, exchanges the code (with the verifier) at the token endpoint, verifies the ID token
(issuer, the console's client id, nonce) and the access token exactly as every service does
(``shared.infra.auth.verify_bearer``: JWKS, issuer, audience, claim mapping), then signs the session
in with that access token. Nothing is minted: the console holds no key that can make a token.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from console.settings import ConsoleSettings
from shared.infra.auth import Principal, Unauthorized, verify_bearer
from shared.infra.oidc import OidcVerifier, TokenRefused, unverified_header
from shared.infra.settings import Settings


class SignInFailed(Exception):
    """The sign-in at the issuer did not end in a valid session (shown to the person in Chinese)."""


@dataclass
class SignedIn:
    principal: Principal
    access_token: str
    name: str


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class OidcClient:
    """The console as a client of the issuer (one per console app)."""

    def __init__(self, settings: Settings, console: ConsoleSettings) -> None:
        assert console.oidc_issuer and console.oidc_client_id, "SWP_CONSOLE_OIDC_ISSUER and _CLIENT_ID"
        self.console = console
        self.issuer = console.oidc_issuer
        # The access token is checked as the services check it; the issuer is the console's.
        self.settings = settings.model_copy(update={"oidc_issuer": self.issuer})
        self.verifier = OidcVerifier(self.settings)
        self._metadata: dict[str, Any] | None = None

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            async with httpx.AsyncClient(timeout=self.settings.oidc_http_timeout_seconds) as client:
                r = await client.get(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
                r.raise_for_status()
                document = r.json()
            if document.get("issuer") != self.issuer:
                raise SignInFailed(f"discovery names issuer {document.get('issuer')!r}")
            self._metadata = document
        return self._metadata

    def redirect_uri(self, origin: str) -> str:
        return self.console.oidc_redirect_uri or origin.rstrip("/") + "/login/callback"

    async def authorization_url(self, origin: str, pending: dict[str, str]) -> str:
        """Where to send the browser; fills ``pending`` (kept in the session) with what the callback checks."""
        pending.update(state=secrets.token_urlsafe(32), nonce=secrets.token_urlsafe(32), verifier=secrets.token_urlsafe(64))
        query = {
            "response_type": "code",
            "client_id": self.console.oidc_client_id,
            "redirect_uri": self.redirect_uri(origin),
            "scope": self.console.oidc_scopes,
            "state": pending["state"],
            "nonce": pending["nonce"],
            "code_challenge": s256(pending["verifier"]),
            "code_challenge_method": "S256",
        }
        return str((await self.metadata())["authorization_endpoint"]) + "?" + urlencode(query)

    async def finish(self, origin: str, pending: dict[str, str], code: str) -> SignedIn:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri(origin),
            "code_verifier": pending["verifier"],
        }
        auth: tuple[str, str] | None = None
        if self.console.oidc_client_secret is not None:
            auth = (str(self.console.oidc_client_id), self.console.oidc_client_secret.get_secret_value())
        else:
            form["client_id"] = str(self.console.oidc_client_id)
        async with httpx.AsyncClient(timeout=self.settings.oidc_http_timeout_seconds) as client:
            r = await client.post(str((await self.metadata())["token_endpoint"]), data=form, auth=auth or httpx.USE_CLIENT_DEFAULT)
        if r.status_code != 200:
            raise SignInFailed(f"the token endpoint answered {r.status_code}: {r.text[:300]}")
        tokens = r.json()
        id_token, access_token = tokens.get("id_token"), tokens.get("access_token")
        if not isinstance(id_token, str) or not isinstance(access_token, str):
            raise SignInFailed("the token endpoint gave no id_token / access_token")
        try:
            header = unverified_header(id_token)
            if self.verifier.needs_keys(header.get("kid")):
                await asyncio.to_thread(self.verifier.ensure_keys, header.get("kid"))
            id_claims = self.verifier.verify(id_token, header, audience=str(self.console.oidc_client_id))
        except TokenRefused as exc:
            raise SignInFailed(f"ID token refused: {exc.detail}") from exc
        if not secrets.compare_digest(str(id_claims.get("nonce", "")), pending["nonce"]):
            raise SignInFailed("ID token refused: its nonce is not this sign-in's")
        try:
            principal = await verify_bearer(self.settings, self.verifier, access_token)
        except Unauthorized as exc:
            raise SignInFailed(f"access token refused: {exc.detail}") from exc
        if principal.sub != id_claims.get("sub") and id_claims.get("sub"):
            # Client-credentials tokens name the client; a person's access token names the person.
            raise SignInFailed("the access token is not the signed-in person's")
        name = id_claims.get("name")
        return SignedIn(principal, access_token, name if isinstance(name, str) and name else principal.sub)
