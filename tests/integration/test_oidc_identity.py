"""Real identity (issue 15 item 2, docs/IDENTITY.md): a service in production accepts the tokens of
a real OpenID Connect provider (the certified ``oidc-provider`` package run by Node, tests/oidc/)
checked with its JWKS, maps their claims into the principal, refuses everything else (wrong
audience or issuer, expired, HS256, alg none, another key, unknown role, malformed claims) as 401
problem+json naming the claim, and follows the provider's key rotation without a restart."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from pydantic import ValidationError

from shared.infra.auth import Role, Unauthorized, issue_token, verify_bearer
from shared.infra.oidc import OidcVerifier
from shared.infra.settings import Settings
from shared.testing.fixtures import client_for, make_settings, running
from tests.oidc.idp import AUDIENCE, Idp, ServiceClient, private_key_of, rsa_jwk

COUNTY = "640402"
OTHER = "130731"

CLIENTS = [
    ServiceClient("svc-admin", {"swp_role": "province_admin", "swp_counties": ["*"]}),
    ServiceClient("svc-purchaser", {"swp_role": "purchaser", "swp_counties": [COUNTY]}, alg="ES256"),
    ServiceClient("svc-provider", {"swp_role": "provider", "swp_counties": [COUNTY], "swp_provider_id": "prov-1"}),
    ServiceClient("svc-evaluator", {"swp_role": "evaluator", "swp_counties": [COUNTY], "swp_evaluator_org": "eval-1"}),
    ServiceClient("svc-short", {"swp_role": "purchaser", "swp_counties": [COUNTY]}, ttl=1),
    ServiceClient("svc-janitor", {"swp_role": "janitor", "swp_counties": [COUNTY]}),
    ServiceClient("svc-bad-counties", {"swp_role": "purchaser", "swp_counties": COUNTY}),
    ServiceClient("svc-county-typo", {"swp_role": "purchaser", "swp_counties": ["64O402"]}),
]


def start_idp(directory: Path) -> Idp:
    directory.mkdir(parents=True, exist_ok=True)
    return Idp(directory, directory / "oidc-provider.log", clients=list(CLIENTS)).start()


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Idp]:
    provider = start_idp(tmp_path_factory.mktemp("idp"))
    try:
        yield provider
    finally:
        provider.stop()


def production(idp: Idp, nats_url: str, var: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "production",
        "oidc_issuer": idp.issuer,
        "oidc_audience": AUDIENCE,
        "oidc_leeway_seconds": 1,
        "audit_keys": {s: os.urandom(32).hex() for s in ("registry", "services-log", "evaluation", "finance")},
    }
    values.update(overrides)
    return make_settings("sqlite", nats_url, var, **values)


@pytest.fixture
async def registry(idp: Idp, nats_server, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The real registry service in production, trusting the provider."""
    from registry.main import create_app

    app = create_app(production(idp, nats_server.url, tmp_path / "var"))
    async with running(app), client_for(app) as client:
        client.app = app  # type: ignore[attr-defined]
        r = await client.put(f"/v1/counties/{COUNTY}", json={"name": "原州区"}, headers=bearer(idp.token("svc-admin")))
        assert r.status_code == 200, r.text
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_refused(r: httpx.Response, field: str | None = None) -> dict:
    assert r.status_code == 401, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body = r.json()
    if field is not None:
        assert body.get("field") == field, body
    return body


async def test_a_token_of_the_provider_is_accepted_with_its_mapped_claims(idp, registry):
    admin = idp.token("svc-admin")
    assert jwt.get_unverified_header(admin)["alg"] == "RS256"
    r = await registry.put(f"/v1/counties/{COUNTY}", json={"name": "原州区"}, headers=bearer(admin))
    assert r.status_code == 200, r.text
    purchaser = idp.token("svc-purchaser")
    assert jwt.get_unverified_header(purchaser)["alg"] == "ES256"
    r = await registry.post(
        f"/v1/counties/{COUNTY}/stations",
        json={"name": "南关街道社工站", "township": "南关街道", "kind": "street_station"}, headers=bearer(purchaser),
    )
    assert r.status_code == 201, r.text
    # The county comes from the mapped claim: another county is 403, not 401.
    r = await registry.get(f"/v1/counties/{OTHER}/stations", headers=bearer(purchaser))
    assert r.status_code == 403, r.text
    # Every mapped claim reaches the principal.
    settings = registry.app.state.settings  # type: ignore[attr-defined]
    verifier = OidcVerifier(settings)
    p = await verify_bearer(settings, verifier, idp.token("svc-provider"))
    assert (p.sub, p.role, p.counties, p.provider_id) == ("svc-provider", Role.PROVIDER, frozenset({COUNTY}), "prov-1")
    p = await verify_bearer(settings, verifier, idp.token("svc-evaluator"))
    assert (p.role, p.evaluator_org) == (Role.EVALUATOR, "eval-1")


async def test_unknown_roles_and_malformed_claims_are_401_naming_the_claim(idp, registry):
    url = f"/v1/counties/{COUNTY}/stations"
    assert_refused(await registry.get(url, headers=bearer(idp.token("svc-janitor"))), "swp_role")
    assert_refused(await registry.get(url, headers=bearer(idp.token("svc-bad-counties"))), "swp_counties")
    assert_refused(await registry.get(url, headers=bearer(idp.token("svc-county-typo"))), "swp_counties")


def forge(header: dict, claims: dict, signature: bytes = b"") -> str:
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return ".".join([part(json.dumps(header).encode()), part(json.dumps(claims).encode()), part(signature)])


