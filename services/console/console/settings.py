"""Console settings (environment prefix ``SWP_CONSOLE_``); the platform's own ``Settings``
(``SWP_ENVIRONMENT``, ``SWP_JWT_SECRET`` …) decide whether development sign-in is offered."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWP_CONSOLE_", extra="ignore")

    # Where the public API is. None: the gateway the console is mounted in, called in-process.
    api_base_url: str | None = None
    api_timeout_seconds: float = 60.0
    # Rows per page of every list the console shows (lists are paged on the server).
    page_size: int = Field(default=20, ge=5, le=200)
    session_ttl_seconds: int = Field(default=8 * 3600, ge=60)
    max_sessions: int = Field(default=10_000, ge=10)
    # Hook for single sign-on (not implemented yet): when set, /login redirects to this OIDC
    # issuer (authorization code + PKCE) instead of offering the development form.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
