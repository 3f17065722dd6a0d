"""The registry's reads as typed queries (issue 15 item 1, registry/reads.py): each GET route asks
a query on the registry's QueryBus, and the handler — not the route — narrows the answer to what
the caller owns (R-AUD-6): a provider lists and reads only its own contracts and workers, a worker
only itself, a read across counties keeps only the counties the token is granted. In memory
(eventsourcing's popo store)."""

from __future__ import annotations

import ast
import inspect
from datetime import date

import pytest
from registry import reads
from registry.application import Registry, RegistryApplication, compose
from registry.main import SPEC

from shared.infra.auth import CountyScope, Principal, Role
from shared.infra.paging import BadCursor, encode_cursor
from shared.infra.queries import Query
from shared.infra.store import CommandContext
from shared.rules import Forbidden, NotFound

COUNTY, OTHER = "640402", "130731"
USCC = {"明德": "52640402MJY1000012", "启航": "51130731MJA000001G"}


def D(text: str) -> date:
    return date.fromisoformat(text)


def scope(role: Role, county: str = COUNTY, **claims: str) -> CountyScope:
    return CountyScope(county=county, principal=Principal(sub="u", role=role, counties=frozenset({county}), **claims))


class World:
    """Two providers of 原州区, each with a station, two workers and a signed contract."""

    def __init__(self) -> None:
        self.app = RegistryApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        self.registry: Registry = compose(self.app)
        self.providers: dict[str, str] = {}
        self.workers: dict[str, list[str]] = {}
        self.contracts: dict[str, str] = {}
        with self.app.command(CommandContext(county=COUNTY, actor="tester")):
            self.registry.counties.put_county(COUNTY, "原州区", None)
            self.registry.counties.put_county(OTHER, "涿鹿县", None)
            for name, uscc in USCC.items():
                self.provider(name, uscc)

    def provider(self, name: str, uscc: str) -> None:
        r = self.registry
        provider = str(r.counties.register_provider(COUNTY, name, uscc, "4A", False))
        station = str(r.staffing.establish_station(COUNTY, f"{name}社工站", "南关街道", "street_station"))
        self.providers[name] = provider
        self.workers[name] = [
            str(
                r.staffing.hire_worker(
                    COUNTY,
                    provider,
                    station,
                    who,
                    D("1995-05-05"),
                    "本科",
                    "助理社会工作师",
                    "social_worker",
                    D("2026-08-01"),
                )
            )
            for who in ("李娜", "王静")
        ]
        terms = {
            "provider_id": provider,
            "station_ids": [station],
            "purchaser": "原州区民政局",
            "signed_on": D("2026-09-10"),
            "effective_on": D("2026-09-21"),
            "period_start": D("2026-09-21"),
            "period_end": D("2027-09-20"),
            "amount_fen": 100,
            "funding": [{"source": "福彩公益金", "amount_fen": 100}],
            "service_areas": ["社会救助"],
            "indicators": [{"code": "assist", "name": "帮扶救助", "unit": "人次", "target": 500}],
        }
        self.contracts[name] = str(r.contracting.sign_contract(COUNTY, terms))

    def ask(self, query: Query, asking: object) -> object:
        return self.registry.reads.ask(query, asking)  # type: ignore[arg-type]


@pytest.fixture
def world() -> World:
    w = World()
    yield w
    w.app.close()


def contract_ids(listed: reads.Listed) -> list[str]:
    return [str(c.id) for c in listed.page.items]


def test_a_provider_lists_only_its_own_contracts_whatever_it_asks_for(world):
    mingde, qihang = world.providers["明德"], world.providers["启航"]
    as_mingde = scope(Role.PROVIDER, provider_id=mingde)
    mine = world.ask(reads.ContractList(county=COUNTY, limit=10), as_mingde)
    assert contract_ids(mine) == [world.contracts["明德"]]
    # Asking for another provider's contracts does not widen it (R-AUD-6): still its own only …
    asked_other = world.ask(reads.ContractList(county=COUNTY, provider_id=qihang, limit=10), as_mingde)
    assert contract_ids(asked_other) == [world.contracts["明德"]]
    # … and the next cursor is bound to the narrowed owner, as before the queries.
    assert mine.query == asked_other.query == {"county": COUNTY, "provider_id": mingde, "status": None, "filing": None}
    # The purchaser reads the county, or one provider's when it asks.
    everyone = world.ask(reads.ContractList(county=COUNTY, limit=10), scope(Role.PURCHASER))
    assert contract_ids(everyone) == [world.contracts["明德"], world.contracts["启航"]]
    one = world.ask(reads.ContractList(county=COUNTY, provider_id=qihang, limit=10), scope(Role.PURCHASER))
    assert contract_ids(one) == [world.contracts["启航"]]