async def test_tokens_the_service_must_refuse(idp, registry):
    url = f"/v1/counties/{COUNTY}/stations"
    good = idp.token("svc-purchaser")
    assert (await registry.get(url, headers=bearer(good))).status_code == 200
    claims = jwt.decode(good, options={"verify_signature": False})
    kid = jwt.get_unverified_header(idp.token("svc-admin"))["kid"]

    # alg none, with the provider's own claims.
    assert_refused(await registry.get(url, headers=bearer(forge({"alg": "none", "typ": "at+jwt"}, claims))), "alg")
    # HS256 in production: a development token, and one "signed" with the issuer's public key as secret.
    dev = issue_token(Settings(), sub="x", role=Role.PROVINCE_ADMIN, counties=["*"])
    assert_refused(await registry.get(url, headers=bearer(dev)), "alg")
    confused = jwt.encode(claims, "public-key-as-secret-public-key-as-secret", algorithm="HS256", headers={"kid": kid})
    assert_refused(await registry.get(url, headers=bearer(confused)), "alg")
    # The same claims signed by another key under the provider's kid, and under a kid it never published.
    stranger = private_key_of(rsa_jwk(kid))
    assert_refused(await registry.get(url, headers=bearer(jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": kid}))))
    assert_refused(await registry.get(url, headers=bearer(jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": "evil"}))), "kid")
    # Expired (1 s lifetime, 1 s leeway).
    short = idp.token("svc-short")
    assert (await registry.get(url, headers=bearer(short))).status_code == 200
    exp = jwt.decode(short, options={"verify_signature": False})["exp"]
    while time.time() < exp + 2.5:
        time.sleep(0.25)
    assert_refused(await registry.get(url, headers=bearer(short)), "exp")
    # Not from the issuer or not for this audience: the same code the service runs, configured otherwise.
    settings: Settings = registry.app.state.settings  # type: ignore[attr-defined]
    jwks = idp.issuer + "/jwks"
    for other, field in (
        (settings.model_copy(update={"oidc_audience": "urn:another:api"}), "aud"),
        (settings.model_copy(update={"oidc_issuer": idp.issuer + "/other", "oidc_jwks_url": jwks}), "iss"),
    ):
        with pytest.raises(Unauthorized) as refused:
            await verify_bearer(other, OidcVerifier(other), good)
        assert refused.value.field == field
    # A token without a bearer at all, and garbage.
    assert_refused(await registry.get(url))
    assert_refused(await registry.get(url, headers=bearer("not.a.jwt")))


async def test_invented_kids_do_not_hammer_the_issuer(idp):
    """An unknown kid fetches the key set again, but at most once per SWP_OIDC_JWKS_MIN_REFETCH_SECONDS."""
    settings = production(idp, "nats://127.0.0.1:1", Path("/nonexistent"), oidc_jwks_min_refetch_seconds=3600)
    verifier = OidcVerifier(settings)
    await verify_bearer(settings, verifier, idp.token("svc-admin"))
    assert verifier.fetches == 1
    claims = jwt.decode(idp.token("svc-admin"), options={"verify_signature": False})
    stranger = private_key_of(rsa_jwk("x"))
    for n in range(20):
        forged = jwt.encode(claims, stranger, algorithm="RS256", headers={"kid": f"invented-{n}"})
        with pytest.raises(Unauthorized):
            await verify_bearer(settings, verifier, forged)
    assert verifier.fetches == 1


async def test_a_key_rotation_at_the_provider_is_followed_without_a_restart(tmp_path, nats_server):
    from registry.main import create_app

    provider = start_idp(tmp_path / "idp")
    try:
        app = create_app(production(provider, nats_server.url, tmp_path / "var", oidc_jwks_min_refetch_seconds=0))
        url = f"/v1/counties/{COUNTY}/stations"
        async with running(app), client_for(app) as client:
            before = provider.token("svc-admin")
            r = await client.put(f"/v1/counties/{COUNTY}", json={"name": "原州区"}, headers=bearer(before))
            assert r.status_code == 200, r.text
            assert (await client.get(url, headers=bearer(before))).status_code == 200
            provider.rotate(rsa_jwk("rsa-2"))  # new first key, the old one still published
            after = provider.token("svc-admin")
            assert jwt.get_unverified_header(after)["kid"] == "rsa-2"
            assert (await client.get(url, headers=bearer(after))).status_code == 200  # same process, new key
            assert (await client.get(url, headers=bearer(before))).status_code == 200  # old tokens still good
            fetches = app.state.oidc_verifier.fetches
            assert fetches == 2
            provider.rotate(rsa_jwk("rsa-3"), keep_old=False)  # the old keys withdrawn
            newest = provider.token("svc-admin")
            assert (await client.get(url, headers=bearer(newest))).status_code == 200
            # A token of a withdrawn key is refused once the set is fetched again (here: at the new kid).
            assert_refused(await client.get(url, headers=bearer(before)), "kid")
    finally:
        provider.stop()


def test_production_refuses_hs256_and_requires_an_issuer():
    keys = {"audit_keys": {}}
    with pytest.raises(ValidationError, match="SWP_OIDC_ISSUER"):
        Settings(environment="production", **keys)
    with pytest.raises(ValidationError, match="SWP_JWT_SECRET"):
        Settings(environment="production", jwt_secret="x" * 40, oidc_issuer="https://idp", oidc_audience="a", **keys)
    with pytest.raises(ValidationError, match="asymmetric"):
        Settings(environment="production", oidc_issuer="https://idp", oidc_audience="a", oidc_algorithms=["HS256"], **keys)
    ok = Settings(environment="production", oidc_issuer="https://idp", oidc_audience="a", **keys)
    with pytest.raises(ValueError, match="production"):  # no service can mint a user token in production
        issue_token(ok, sub="x", role=Role.PROVINCE_ADMIN, counties=["*"])
