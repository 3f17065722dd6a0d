"""Shared steps of the procurement narratives (no tests here): the platform with the procurement
package plugged into the registry, and a county with providers, a station and its workers."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from shared.infra.auth import Role
from shared.infra.settings import Settings
from shared.testing.fixtures import client_for, running

YUAN = 100  # fen
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100-2015
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc(county: str, serial: int) -> str:
    """A valid 统一社会信用代码 of a social organisation (52…) registered in ``county``."""
    first17 = f"52{county}MJ{serial:07d}"
    total = sum(ALPHABET.index(c) * w for c, w in zip(first17, WEIGHTS, strict=True))
    return first17 + ALPHABET[(31 - total % 31) % 31]


def registry_spec() -> Any:
    """registry.main.SPEC with the three procurement hooks — as it is once WIRING.patch is applied."""
    import registry.main
    from registry.application import RegistryApplication
    from registry.procurement import api, integration
    from registry.procurement.application import ProcurementCommands

    spec = registry.main.SPEC
    if api.programme_router in spec.routers:
        return spec  # wired

    class App(ProcurementCommands, RegistryApplication):  # type: ignore[misc]
        pass

    base_mapping = spec.to_integration
    return dataclasses.replace(
        spec,
        application=lambda env: App(env=env),
        routers=[*spec.routers, *api.ROUTERS],
        published=[*spec.published, *integration.PUBLISHED],
        to_integration=lambda e: base_mapping(e) or integration.to_integration(e),
    )


@pytest.fixture(name="platform")
async def platform_fixture(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    """The whole platform behind its gateway, the registry composed with procurement."""
    import gateway.app as gateway_app

    from shared.infra.service import create_service_app

    spec = registry_spec()
    monkeypatch.setitem(gateway_app.PREFIXES, "registry", lambda s: create_service_app(spec, s))
    app = gateway_app.create_app(settings)
    async with running(app), client_for(app) as client:
        yield client


async def ok(response: Any, status: int = 201) -> dict[str, Any]:
    r = await response
    assert r.status_code == status, r.text
    return r.json()


async def refused(response: Any, rule: str, field: str | None, status: int = 422) -> dict[str, Any]:
    r = await response
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert (problem.get("rule"), problem.get("field")) == (rule, field), problem
    return problem


async def register_county(client: httpx.AsyncClient, tokens: Any, county: str, name: str, **policy: Any) -> None:
    await ok(client.put(f"/registry/v1/counties/{county}", json={"name": name, "policy": policy or None},
                        headers=tokens(Role.PROVINCE_ADMIN, "*")), 200)


async def provider(client: httpx.AsyncClient, tokens: Any, county: str, name: str, serial: int, rating: str) -> str:
    body = {"name": name, "uscc": uscc(county, serial), "rating": rating}
    return (await ok(client.post(f"/registry/v1/counties/{county}/providers", json=body,
                                 headers=tokens(Role.PURCHASER, county))))["provider_id"]


async def station(client: httpx.AsyncClient, tokens: Any, county: str, name: str, township: str, kind: str) -> str:
    body = {"name": name, "township": township, "kind": kind}
    return (await ok(client.post(f"/registry/v1/counties/{county}/stations", json=body,
                                 headers=tokens(Role.PURCHASER, county))))["station_id"]


async def staff(client: httpx.AsyncClient, tokens: Any, county: str, provider_id: str, station_id: str, *names: str) -> None:
    """Social workers of the provider at the station, so a contract naming it can be signed (R-REG-2)."""
    for name in names:
        body = {
            "provider_id": provider_id, "station_id": station_id, "name": name, "birth_date": "1995-05-05",
            "education": "本科", "qualification": "助理社会工作师", "role": "social_worker", "hired_on": "2026-08-01",
        }
        await ok(client.post(f"/registry/v1/counties/{county}/workers", json=body, headers=tokens(Role.PURCHASER, county)))


async def events(client: httpx.AsyncClient, tokens: Any, event_type: str, county: str | None = None) -> list[dict[str, Any]]:
    """The registry's published envelopes of one type, from its own log (what the relay sends)."""
    params: dict[str, Any] = {"event_type": event_type, "limit": 1000}
    if county:
        params["county"] = county
    r = await client.get("/registry/v1/audit/events", params=params, headers=tokens(Role.AUDITOR, "*"))
    assert r.status_code == 200, r.text
    return list(r.json()["events"])
