"""A real OpenID Connect provider for the tests: the certified ``oidc-provider`` npm package (pinned
in tests/oidc/package.json + package-lock.json) run by Node with tests/oidc/provider.mjs.

``npm ci`` installs it once into ``var/oidc-provider/<lockfile hash>/`` (the npm registry is the
only thing fetched). Without node/npm the tests that need it skip and say why — with ``CI=true``
they fail instead. Keys are generated here (RSA for RS256, P-256 for ES256); rotating them is
restarting the provider on the same issuer URL with a new first key, as an IdP does.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from shared.infra.natsserver import free_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
AUDIENCE = "urn:swp:api"


def _need(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def installed_provider() -> Path:
    """The directory holding provider.mjs and its node_modules (``npm ci`` on first use)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        _need("node and npm are needed for the OIDC provider of the identity tests (apt-get install nodejs npm)")
    lock = (HERE / "package-lock.json").read_bytes()
    target = ROOT / "var" / "oidc-provider" / hashlib.sha256(lock + (HERE / "package.json").read_bytes()).hexdigest()[:16]
    if not (target / "node_modules" / "oidc-provider" / "package.json").is_file():
        staging = target.with_name(target.name + f".tmp{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copy2(HERE / name, staging / name)
        done = subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=staging, capture_output=True, text=True, timeout=600, check=False,
        )
        if done.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            _need(f"npm ci of the test OIDC provider failed: {done.stderr[-2000:]}")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    shutil.copy2(HERE / "provider.mjs", target / "provider.mjs")  # the script beside its node_modules
    return target


def rsa_jwk(kid: str) -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {**jwt.algorithms.RSAAlgorithm.to_jwk(key, as_dict=True), "kid": kid, "use": "sig", "alg": "RS256"}


def ec_jwk(kid: str) -> dict[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    return {**jwt.algorithms.ECAlgorithm.to_jwk(key, as_dict=True), "kid": kid, "use": "sig", "alg": "ES256"}


def private_key_of(jwk: dict[str, Any]) -> Any:
    return jwt.PyJWK(jwk).key


@dataclass
class ServiceClient:
    """A system client of the IdP (client_credentials) whose tokens carry ``claims``."""

    client_id: str
    claims: dict[str, Any]
    alg: str = "RS256"
    ttl: int = 600
    secret: str = field(default_factory=lambda: hashlib.sha256(os.urandom(16)).hexdigest())
    claims_from_request: bool = False  # the token carries the claims the request names (``Idp.token(claims=…)``)


@dataclass
class Idp:
    directory: Path
    log: Path
    clients: list[ServiceClient] = field(default_factory=list)
    web_clients: list[dict[str, Any]] = field(default_factory=list)  # authorization_code clients (metadata)
    accounts: dict[str, dict[str, Any]] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    keys: list[dict[str, Any]] = field(default_factory=lambda: [rsa_jwk("rsa-1"), ec_jwk("ec-1")])
    proc: subprocess.Popen[bytes] | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> dict[str, Any]:
        cc = [
            {"client_id": c.client_id, "client_secret": c.secret, "grant_types": ["client_credentials"],
             "response_types": [], "redirect_uris": [], "scope": "api"}
            for c in self.clients
        ]
        return {
            "issuer": self.issuer, "port": self.port, "audience": AUDIENCE, "jwks": {"keys": self.keys},
            "clients": cc + self.web_clients,
            "client_claims": {c.client_id: c.claims for c in self.clients},
            "client_alg": {c.client_id: c.alg for c in self.clients},
            "client_ttl": {c.client_id: c.ttl for c in self.clients},
            "accounts": self.accounts,
            "claims_from_request": [c.client_id for c in self.clients if c.claims_from_request],
        }

    def start(self) -> Idp:
        installed = installed_provider()
        config = self.log.with_suffix(".json")
        config.write_text(json.dumps(self.config()))
        config.chmod(0o600)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SWP_")} | {"SWP_TEST_OIDC_CONFIG": str(config)}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [shutil.which("node") or "node", str(installed / "provider.mjs")],
                cwd=installed, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the OIDC provider exited:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.issuer + "/.well-known/openid-configuration", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"the OIDC provider did not answer:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def rotate(self, *new_keys: dict[str, Any], keep_old: bool = True) -> None:
        """The IdP's key rotation: new signing keys first (they sign from now on), the old ones
        still published (``keep_old``) for tokens already out; same issuer URL."""
        self.stop()
        self.keys = [*new_keys, *(self.keys if keep_old else [])]
        self.start()

    def token(self, client_id: str, claims: dict[str, Any] | None = None) -> str:
        client = next(c for c in self.clients if c.client_id == client_id)
        data = {"grant_type": "client_credentials", "scope": "api"}
        if claims is not None:
            data["swp_claims"] = json.dumps(claims)
        r = httpx.post(
            self.issuer + "/token", data=data,
            auth=(client.client_id, client.secret), timeout=30,
        )
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])


class IdpTokens:
    """Like ``shared.testing.fixtures.Tokens`` (role, counties, claims → Authorization header), but
    each token is issued by the real provider through a ``claims_from_request`` client."""

    CLIENT = "swp-test-directory"

    def __init__(self, idp: Idp) -> None:
        self.idp = idp

    @classmethod
    def client(cls) -> ServiceClient:
        return ServiceClient(cls.CLIENT, {}, claims_from_request=True)

    def __call__(self, role: str, *counties: str, sub: str = "tester", **claims: Any) -> dict[str, str]:
        mapped = {"swp_role": str(role), "swp_counties": list(counties)}
        for name in ("provider_id", "evaluator_org"):
            if claims.get(name):
                mapped[f"swp_{name}"] = claims[name]
        return {"Authorization": f"Bearer {self.idp.token(self.CLIENT, mapped)}"}
