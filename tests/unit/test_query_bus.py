"""The one query pipeline (issue 15 item 1): a typed query is answered by the handler its service
registered, only in the county the caller's scope was granted, with the viewer that limits it."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from shared.infra.auth import CountyScope, Principal, Role
from shared.infra.queries import PUBLIC, PublicQuery, Query, QueryBus, Viewer
from shared.rules import Forbidden

CONTRACTS = {"c1": "p1", "c2": "p2"}


@dataclass(frozen=True, kw_only=True)
class ListContracts(Query):
    pass


def visible(query: ListContracts, viewer: Viewer) -> list[str]:
    return [c for c, owner in CONTRACTS.items() if viewer.sees_provider(owner)]


def scope(role: Role, county: str = "640402", **claims: str) -> CountyScope:
    return CountyScope(county=county, principal=Principal(sub="u", role=role, counties=frozenset({county}), **claims))


def bus() -> QueryBus:
    b = QueryBus()
    b.register(ListContracts, visible)
    return b


def test_a_provider_sees_only_its_own_and_a_purchaser_all():
    assert bus().ask(ListContracts(county="640402"), scope(Role.PROVIDER, provider_id="p1")) == ["c1"]
    assert bus().ask(ListContracts(county="640402"), scope(Role.WORKER, provider_id="p2", worker_id="w")) == ["c2"]
    assert bus().ask(ListContracts(county="640402"), scope(Role.PURCHASER)) == ["c1", "c2"]


def test_the_viewer_keeps_only_the_claims_that_limit_its_role():
    # A purchaser's token naming a provider is not limited by it; an evaluator by its organisation.
    purchaser = Viewer.of(Principal(sub="u", role=Role.PURCHASER, counties=frozenset(), provider_id="p1"))
    assert purchaser.provider_id is None and purchaser.sees_provider("p2")
    evaluator = Viewer.of(
        Principal(sub="u", role=Role.EVALUATOR, counties=frozenset(), evaluator_org="e1", provider_id="p1")
    )
    assert (evaluator.evaluator_org, evaluator.provider_id) == ("e1", None)


def test_a_query_of_another_county_is_refused():
    with pytest.raises(Forbidden) as refused:
        bus().ask(ListContracts(county="640403"), scope(Role.PURCHASER))
    assert refused.value.rule == "R-AUD-6"


def test_a_query_type_has_one_handler_and_an_unregistered_one_is_an_error():
    b = bus()
    with pytest.raises(RuntimeError):
        b.register(ListContracts, visible)

    @dataclass(frozen=True, kw_only=True)
    class Other(Query):
        pass

    with pytest.raises(RuntimeError):
        b.ask(Other(county="640402"), scope(Role.PURCHASER))
    assert b.query_types == [ListContracts]


@dataclass(frozen=True, kw_only=True)
class Calendars(Query):
    county: None = None


def test_a_province_wide_query_takes_the_principal_and_a_county_query_never_does():
    b = QueryBus()
    b.register(Calendars, lambda q, v: v.role)
    b.register(ListContracts, visible)
    principal = Principal(sub="u", role=Role.AUDITOR, counties=frozenset({"640402"}))
    assert b.ask(Calendars(), principal) == Role.AUDITOR
    with pytest.raises(Forbidden):
        b.ask(ListContracts(county="640402"), principal)  # a county read without its checked scope
    with pytest.raises(Forbidden):
        b.ask(Calendars(), scope(Role.PURCHASER))  # the scope's county is not the query's (none)


def test_the_viewer_sees_the_counties_granted_and_every_county_only_province_wide():
    auditor = Viewer.of(Principal(sub="a", role=Role.AUDITOR, counties=frozenset({"*"})))
    assert auditor.province_wide and auditor.sees_county("640402")
    # "*" counts only for a province-wide role (as Principal.can_see).
    purchaser = Viewer.of(Principal(sub="p", role=Role.PURCHASER, counties=frozenset({"*", "640402"})))
    assert not purchaser.province_wide and purchaser.sees_county("640402") and not purchaser.sees_county("130731")


@dataclass(frozen=True, kw_only=True)
class Disclosure(PublicQuery):
    pass


def test_only_a_public_query_is_asked_without_a_token():
    b = QueryBus()
    b.register(Disclosure, lambda q, v: v)
    b.register(ListContracts, visible)
    assert b.ask(Disclosure(county="640402"), None) is PUBLIC
    assert not PUBLIC.sees_county("640402")
    with pytest.raises(Forbidden) as refused:
        b.ask(ListContracts(county="640402"), None)
    assert refused.value.rule == "R-AUD-6"
