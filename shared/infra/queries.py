"""One pipeline for every query (issue 15 item 1), the read-side twin of
:mod:`shared.infra.commands`.

A route states what it wants to read as a typed :class:`Query` — a frozen dataclass naming the
county and the request's parameters — and asks the service's :class:`QueryBus` with the caller's
:class:`~shared.infra.auth.CountyScope`. The route's ``county_scope(…, owns=…)`` declaration has
already decided role, county and ownership of the resource in its path (docs/ACCESS.md); the bus
then, for every query alike:

- refuses a query for another county than the scope was granted (R-AUD-6);
- hands the handler the :class:`Viewer` — who asks, reduced to what limits their answer (the
  provider, evaluator organisation or worker they are bound to, the counties they are granted) —
  so a list or a read of several resources is narrowed to what the caller owns by the handler the
  service registered, never by the route remembering to do it.

A :class:`PublicQuery` (a public disclosure, asked without a token) is asked with ``scope=None``;
its handler gets :data:`PUBLIC`, a viewer of no role and no county, and answers only what is public.

A query records nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from shared.infra.auth import PROVIDER_ROLES, PROVINCE_WIDE_ROLES, CountyScope, Principal, Role
from shared.rules import Forbidden


@dataclass(frozen=True, kw_only=True)
class Query:
    """A typed query. ``county`` is where it reads (``None``: a province-wide read, such as the
    official calendar, whose route grants no county); its other fields are what the caller asked."""

    county: str | None


@dataclass(frozen=True, kw_only=True)
class PublicQuery(Query):
    """A query anyone may ask, without a token (e.g. the provider disclosure, R-REG-9)."""

    county: str


@dataclass(frozen=True)
class Viewer:
    """Who asks, as far as it limits the answer. ``provider_id`` is set only for a provider-bound
    role (provider, worker), ``evaluator_org`` only for an evaluator, ``worker_id`` only for a
    worker: ``None`` means "not limited by that". ``counties``: the counties the token is granted
    (``"*"``: every county, for a province-wide role), for reads that span counties. ``role`` is
    ``None`` only for :data:`PUBLIC`."""

    role: Role | None
    provider_id: str | None = None
    evaluator_org: str | None = None
    worker_id: str | None = None
    counties: frozenset[str] = frozenset()

    @classmethod
    def of(cls, principal: Principal) -> Viewer:
        provider_bound = principal.role in PROVIDER_ROLES
        return cls(
            role=principal.role,
            provider_id=principal.provider_id if provider_bound else None,
            evaluator_org=principal.evaluator_org if principal.role == Role.EVALUATOR else None,
            worker_id=principal.worker_id if principal.role == Role.WORKER else None,
            counties=principal.counties,
        )

    def sees_provider(self, provider_id: str | None) -> bool:
        return self.provider_id is None or self.provider_id == provider_id

    @property
    def province_wide(self) -> bool:
        """Granted every county (``counties: ["*"]`` of a province-wide role)."""
        return "*" in self.counties and self.role in PROVINCE_WIDE_ROLES

    def sees_county(self, county: str) -> bool:
        """Granted ``county`` (as :meth:`Principal.can_see`): a read across counties keeps only these."""
        return county in self.counties or self.province_wide


# The public, asking a PublicQuery without a token: no role, no county, limited to what is public.
PUBLIC = Viewer(role=None)


Q = TypeVar("Q", bound=Query)
R = TypeVar("R")


class QueryBus:
    """The service's one way to answer a query (see the module docstring)."""

    def __init__(self) -> None:
        self._handlers: dict[type[Query], Callable[[Any, Viewer], Any]] = {}

    def register(self, query_type: type[Q], handle: Callable[[Q, Viewer], R]) -> None:
        if query_type in self._handlers:
            raise RuntimeError(f"{query_type.__name__} already has a handler")
        self._handlers[query_type] = handle

    @property
    def query_types(self) -> list[type[Query]]:
        return list(self._handlers)

    def ask(self, query: Query, scope: CountyScope | Principal | None) -> Any:
        """``scope``: the caller's county scope, or for a province-wide query (``county`` None)
        the caller's principal; ``None`` (no token) only for a :class:`PublicQuery`."""
        handle = self._handlers.get(type(query))
        if handle is None:
            raise RuntimeError(f"no handler registered for {type(query).__name__}")
        if scope is None:
            if not isinstance(query, PublicQuery):
                raise Forbidden(f"{type(query).__name__} is not public: it needs the caller's token", rule="R-AUD-6")
            return handle(query, PUBLIC)
        if isinstance(scope, CountyScope):
            if query.county != scope.county:
                raise Forbidden(
                    f"a query of county {query.county} cannot run in the scope of county {scope.county}", rule="R-AUD-6"
                )
            principal = scope.principal
        else:
            if query.county is not None:
                raise Forbidden(f"a query of county {query.county} needs the caller's county scope", rule="R-AUD-6")
            principal = scope
        return handle(query, Viewer.of(principal))
