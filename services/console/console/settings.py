"""Console settings (environment prefix ``SWP_CONSOLE_``); the platform's own ``Settings``
(``SWP_ENVIRONMENT``, ``SWP_JWT_SECRET`` …) decide whether development sign-in is offered."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWP_CONSOLE_", extra="ignore")

    # Where the public API is. None: the gateway the console is mounted in, called in-process.
    api_base_url: str | None = None
    api_timeout_seconds: float = 60.0
    # Rows per page of every list the console shows: each list page asks the API for one page of
    # this many (`limit`, by cursor — console/paging.py); dashboards count the first such page ("20+").
    page_size: int = Field(default=20, ge=5, le=200)
    session_ttl_seconds: int = Field(default=8 * 3600, ge=60)
    max_sessions: int = Field(default=10_000, ge=10)
    # Single sign-on (docs/IDENTITY.md): the OIDC issuer the console signs people in at
    # (authorization code + PKCE S256, state, nonce), the console's client at that IdP, and its
    # secret (unset: a public client, PKCE only). The access token it gets is checked as every
    # service checks tokens (SWP_OIDC_ISSUER / SWP_OIDC_AUDIENCE / SWP_OIDC_CLAIM_*), the ID
    # token for the client id and the nonce. Redirect URI: <console origin>/login/callback unless
    # set. When set, /login offers it; the development form stays outside production.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_redirect_uri: str | None = None
    oidc_scopes: str = "openid profile api"
