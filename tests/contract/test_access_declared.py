"""Every route of every service declares its access through the one dependency (R-AUD-6): exactly
one ``county_scope(…)`` / ``require_roles(…)`` in its dependency tree, agreeing with its row in
docs/ACCESS.md (roles, scope, owned resource). No NATS or database: the routes are read from the
applications. (tests/integration/test_access_matrix.py checks the same table by calling them.)"""

from __future__ import annotations

from typing import Any

import evaluation.main
import finance.main
import pytest
import registry.main
import services_log.main
from fastapi.routing import APIRoute

from shared.infra.auth import READ_ONLY_ROLES
from shared.infra.settings import Settings
from tests.integration.test_access_matrix import policy_table

APPS = {"registry": registry.main, "services-log": services_log.main, "evaluation": evaluation.main, "finance": finance.main}
UNLISTED = {"/docs", "/redoc"}  # HTML pages outside the OpenAPI document, no token (like /health)


def routes(app: Any) -> list[tuple[str, set[str], Any]]:
    found = []
    for r in app.routes:
        if isinstance(r, APIRoute):
            found.append((r.path, r.methods, r.dependant))
        elif hasattr(r, "effective_candidates"):  # FastAPI's included routers
            found += [(c.path, c.methods, c.dependant) for c in r.effective_candidates()]
    return found


def policies(dependant: Any) -> list[Any]:
    out = []
    for sub in dependant.dependencies:
        if hasattr(sub.call, "policy"):
            out.append(sub.call.policy)
        out += policies(sub)
    return out


@pytest.mark.parametrize("service", sorted(APPS))
def test_every_route_declares_its_access_once_as_the_table_says(service):
    table = {(m, p): row for (s, m, p), row in policy_table().items() if s == service}
    seen = set()
    for path, methods, dependant in routes(APPS[service].create_app(Settings())):
        declared = policies(dependant)
        for method in methods:
            seen.add((method, path))
            if path in UNLISTED:
                assert declared == [], (method, path)
                continue
            row = table.get((method, path))
            assert row is not None, f"{service} {method} {path}: not in docs/ACCESS.md"
            if row.scope in ("ops", "public"):
                assert declared == [], (method, path, declared)
                continue
            assert len(declared) == 1, f"{service} {method} {path}: {len(declared)} access declarations"
            policy = declared[0]
            roles = {str(r) for r in policy.roles}
            if policy.write:  # read-only roles are refused whatever the route lists
                roles -= {str(r) for r in READ_ONLY_ROLES}
            assert roles == set(row.roles), (method, path, sorted(roles), sorted(row.roles))
            assert (str(policy.owns) if policy.owns else None) == row.owns, (method, path)
            scope = "county" if policy.county else "province-wide" if policy.province_wide else "token"
            assert scope == row.scope or (scope, row.scope) == ("token", "record"), (method, path, scope, row.scope)
    assert not {k for k in table if table[k].scope != "ops"} - seen, "docs/ACCESS.md lists routes that do not exist"
