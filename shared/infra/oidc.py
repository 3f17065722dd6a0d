"""Verifying the OIDC issuer's tokens (docs/IDENTITY.md): signature by the issuer's published keys
(JWKS), issuer, audience, exp/nbf with a small leeway, then the documented claim mapping.

The key set is fetched once (from ``SWP_OIDC_JWKS_URL``, or the ``jwks_uri`` of the issuer's
discovery document) and kept; it is fetched again when it is older than
``SWP_OIDC_JWKS_CACHE_SECONDS`` and at once when a token names a ``kid`` it does not hold — the
issuer rotated its keys — but never more often than every ``SWP_OIDC_JWKS_MIN_REFETCH_SECONDS``,
so tokens with invented kids cannot make the service hammer the IdP. Fetching is blocking I/O and
runs in a worker thread (:meth:`OidcVerifier.ensure_keys`); verifying with a held key is pure CPU.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import jwt

from shared.infra.settings import Settings

# Signature algorithms this verifier can ever accept; SWP_OIDC_ALGORITHMS narrows them.
ASYMMETRIC = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})


class TokenRefused(Exception):
    """The token is not acceptable; ``field`` names the claim or header at fault."""

    def __init__(self, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class KeysUnavailable(TokenRefused):
    pass


def unverified_header(token: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenRefused(f"malformed token: {exc}") from exc
    if not isinstance(header.get("alg"), str):
        raise TokenRefused("the token's header names no algorithm", field="alg")
    return header


class OidcVerifier:
    """One per service process (``app.state``): the issuer's keys and the checks."""

    def __init__(self, settings: Settings) -> None:
        if not settings.oidc_issuer:
            raise ValueError("SWP_OIDC_ISSUER is not set")
        self.settings = settings
        self.issuer = settings.oidc_issuer
        self.algorithms = [alg for alg in settings.oidc_algorithms if alg in ASYMMETRIC]
        self._jwks_url = settings.oidc_jwks_url
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()
        self.fetches = 0  # how often the key set was fetched (for operators and tests)

    # -- keys ---------------------------------------------------------------------------------

    def _due(self, kid: str | None) -> bool:
        if self._fetched_at is None:
            return True
        age = time.monotonic() - self._fetched_at
        if age >= self.settings.oidc_jwks_cache_seconds:
            return True
        return (kid or "") not in self._keys and age >= self.settings.oidc_jwks_min_refetch_seconds

    def needs_keys(self, kid: str | None) -> bool:
        return self._due(kid)

    def ensure_keys(self, kid: str | None) -> None:
        """Fetch the key set if it is due (blocking: call it in a worker thread)."""
        with self._lock:
            if not self._due(kid):  # another request fetched it meanwhile
                return
            try:
                self._keys = self._fetch()
            except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
                if self._fetched_at is None:
                    raise KeysUnavailable(f"the issuer's keys could not be fetched: {exc}") from exc
                # Keep the keys held; try again after the rate limit.
            self._fetched_at = time.monotonic()
            self.fetches += 1

    def _fetch(self) -> dict[str, jwt.PyJWK]:
        timeout = self.settings.oidc_http_timeout_seconds
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            url = self._jwks_url
            if url is None:
                discovery = client.get(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
                discovery.raise_for_status()
                document = discovery.json()
                if document.get("issuer") != self.issuer:
                    raise ValueError(f"the discovery document names issuer {document.get('issuer')!r}, not {self.issuer!r}")
                url = str(document["jwks_uri"])
                self._jwks_url = url
            response = client.get(url)
            response.raise_for_status()
            data = response.json()
        keys: dict[str, jwt.PyJWK] = {}
        for entry in data.get("keys", []):
            if entry.get("use", "sig") != "sig" or entry.get("kty") not in ("RSA", "EC", "OKP"):
                continue
            try:
                key = jwt.PyJWK(entry)
            except jwt.PyJWTError:
                continue  # a key type or curve this verifier does not use
            keys[key.key_id or ""] = key
        if not keys:
            raise ValueError(f"no usable signing key in {url}")
        return keys

    # -- tokens -------------------------------------------------------------------------------

    def verify(self, token: str, header: dict[str, Any] | None = None, audience: str | None = None) -> dict[str, Any]:
        """The token's claims, once signature, issuer, audience (``SWP_OIDC_AUDIENCE`` unless
        given: an ID token's is the client id) and times are checked (pure CPU: the keys must be
        held, see :meth:`ensure_keys`)."""
        audience = audience or self.settings.oidc_audience
        header = header or unverified_header(token)
        alg = header["alg"]
        if alg not in self.algorithms:
            raise TokenRefused(f"algorithm {alg!r} is not accepted (only {', '.join(self.algorithms)})", field="alg")
        kid = header.get("kid")
        key = self._keys.get(kid or "")
        if key is None:
            raise TokenRefused(f"the issuer publishes no key {kid!r}", field="kid")
        declared = key._jwk_data.get("alg")  # a JWK that names its algorithm is for that one only
        if declared and declared != alg:
            raise TokenRefused(f"key {kid!r} is for {declared}, not {alg}", field="alg")
        try:
            return jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=audience,
                issuer=self.issuer,
                leeway=self.settings.oidc_leeway_seconds,
                options={"require": ["exp", "iss", "sub"] + (["aud"] if audience else [])},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenRefused(f"token expired: {exc}", field="exp") from exc
        except jwt.ImmatureSignatureError as exc:
            raise TokenRefused(f"token not valid yet: {exc}", field="nbf") from exc
        except jwt.InvalidAudienceError as exc:
            raise TokenRefused(f"wrong audience: {exc}", field="aud") from exc
        except jwt.InvalidIssuerError as exc:
            raise TokenRefused(f"wrong issuer: {exc}", field="iss") from exc
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise TokenRefused(f"invalid token: {exc}") from exc


def claim(claims: dict[str, Any], name: str) -> Any:
    """A claim by its (dotted) name, or None."""
    value: Any = claims
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value
