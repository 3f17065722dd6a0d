"""Settings for a service process, read from the environment (prefix ``SWP_``).

One settings object per process, built in the composition root and passed down;
nothing reads the environment at import time.
"""

from __future__ import annotations

import hashlib
import ssl
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "swp-development-secret-change-me"  # noqa: S105 - refused outside development


def client_tls_context(ca: Path | str, cert: Path | str | None = None, key: Path | str | None = None) -> ssl.SSLContext:
    """A client's TLS context: the server's certificate is verified against ``ca`` (chain and
    host name, TLS 1.2 at least); ``cert``/``key`` are the client's own certificate, for mutual TLS."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert is not None:
        context.load_cert_chain(str(cert), str(key) if key is not None else None)
    return context


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWP_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    # Development tokens (HS256, ``swp token``, the console's development sign-in): for `make up`
    # and the tests only. Unset: the fixed development secret. Production refuses any HS256 secret
    # and any HS256 token (docs/IDENTITY.md): it verifies the OIDC issuer's tokens only.
    jwt_secret: SecretStr | None = None
    jwt_issuer: str = "swp"
    # Real identity (docs/IDENTITY.md): tokens of the province's OpenID Connect issuer, checked with
    # its public keys (JWKS) — no service holds a key that can mint them. Production requires
    # the issuer and the audience (the API's identifier at the IdP, the access token's ``aud``).
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    # Default: the ``jwks_uri`` of ``<issuer>/.well-known/openid-configuration``.
    oidc_jwks_url: str | None = None
    oidc_algorithms: list[str] = ["RS256", "ES256"]
    # Clock skew allowed on exp / nbf / iat.
    oidc_leeway_seconds: float = Field(default=30.0, ge=0, le=300)
    # The key set is fetched again after this long, and at once for a token whose ``kid`` it does
    # not hold (key rotation, no restart) — but at most once per ``min_refetch`` seconds, so a
    # flood of forged kids cannot turn into a flood of requests to the IdP.
    oidc_jwks_cache_seconds: float = Field(default=3600.0, gt=0)
    oidc_jwks_min_refetch_seconds: float = Field(default=10.0, ge=0)
    oidc_http_timeout_seconds: float = Field(default=5.0, gt=0)
    # Claim mapping: which claim of the token carries each part of the Principal (a dotted name
    # reaches into an object claim, e.g. ``swp.role``). ``sub`` is always ``sub``.
    oidc_claim_role: str = "swp_role"
    oidc_claim_counties: str = "swp_counties"
    oidc_claim_provider_id: str = "swp_provider_id"
    oidc_claim_evaluator_org: str = "swp_evaluator_org"
    oidc_claim_worker_id: str = "swp_worker_id"
    # One NATS URL, or the cluster's nodes comma-separated (nats://n1:4222,nats://n2:4222,…): the
    # client fails over between them. Credentials go in SWP_NATS_USER / SWP_NATS_PASSWORD, which
    # reach every node — credentials inside a URL are used for that URL's node only.
    nats_url: str = "nats://127.0.0.1:4222"
    nats_user: str | None = None
    nats_password: SecretStr | None = None
    # TLS to NATS (deploy/nats/*.conf require it): the CA that signed the servers' certificates
    # (each server's name or address in SWP_NATS_URL must be in its certificate; never skipped),
    # and this client's certificate and key (the shipped servers require one: mutual TLS).
    # Files in PEM. With none set the client speaks plaintext, as the development server expects.
    nats_tls_ca: Path | None = None
    nats_tls_cert: Path | None = None
    nats_tls_key: Path | None = None
    # Replicas of stream SWP; 3 in the clustered production topology (deploy/).
    stream_replicas: int = 1
    persistence: Literal["sqlite", "postgres", "memory"] = "sqlite"
    var_dir: Path = Path("var")
    postgres_host: str = "127.0.0.1"
    postgres_port: int = 5432
    postgres_user: str = "postgres"
    postgres_password: SecretStr = SecretStr("")
    postgres_dbname: str = "swp"
    # Prefix of each service's schema (``<prefix>registry`` …): lets tests share one database.
    postgres_schema_prefix: str = ""
    # Ed25519 private key seeds (hex, 32 bytes) per service for signing records (R-AUD-4),
    # e.g. SWP_AUDIT_KEYS='{"registry": "…", "finance": "…"}'. Development derives fixed keys.
    audit_keys: dict[str, SecretStr] = {}
    # The key store for rotated writer keys: <dir>/<service>/<key id>.seed (hex, mode 0600), one
    # file per key, never overwritten. SWP_AUDIT_KEYS (above) stays the FIRST key, the one
    # verifiers start from; the key in force is the last one the log's rotations name.
    # Default: <var_dir>/keys. In production, a volume only the service can read, backed up with
    # the other secrets (not with the stores).
    audit_key_dir: Path | None = None
    # How long startup waits for NATS before serving anyway (the relay keeps trying after).
    nats_startup_wait_seconds: float = 5.0
    relay_batch: int = 256
    relay_poll_seconds: float = 0.5
    # Under load, a relay round woken by a save starts at least this long after the previous one
    # began, so the saves of the meantime share one read, publish and position update (issue 16:
    # the POST's CPU under load); an idle relay publishes a save at once. The sealer paces at 0.1 s.
    relay_pace_seconds: float = Field(default=0.03, ge=0, le=1)
    # Each service publishes its signed tree head (R-AUD-4) on swp.audit.<service>.TreeHeadSigned
    # this often when its tree has grown (and on demand: POST /<service>/v1/audit/tree-heads).
    tree_head_interval_seconds: float = Field(default=60.0, gt=0)
    # Aggregates kept in memory per service (LRU); each load is brought up to date from the
    # store (fast-forward), so several processes may share one store. 0: no cache.
    aggregate_cache_maxsize: int = Field(default=10_000, ge=0)
    # The process's resident memory budget in MiB (shared/infra/memory.py): over it, the oldest
    # quarter of every aggregate cache is evicted (each second while over). 0: no budget.
    memory_budget_mb: int = Field(default=0, ge=0)
    # Request bodies (shared/infra/hardening.py): JSON commands, and uploads (CSV/XLSX imports).
    max_json_body_bytes: int = Field(default=512 * 1024, ge=1024)
    max_upload_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    # Spreadsheet/CSV imports (services-log): each upload is parsed in a child process killed after
    # import_seconds (422, nothing recorded); at most import_concurrency parsed at once per
    # process, more are refused with 503 and Retry-After.
    import_seconds: float = Field(default=20.0, gt=0, le=600)
    import_concurrency: int = Field(default=2, ge=1, le=64)
    # Deliveries a reaction to an upstream event may fail before its message is parked (issue 15):
    # recorded, acked, the later messages of its upstream aggregate held behind it, every other
    # aggregate flowing; an operator retries or skips it (GET /<svc>/v1/ops/parked, swp ops parked).
    reaction_max_attempts: int = Field(default=5, ge=1, le=1000)
    # Largest event a command may record: NATS's max_payload (1 MB by default, deploy/nats/*.conf).
    max_event_bytes: int = Field(default=1024 * 1024, ge=4096)
    # Seconds between a service's periodic sweeps (e.g. registry flags filings not made by their
    # due date, R-REG-5); the first runs at startup. 0: no sweeps (tests that do not test them).
    sweep_seconds: float = Field(default=3600.0, ge=0)
    # ``/metrics`` (Prometheus) without a token: for a scraper inside the cluster's network.
    # Otherwise it needs a province_admin token (the operator's role).
    metrics_public: bool = False
    # Several processes per service: how often a follower tries to take over the relay and the
    # sealer (shared/infra/leader.py), and how often the leader checks it still holds them.
    leader_retry_seconds: float = Field(default=2.0, gt=0)
    # Each upstream is read by this many partitioned durable consumers (shared/infra/consumer.py):
    # one contract's events stay in order, different contracts are reacted to this many at a time,
    # shared by every process of the service. Change it with the service's processes stopped.
    # 1, 2, 4 or 8 (the names deploy/nats/accounts.py keeps county subscribers away from).
    consumer_partitions: int = 1
    # Messages a consumer applies per store transaction (shared/infra/consumer.py, "Batches"): 1
    # applies each in its own transaction (faststream subscribers, any process pulls); more makes
    # one process at a time pull each partition (a store lock per durable consumer) and saves up
    # to that many messages' reactions in one transaction — finance under a burst of signings.
    consumer_batch: int = Field(default=1, ge=1, le=1000)

    @field_validator("consumer_partitions")
    @classmethod
    def _partition_count(cls, value: int) -> int:
        if value not in (1, 2, 4, 8):  # shared/infra/consumer.py PARTITION_COUNTS
            raise ValueError("SWP_CONSUMER_PARTITIONS must be 1, 2, 4 or 8")
        return value

    @model_validator(mode="after")
    def _production_identity(self) -> Settings:
        """Production verifies the OIDC issuer's tokens only: no HS256 secret, an issuer and an
        audience, asymmetric algorithms only. A service refuses to start otherwise. (And the NATS
        TLS settings go together.)"""
        if (self.nats_tls_cert is None) != (self.nats_tls_key is None):
            raise ValueError("SWP_NATS_TLS_CERT and SWP_NATS_TLS_KEY go together")
        if self.nats_tls_cert is not None and self.nats_tls_ca is None:
            raise ValueError("SWP_NATS_TLS_CERT needs SWP_NATS_TLS_CA (the CA that verifies the servers)")
        if self.environment != "production":
            return self
        if self.jwt_secret is not None:
            raise ValueError(
                "SWP_JWT_SECRET is set: HS256 development tokens are refused in production (any holder of that"
                " secret could mint a token for any role); unset it and configure SWP_OIDC_ISSUER / SWP_OIDC_AUDIENCE"
            )
        if not self.oidc_issuer or not self.oidc_audience:
            raise ValueError("SWP_OIDC_ISSUER and SWP_OIDC_AUDIENCE must be set in production (docs/IDENTITY.md)")
        weak = [alg for alg in self.oidc_algorithms if not alg.startswith(("RS", "ES", "PS", "EdDSA"))]
        if weak or not self.oidc_algorithms:
            raise ValueError(f"SWP_OIDC_ALGORITHMS may name asymmetric algorithms only, not {weak or 'nothing'}")
        return self

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer)

    def dev_jwt_secret(self) -> str:
        """The HS256 secret of development tokens; production has none."""
        if self.environment == "production":
            raise ValueError("production has no HS256 secret: tokens come from the OIDC issuer (docs/IDENTITY.md)")
        return self.jwt_secret.get_secret_value() if self.jwt_secret is not None else DEV_JWT_SECRET

    @property
    def nats_servers(self) -> list[str]:
        return [url.strip() for url in self.nats_url.split(",") if url.strip()]

    def nats_options(self) -> dict[str, Any]:
        """Keyword arguments for ``nats.connect``: the server list and the credentials."""
        options: dict[str, Any] = {"servers": self.nats_servers}
        if self.nats_user:
            options["user"] = self.nats_user
            options["password"] = self.nats_password.get_secret_value() if self.nats_password else ""
        tls = self.nats_tls_context()
        if tls is not None:
            options["tls"] = tls
        return options

    def nats_tls_context(self) -> ssl.SSLContext | None:
        """The TLS context of every NATS connection (SWP_NATS_TLS_*), or None for plaintext."""
        if self.nats_tls_ca is None:
            return None
        return client_tls_context(self.nats_tls_ca, self.nats_tls_cert, self.nats_tls_key)

    def audit_key(self, service: str) -> bytes:
        if service in self.audit_keys:
            return bytes.fromhex(self.audit_keys[service].get_secret_value())
        if self.environment == "production":
            raise ValueError(f"SWP_AUDIT_KEYS must hold a signing key for {service} in production")
        return hashlib.sha256(f"swp-development-audit-key:{service}".encode()).digest()

    def key_store_dir(self, service: str) -> Path:
        return (self.audit_key_dir or self.var_dir / "keys") / service

    def stored_audit_key(self, service: str, key_id: str) -> bytes | None:
        """A rotated writer key's seed from the key store, or None."""
        path = self.key_store_dir(service) / f"{key_id}.seed"
        return bytes.fromhex(path.read_text().strip()) if path.is_file() else None

    def store_audit_key(self, service: str, key_id: str, seed: bytes) -> Path:
        """Write a new writer key's seed to the key store (durably, readable by the owner only)."""
        import os

        directory = self.key_store_dir(service)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = directory / f"{key_id}.seed"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, seed.hex().encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        return path

    def schema_for(self, service: str) -> str:
        return f"{self.postgres_schema_prefix}{service.replace('-', '_')}"

    def eventsourcing_env(self, service: str) -> dict[str, str]:
        """The eventsourcing environment for one service's store (database or schema per service)."""
        env = self._persistence_env(service)
        if self.aggregate_cache_maxsize:
            # Fast-forward stays on (the library's default): a cached aggregate is read with one
            # select of the events after its version, so another process's writes are never missed.
            env["AGGREGATE_CACHE_MAXSIZE"] = str(self.aggregate_cache_maxsize)
            env["AGGREGATE_CACHE_FASTFORWARD"] = "y"
        return env

    def _persistence_env(self, service: str) -> dict[str, str]:
        name = service.replace("-", "_")
        if self.persistence == "memory":
            return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
        if self.persistence == "sqlite":
            self.var_dir.mkdir(parents=True, exist_ok=True)
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(self.var_dir / f"{name}.sqlite"),
                "SQLITE_LOCK_TIMEOUT": "10",
            }
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_HOST": self.postgres_host,
            "POSTGRES_PORT": str(self.postgres_port),
            "POSTGRES_USER": self.postgres_user,
            "POSTGRES_PASSWORD": self.postgres_password.get_secret_value(),
            "POSTGRES_DBNAME": self.postgres_dbname,
            "POSTGRES_SCHEMA": self.schema_for(service),
            "POSTGRES_POOL_SIZE": "5",
            "POSTGRES_MAX_OVERFLOW": "5",
        }