def test_a_list_cursor_is_bound_to_the_narrowed_filters(world):
    first = world.ask(reads.ContractList(county=COUNTY, limit=1), scope(Role.PURCHASER))
    assert first.page.next_key is not None
    cursor = encode_cursor(first.name, first.query, first.page.next_key)
    second = world.ask(reads.ContractList(county=COUNTY, limit=1, cursor=cursor), scope(Role.PURCHASER))
    assert contract_ids(second) == [world.contracts["启航"]]
    with pytest.raises(BadCursor):  # a cursor of the county list is not one of a provider's own list
        world.ask(
            reads.ContractList(county=COUNTY, limit=1, cursor=cursor),
            scope(Role.PROVIDER, provider_id=world.providers["明德"]),
        )


def test_a_provider_reads_neither_another_providers_contract_nor_its_workers(world):
    as_mingde = scope(Role.PROVIDER, provider_id=world.providers["明德"])
    own = world.ask(reads.ContractDetail(county=COUNTY, contract_id=world.contracts["明德"]), as_mingde)
    assert str(own.contract.id) == world.contracts["明德"]
    with pytest.raises(NotFound) as hidden:
        world.ask(reads.ContractDetail(county=COUNTY, contract_id=world.contracts["启航"]), as_mingde)
    # Shaped like the 404 of an unknown id: not even its existence (R-AUD-6).
    assert hidden.value.detail == f"unknown contract {world.contracts['启航']} in county {COUNTY}"
    listed = world.ask(reads.WorkerList(county=COUNTY, as_of=D("2026-11-01"), limit=10), as_mingde)
    assert [str(w.id) for w in listed.page.items] == world.workers["明德"]
    due = world.ask(
        reads.WorkerList(county=COUNTY, as_of=D("2026-11-01"), certificate_due_within_days=3650, limit=10),
        scope(Role.PROVIDER, provider_id=world.providers["启航"]),
    )
    assert due.page.items == [] and due.page.next_key is None  # qualified workers: nothing due, unpaged
    with pytest.raises(NotFound):
        world.ask(reads.WorkerDetail(county=COUNTY, worker_id=world.workers["启航"][0]), as_mingde)
    with pytest.raises(NotFound):
        world.ask(reads.ProviderDetail(county=COUNTY, provider_id=world.providers["启航"]), as_mingde)
    # A worker reads itself, not a colleague of the same provider.
    li_na, wang_jing = world.workers["明德"]
    as_li_na = scope(Role.WORKER, provider_id=world.providers["明德"], worker_id=li_na)
    assert str(world.ask(reads.WorkerDetail(county=COUNTY, worker_id=li_na), as_li_na).id) == li_na
    with pytest.raises(NotFound):
        world.ask(reads.WorkerDetail(county=COUNTY, worker_id=wang_jing), as_li_na)


def test_a_query_for_another_county_is_refused(world):
    with pytest.raises(Forbidden) as refused:
        world.ask(reads.ContractList(county=OTHER, limit=10), scope(Role.PURCHASER))
    assert refused.value.rule == "R-AUD-6"
    with pytest.raises(Forbidden) as refused:
        world.ask(reads.CountyPolicy(county=OTHER), scope(Role.AUDITOR))
    assert refused.value.rule == "R-AUD-6"


def test_reads_across_counties_keep_only_the_counties_granted(world):
    everywhere = Principal(sub="a", role=Role.AUDITOR, counties=frozenset({"*"}))
    listed = world.ask(reads.CountyList(limit=10), everywhere)
    assert [c.code for c in listed.page.items] == [COUNTY, OTHER]
    # A token of named counties (the route asks a province-wide one; the handler narrows anyway).
    one = Principal(sub="b", role=Role.AUDITOR, counties=frozenset({OTHER}))
    assert [c.code for c in world.ask(reads.CountyList(limit=10), one).page.items] == [OTHER]
    assert world.ask(reads.ProvinceContracts(limit=10), one).page.items == []
    with pytest.raises(Forbidden) as refused:
        world.ask(reads.ProvinceContracts(in_county=COUNTY, limit=10), one)
    assert refused.value.rule == "R-AUD-6"
    assert len(world.ask(reads.ProvinceContracts(in_county=COUNTY, limit=10), everywhere).page.items) == 2
    # A province-wide query is asked with the principal, never in a county's scope.
    with pytest.raises(Forbidden):
        world.ask(reads.CountyList(limit=10), scope(Role.PROVINCE_ADMIN))


def test_a_programmes_projects_are_shown_only_for_the_counties_granted(world):
    procurement = world.registry.procurement
    with world.app.command(CommandContext(county="province", actor="tester")):
        programme_id = str(
            procurement.launch_programme(
                issuer="固原市民政局",
                level="city",
                document_no="固民发〔2026〕1号",
                title="社会工作试点项目",
                issued_on=D("2026-03-01"),
                budget_fen=300,
                allocations=[
                    {"county": COUNTY, "name": "原州区", "amount_fen": 200, "pilot_areas": 1},
                    {"county": OTHER, "name": "涿鹿县", "amount_fen": 100, "pilot_areas": 1},
                ],
                milestones=[
                    {"kind": "mobilisation", "due_on": "2026-03-31"},
                    {"kind": "bidding", "due_on": "2026-04-30"},
                    {"kind": "service", "starts_on": "2026-05-01", "due_on": "2026-11-30"},
                    {"kind": "evaluation", "due_on": "2026-12-31"},
                ],
                themes=[],
            )
        )
    purchaser = Principal(sub="p", role=Role.PURCHASER, counties=frozenset({COUNTY}))
    found = world.ask(reads.ProgrammeDetail(programme_id=programme_id), purchaser)
    assert {a["county"]: a["projects"] for a in found.allocations} == {COUNTY: [], OTHER: None}


def test_the_public_disclosure_is_asked_without_a_token_and_nothing_else_is(world):
    records = world.ask(reads.PublicProviders(county=COUNTY), None)
    assert [str(r.provider.id) for r in records] == [world.providers["明德"], world.providers["启航"]]
    assert [len(r.workers) for r in records] == [2, 2]
    with pytest.raises(Forbidden) as refused:
        world.ask(reads.ContractList(county=COUNTY, limit=10), None)
    assert refused.value.rule == "R-AUD-6"


# --- every GET route asks a query the bus answers ---------------------------------------------
def _get_routes() -> list[tuple[str, object]]:
    from fastapi.routing import APIRoute

    routes = []
    for router in SPEC.routers:
        for route in router.routes:
            if isinstance(route, APIRoute) and "GET" in route.methods:
                routes.append((route.path, route.endpoint))
    return routes


def _queries_built(endpoint: object) -> set[type[Query]]:
    tree = ast.parse(inspect.getsource(endpoint))  # type: ignore[arg-type]
    names = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    built = {getattr(reads, name, None) for name in names}
    return {q for q in built if isinstance(q, type) and issubclass(q, Query) and q.__module__ == reads.__name__}


def test_every_get_route_asks_a_query_type_the_bus_has_a_handler_for(world):
    routes = _get_routes()
    assert (
        len(routes) >= 15
    )  # counties, funding, contracts, providers, workers, stations, public, province, procurement
    registered = set(world.registry.reads.query_types)
    asked: set[type[Query]] = set()
    for path, endpoint in routes:
        queries = _queries_built(endpoint)
        assert queries, f"GET {path} asks no query of registry.reads"
        assert queries <= registered, f"GET {path}: no handler for {queries - registered}"
        asked |= queries
    # … and no handler is registered that no route asks (dead reads).
    assert asked == registered
