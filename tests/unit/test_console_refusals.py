"""The console shows every refusal a delivery form (log, correct, void, import) can get as a Chinese
sentence with its figures, naming people and stations, never showing an id.

The refusals are made by services-log's own rules (``delivery_problems``, a delivery's
corrections and voidings), turned into problem+json by the platform's one handler, read back by
the console's ``Refusal.of`` and rendered through its form macros — the way a clerk sees them.
"""

from __future__ import annotations

import ast
import json
import re
import uuid
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from console.api import ApiProblem, Refusal
from console.refusals import SENTENCES, UUID, import_row_zh, sentence
from console.web import templates
from services_log.bulk import ImportReport
from services_log.domainmodel import Contract, DeliveryFacts, ServiceDelivery, Worker, delivery_problems

from shared.infra.problems import problem_response
from shared.rules import DomainError, NotFound, RuleViolation

ROOT = Path(__file__).resolve().parents[2]
PROVIDER, STATION, ELSEWHERE = "p-明德", str(uuid.uuid4()), str(uuid.uuid4())
TODAY = date(2026, 11, 25)
CJK = re.compile(r"[\u4e00-\u9fff]")
# Refusals made where services-log looks records up (not by the pure rules walked below): each
# as services-log raises it.
LOOKUP_CODES = {"beneficiary_unknown", "contract_unknown", "not_contracted_provider", "beneficiary_erased",
                "import_no_contract", "unknown_reference", "token_without_provider",
                "import_replayed"}  # only on an import repeated with its Idempotency-Key


def contract(**policy) -> Contract:
    return Contract(
        contract_id=str(uuid.uuid4()),
        county="640402",
        provider_id=PROVIDER,
        station_ids=[STATION, ELSEWHERE],
        period_start=date(2026, 9, 21),
        period_end=date(2027, 9, 20),
        service_areas=["社会救助", "儿童关爱保护"],
        indicators=[
            {"code": "assist", "name": "帮扶救助", "unit": "人次", "target": 500},
            {"code": "community", "name": "社区参与活动", "unit": "场", "target": 5},
        ],
        policy=policy,
    )


def worker(provider: str = PROVIDER) -> Worker:
    return Worker(
        worker_id=str(uuid.uuid4()),
        county="640402",
        provider_id=provider,
        station_id=STATION,
        role="social_worker",
        hired_on=date(2026, 8, 1),
    )


def walk() -> tuple[list[DomainError], dict[str, str]]:
    """Every refusal the rules give a delivery form, and the names the page knows."""
    c, w, stranger = contract(), worker(), worker("p-其他")
    workers = {w.worker_id: w, stranger.worker_id: stranger}
    names = {w.worker_id: "杨帆", STATION: "南关社工站", ELSEWHERE: "三营社工站"}

    def facts(**changes) -> DeliveryFacts:
        return DeliveryFacts(
            contract_id=c.contract_id,
            station_id=STATION,
            worker_ids=(w.worker_id,),
            kind="帮扶救助",
            area="社会救助",
            date=date(2026, 10, 5),
            hours_direct=Decimal(2),
            hours_other=Decimal("0.5"),
            person_times=10,
            indicator_code="assist",
        ).changed(**changes)

    none = lambda _w, _d: Decimal(0)  # noqa: E731
    cases = [
        facts(kind="跳舞"),
        facts(area="体育"),
        facts(area="养老服务"),
        facts(date=date(2026, 9, 1)),
        facts(date=date(2026, 11, 26)),
        facts(station_id=ELSEWHERE),
        facts(station_id="s-外站"),
        facts(hours_direct=Decimal(0), hours_other=Decimal(0)),
        facts(indicator_code="nope"),
        facts(indicator_code=None, indicator_quantity=3),
        facts(indicator_code="community", indicator_quantity=-1),
        facts(indicator_code="assist", indicator_quantity=3),
        facts(worker_ids=()),
        facts(worker_ids=(w.worker_id, w.worker_id)),
        facts(worker_ids=(str(uuid.uuid4()),)),
        facts(worker_ids=(stranger.worker_id,)),
    ]
    problems = [p for f in cases for p in delivery_problems(f, c, workers, none, TODAY)]
    problems += delivery_problems(
        facts(), c, workers, lambda _w, _d: Decimal(11), TODAY
    )  # R-LOG-4: 11 h + 2.5 h > 12 h

    from services_log.api.common import check_own_delivery

    from shared.infra.auth import CountyScope, Principal, Role

    her = CountyScope(county="640402", principal=Principal(sub="u", role=Role.WORKER, counties=frozenset({"640402"}),
                                                           provider_id=PROVIDER, worker_id=str(uuid.uuid4())))
    with pytest.raises(DomainError) as refused:
        check_own_delivery(her, [w.worker_id])  # a worker's own token, naming only a colleague
    problems.append(refused.value)

    d = ServiceDelivery(delivery_id=str(uuid.uuid4()), county="640402", source="api", **facts().as_args())
    for attempt in (
        lambda: d.correct(facts(), "改"),
        lambda: d.correct(facts(contract_id=str(uuid.uuid4())), "改"),
        lambda: d.check_correctable("  "),
        lambda: (d.void("重复"), d.check_correctable("再次")),
    ):
        with pytest.raises(RuleViolation) as refused:
            attempt()
        problems.append(refused.value)
    return problems, names


def as_received(exc: DomainError) -> ApiProblem:
    """The refusal as the console receives it: the platform's problem+json, over JSON."""
    response = problem_response(exc.status, exc.title, exc.detail, rule=exc.rule, field=exc.field, facts=exc.facts)
    return ApiProblem(exc.status, json.loads(response.body))


def rendered(refusal: Refusal) -> str:
    macros = templates.env.get_template("_macros.html").module
    html = str(macros.general(refusal)) + "".join(str(macros.messages(refusal, name)) for name in refusal.fields)
    return re.sub(r"\s+", " ", html)


SERVICES_LOG_FILES = tuple(
    f"services/services-log/services_log/{p}"
    for p in ("domainmodel/delivery.py", "lookups.py", "recording.py", "bulk.py", "api/common.py")
)


def source_codes() -> set[str]:
    """Every refusal code services-log gives a delivery (as written where it refuses)."""
    return codes_in(*SERVICES_LOG_FILES)


def codes_in(*paths: str) -> set[str]:
    """The refusal codes written where a service refuses: the ``code`` of each ``facts`` dict in
    those files (a ``facts=`` argument, a ``facts`` variable, or an import row's problem tuple)."""
    dicts: list[ast.Dict] = []
    for path in paths:
        for node in ast.walk(ast.parse((ROOT / path).read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "facts" and isinstance(node.value, ast.Dict):
                dicts.append(node.value)
            elif isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Dict):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id == "facts" for t in targets):
                    dicts.append(node.value)
            elif isinstance(node, ast.Tuple) and len(node.elts) == 4 and isinstance(node.elts[3], ast.Dict):
                dicts.append(node.elts[3])
    return {
        v.value for d in dicts for k, v in zip(d.keys, d.values, strict=True)
        if isinstance(k, ast.Constant) and k.value == "code" and isinstance(v, ast.Constant)
    }


ERRORS = {"DomainError", "RuleViolation", "NotFound", "UnknownReference", "Conflict", "Forbidden", "error"}


def raised_without_facts(*paths: str) -> list[str]:
    """Where these files raise a refusal (a ``DomainError``) without ``facts``, as ``path:line``."""
    found = []
    for path in paths:
        for node in ast.walk(ast.parse((ROOT / path).read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                func = node.exc.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                if name in ERRORS and not any(k.arg == "facts" for k in node.exc.keywords):
                    found.append(f"{path}:{node.lineno}")
    return found


def assert_chinese(problems: list[DomainError], names: dict[str, str], known: set[str]) -> None:
    """Each refusal, placed on a form knowing ``known`` fields and on one knowing every field, reads
    as a Chinese sentence (no muted English), shows no UUID and names its rule."""
    assert all(p.facts and p.facts.get("code") for p in problems), [p.detail for p in problems if not p.facts]
    for p in problems:
        for fields in (known, None):
            refusal = Refusal.of(as_received(p), fields, names=names)
            html = rendered(refusal)
            messages = refusal.general + [m for ms in refusal.fields.values() for m in ms]
            assert messages and all(CJK.search(m.text) and not m.detail for m in messages), (p.detail, messages)
            assert not UUID.search(html), (p.detail, html)
            assert p.rule is None or f"【{p.rule}】" in html


def assert_walked(problems: list[DomainError], names: dict[str, str], known: set[str], files: tuple[str, ...],
                  also: tuple[str, ...] = ()) -> None:
    """The walk reaches every refusal code written in ``files`` (and ``also``, whose other refusals
    are not the console's), each has a sentence, every refusal in ``files`` carries facts, and
    each reads as Chinese without ids (:func:`assert_chinese`)."""
    codes = {p.facts["code"] for p in problems if p.facts}
    assert codes == codes_in(*files, *also), "a refusal code the walk does not reach, or one no rule gives"
    assert codes <= set(SENTENCES), "a refusal code with no Chinese sentence"
    assert not raised_without_facts(*files), "a refusal without facts: the console has no sentence for it"
    assert_chinese(problems, names, known)


def chinese_by_code(problems: list[DomainError], names: dict[str, str]) -> tuple[dict[str, str], dict[str, DomainError]]:
    """Each refusal's Chinese sentence (on a form knowing none of its fields), and the refusal, by code."""
    by_code = {p.facts["code"]: p for p in problems if p.facts}
    return {c: Refusal.of(as_received(p), set(), names=names).general[0].text for c, p in by_code.items()}, by_code


def test_every_delivery_refusal_reads_as_a_chinese_sentence_without_ids():
    problems, names = walk()
    codes = {p.facts["code"] for p in problems if p.facts}
    assert codes | LOOKUP_CODES == source_codes(), "a refusal code the walk does not reach, or one no rule gives"
    assert source_codes() <= set(SENTENCES), "a refusal code with no Chinese sentence"
    assert not raised_without_facts(*SERVICES_LOG_FILES), "a refusal without facts: the console has no sentence for it"
    assert all(p.rule for p in problems)
    known = {"kind", "area", "date", "station_id", "hours_direct", "worker_ids", "indicator_code", "indicator_quantity",
             "reason", "contract_id", "delivery_id"}
    assert_chinese(problems, names, known)


def test_the_daily_cap_names_the_worker_and_the_hours():
    problems, names = walk()
    cap = next(p for p in problems if p.rule == "R-LOG-4")
    assert re.search(r"worker [0-9a-f-]{36} would log 13.5 h", cap.detail)  # integrators keep the English, unchanged
    refusal = Refusal.of(as_received(cap), {"worker_ids"}, names=names)
    [message] = refusal.fields["worker_ids"]  # beside the workers picked (worker_ids.0)
    assert message.text == "杨帆在2026年10月5日将登记13.5小时（当天已登记11小时），超过每日12小时的上限"
    assert message.hint.startswith("每名社工每日登记工时不得超过上限")
    # A worker the page does not know is not named, and never shown by id.
    [unnamed] = Refusal.of(as_received(cap), set()).general
    assert unnamed.text.startswith("该社工在2026年10月5日将登记13.5小时") and not UUID.search(unnamed.text)


def test_a_refusal_without_a_sentence_shows_the_rules_hint_and_the_english_muted_without_ids():
    other = RuleViolation(f"provider {uuid.uuid4()} has no 3A rating on 2026-12-03", rule="R-REG-1", field="rating")
    [message] = Refusal.of(as_received(other), {"rating"}).fields["rating"]
    assert message.text.startswith("承接主体须依法登记") and message.hint == ""
    assert message.detail == "provider has no 3A rating on 2026-12-03"
    html = rendered(Refusal.of(as_received(other), {"rating"}))
    assert "详情：provider has no 3A rating" in html and not UUID.search(html)


def test_an_import_reports_rows_in_chinese_with_names():
    problems, names = walk()
    report = ImportReport()
    report.refuse(7, [p for p in problems if p.rule == "R-LOG-4"])
    report.refuse(8, [("date", None, "2026-13-01 is not a date (YYYY-MM-DD)")])
    errors = json.loads(json.dumps(report.errors))  # as the API answers them
    assert import_row_zh(errors[0], names) == (
        "杨帆在2026年10月5日将登记13.5小时（当天已登记11小时），超过每日12小时的上限",
        "",
    )
    assert import_row_zh(errors[1], names)[0].startswith("2026-13-01 不是日期")
    assert errors[0]["detail"].startswith("worker ") and errors[0]["rule"] == "R-LOG-4"


def test_signing_refusals_name_the_station_and_the_figures():
    from registry.domainmodel.signing import check_staffing

    station = str(uuid.uuid4())
    policy = {"min_workers_per_station": 2}
    with pytest.raises(RuleViolation) as refused:
        check_staffing(policy, [station], [], date(2026, 12, 3))
    [message] = Refusal.of(as_received(refused.value), {"station_ids"}, names={station: "南关街道社工站"}).fields[
        "station_ids"
    ]
    assert message.text == "南关街道社工站在2026年12月3日只有0名本机构社工在岗，县里要求不少于2名"
    overlap = RuleViolation(
        "contract … overlaps",
        rule="R-REG-7",
        field="period_start",
        facts={
            "code": "contract_overlap",
            "station_ids": [station],
            "period_start": "2026-01-01",
            "period_end": "2026-12-31",
        },
    )
    [message] = Refusal.of(as_received(overlap), {"period_start"}).fields["period_start"]
    assert message.text.startswith("该机构已有协议在2026年1月1日至2026年12月31日覆盖所选站点") and not UUID.search(
        message.text
    )
    rating = RuleViolation("3A", rule="R-REG-1", field="provider_id", facts={"code": "rating_below_3a", "rating": "2A"})
    assert Refusal.of(as_received(rating), set()).general[0].text == "县里要求承接主体评级3A以上，该机构评级为2A"


# --- registry: providers, stations, workers, contracts (the purchaser's and provider's forms) --------

REGISTRY_FILES = tuple(
    f"services/registry/registry/{p}"
    for p in ("domainmodel/provider.py", "domainmodel/workforce.py", "domainmodel/signing.py", "domainmodel/contract.py",
              "domainmodel/funding.py", "domainmodel/policy.py", "contracting.py", "base.py", "application.py", "api/common.py")
)
# registry's commands.py is mostly procurement's (not on the console): only its policy check is walked.
REGISTRY_POLICY_NAMES = "services/registry/registry/commands.py"


def token_refusals(module: str, ensure_own: tuple[str, str] | None = None) -> list[DomainError]:
    """What a service's routes refuse before any command: a provider's (or evaluator's) token that
    names no organisation, and (``ensure_own``: acting as one provider) another provider's record."""
    import importlib

    from shared.infra.auth import CountyScope, Principal, Role

    common = importlib.import_module(module)

    def token(role: Role, **claims: str) -> CountyScope:
        return CountyScope(county="640402", principal=Principal(sub="u", role=role, counties=frozenset({"640402"}), **claims))

    provider_of = getattr(common, "acting_provider", None) or common.provider_of
    attempts = [lambda: provider_of(token(Role.PROVIDER))]
    if hasattr(common, "evaluator_of"):
        attempts.append(lambda: common.evaluator_of(token(Role.EVALUATOR)))
    if ensure_own:
        attempts.append(lambda: common.ensure_own(token(Role.PROVIDER, provider_id=ensure_own[0]), ensure_own[1]))
    problems: list[DomainError] = []
    for attempt in attempts:
        with pytest.raises(DomainError) as refused:
            attempt()
        problems.append(refused.value)
    return problems


def registry_command_refusals(names: dict[str, str]) -> list[DomainError]:
    """The refusals registry gives once it has looked records up (contracting.py: the named previous
    contract, the supervisor, the stations, overlapping contracts; unknown ids; a USCC registered
    again), made by running its commands on its command bus over an in-memory store. ``names``
    gets the stations' names, as the signing wizard knows them."""
    from registry import commands as rc
    from registry.application import RegistryApplication, compose

    from shared.infra.auth import CountyScope, Principal, Role

    county = "640402"
    app = RegistryApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    registry = compose(app)

    def run(command, role: Role = Role.PURCHASER, in_county: str = county):
        scope = CountyScope(county=in_county, principal=Principal(sub="u", role=role, counties=frozenset({in_county})))
        return registry.bus.run(command, scope, (None, None))

    problems: list[DomainError] = []

    def refused(command, **how) -> None:
        with pytest.raises(DomainError) as refusal:
            run(command, **how)
        problems.append(refusal.value)

    refused(rc.EstablishStation(county="640522", name="城关社工站", township="城关镇", kind="township_station"),
            in_county="640522")  # a county not registered
    run(rc.PutCounty(county=county, name="原州区", policy={"min_workers_per_station": 1}), Role.PROVINCE_ADMIN)
    ours = str(run(rc.RegisterProvider(county=county, name="明德社会工作服务中心", uscc="52640402MJY1000012",
                                       rating="4A", has_party_org=True)))
    refused(rc.RegisterProvider(county=county, name="明德社工", uscc="52640402MJY1000012", rating="4A", has_party_org=True))
    theirs = str(run(rc.RegisterProvider(county=county, name="仁爱社会工作服务中心", uscc="52640402MJY1000025",
                                         rating="4A", has_party_org=True)))
    s1, s2 = (str(run(rc.EstablishStation(county=county, name=n, township=t, kind="township_station")))
              for n, t in (("三营镇社工站", "三营镇"), ("彭堡镇社工站", "彭堡镇")))
    names.update({s1: "三营镇社工站", s2: "彭堡镇社工站"})
    hired = dict(county=county, birth_date=date(1990, 1, 1), education="本科", qualification="社会工作师",
                 hired_on=date(2025, 6, 1))
    run(rc.HireWorker(**hired, provider_id=ours, station_id=s1, name="马晓燕", role="social_worker"))
    stranger = str(run(rc.HireWorker(**hired, provider_id=theirs, station_id=s2, name="王静", role="supervisor")))
    terms = dict(county=county, provider_id=ours, station_ids=[s1], purchaser="原州区民政局", signed_on=date(2025, 12, 20),
                 effective_on=date(2026, 1, 1), period_start=date(2026, 1, 1), period_end=date(2026, 12, 31),
                 amount_fen=36_000_000, funding=[{"source": "福彩公益金", "amount_fen": 36_000_000}],
                 service_areas=["社会救助"], indicators=[])
    refused(rc.SignContract(**{**terms, "provider_id": str(uuid.uuid4())}))
    refused(rc.SignContract(**{**terms, "station_ids": []}))
    refused(rc.SignContract(**{**terms, "station_ids": [s1, s1]}))
    refused(rc.SignContract(**terms, cycle_years=5))
    refused(rc.SignContract(**terms, supervisor_id=stranger))
    first = str(run(rc.SignContract(**terms)))
    refused(rc.SignContract(**terms))  # the same station and year again: an overlap
    later = {**terms, "signed_on": date(2026, 12, 1), "effective_on": date(2027, 1, 1), "period_start": date(2027, 1, 1),
             "period_end": date(2027, 12, 31)}
    refused(rc.SignContract(**later, year_index=1, previous_contract_id=first))
    refused(rc.SignContract(**later, year_index=2))
    refused(rc.SignContract(**{**later, "provider_id": theirs, "station_ids": [s2]}, year_index=2,
                            previous_contract_id=first))
    refused(rc.SignContract(**later, year_index=3, previous_contract_id=first))
    refused(rc.DecideScopeChange(county=county, contract_id=first, change_id=str(uuid.uuid4()), approved=True,
                                 decided_on=date(2026, 6, 1)))
    app.close()
    return problems


def registry_walk() -> tuple[list[DomainError], dict[str, str]]:
    """Every refusal registry's rules give a provider, station, worker or contract form."""
    from registry.commands import policy_names
    from registry.domainmodel import DEFAULT_POLICY, Contract, CountyBan, Provider, Worker
    from registry.domainmodel.funding import check_funding_caps, check_funding_sources
    from registry.domainmodel.policy import merged_policy
    from registry.domainmodel.provider import check_prior_projects, check_uscc
    from registry.domainmodel.signing import (
        check_contract_terms,
        check_cycle,
        check_eligibility,
        check_not_banned,
        check_staffing,
        check_supervisor,
    )
    from registry.domainmodel.workforce import check_hiring, check_station_kind

    station, other = str(uuid.uuid4()), str(uuid.uuid4())
    policy = {**DEFAULT_POLICY, "require_rating_3a": True, "require_party_org": True, "require_prior_pass": True,
              "supervisor_required": True, "supervisor_min_qualification": "社会工作师"}
    provider = Provider(county="640402", name="明德社工", uscc="91640402MA7XXXXXX1", rating="2A", has_party_org=False,
                        prior_projects=[])
    hired = dict(county="640402", provider_id=str(provider.id), station_id=station, name="杨帆",
                 birth_date=date(1995, 3, 1), education="本科", role="social_worker", hired_on=date(2026, 3, 1),
                 certificate_due_on=None)
    w = Worker(qualification="社会工作师", **hired)
    helper = Worker(qualification="助理社会工作师", **{**hired, "role": "supervisor", "name": "马丽"})
    names = {station: "南关街道社工站", other: "三营镇社工站", str(w.id): "杨帆", str(helper.id): "马丽"}
    terms = dict(amount_fen=42_000_000, funding=[{"source": "福彩公益金", "amount_fen": 42_000_000}],
                 period_start=date(2026, 1, 1), period_end=date(2026, 12, 31), effective_on=date(2026, 1, 1),
                 signed_on=date(2025, 12, 20), service_areas=["社会救助"],
                 indicators=[{"code": "assist", "name": "帮扶救助", "unit": "人次", "target": 500}],
                 tranche_plan=DEFAULT_POLICY["tranche_plan"], cycle_years=3, year_index=1)

    def contract(**changes) -> Contract:
        args = dict(county="640402", provider_id=str(provider.id), station_ids=[station], purchaser="民政局",
                    signed_on=date(2025, 12, 20), effective_on=date(2026, 1, 1), period_start=date(2026, 1, 1),
                    period_end=date(2026, 12, 31), amount_fen=42_000_000,
                    funding=[{"source": "福彩公益金", "amount_fen": 42_000_000}], service_areas=["社会救助"],
                    indicators=[], tranche_plan=[], cycle_years=3, year_index=1, policy_version=1, policy=policy,
                    cycle_start=date(2026, 1, 1), probation=False, previous_contract_id=None, supervisor_id=None,
                    filing_due_on=date(2026, 1, 12), filing_due_provisional=False)
        return Contract(**{**args, **changes})

    filed, scoped, ended, renewed, last, failed = (contract() for _ in range(6))
    filed.file(date(2026, 1, 5), "市民政局", date(2026, 1, 12))
    scoped.request_scope_change("c-1", ["养老服务"], date(2026, 6, 1), "需求", "u")
    scoped.decide_scope_change(scoped.scope_changes[0], True, "u", date(2026, 6, 2), "")
    ended.terminate(date(2026, 6, 30), "agreement", "协商")
    renewed.renewed(str(uuid.uuid4()), 2, date(2026, 12, 1))
    last = contract(year_index=3)
    failed.note_evaluation("e-1", "final", "不合格", False, date(2026, 12, 10), False, False)
    leaver = Worker(qualification="none", **hired)
    leaver.leave(date(2026, 6, 30), "辞职")

    attempts = [
        lambda: check_uscc("91640402MA7XXXXXX"),
        lambda: check_prior_projects([{"name": "x", "grade": "甲"}]),
        lambda: provider.impose_ban(date(2026, 5, 1), date(2026, 4, 1), "弄虚作假"),
        lambda: provider.disclose("d", "news", "t", None, "s", None, date(2026, 5, 1)),
        lambda: provider.disclose("d", "annual_financial_report", "t", None, "s", None, date(2026, 5, 1)),
        lambda: check_station_kind("office"),
        lambda: check_hiring(policy, date(1980, 1, 1), "本科", "none", "social_worker", date(2026, 3, 1)),
        lambda: check_hiring(policy, date(1995, 1, 1), "小学", "none", "social_worker", date(2026, 3, 1)),
        lambda: check_hiring(policy, date(1995, 1, 1), "高中", "none", "social_worker", date(2026, 3, 1)),
        lambda: check_hiring(policy, date(1995, 1, 1), "本科", "初级", "social_worker", date(2026, 3, 1)),
        lambda: check_hiring(policy, date(1995, 1, 1), "本科", "none", "cook", date(2026, 3, 1)),
        lambda: w.move_to(station, date(2026, 6, 1)),
        lambda: w.move_to(other, date(2026, 2, 1)),
        lambda: w.qualify("初级", date(2026, 6, 1)),
        lambda: w.qualify("助理社会工作师", date(2026, 6, 1)),
        lambda: w.leave(date(2026, 2, 1), "辞职"),
        lambda: leaver.move_to(other, date(2026, 8, 1)),
        lambda: check_contract_terms(**{**terms, "amount_fen": 0}),
        lambda: check_contract_terms(**{**terms, "amount_fen": 40_000_000}),
        lambda: check_contract_terms(**{**terms, "period_end": date(2025, 12, 1)}),
        lambda: check_contract_terms(**{**terms, "period_end": date(2027, 3, 1)}),
        lambda: check_contract_terms(**{**terms, "effective_on": date(2025, 12, 1)}),
        lambda: check_contract_terms(**{**terms, "effective_on": date(2027, 1, 10), "period_end": date(2026, 12, 31)}),
        lambda: check_contract_terms(**{**terms, "year_index": 4}),
        lambda: check_contract_terms(**{**terms, "year_index": 2, "probation": True}),
        lambda: check_contract_terms(**{**terms, "service_areas": []}),
        lambda: check_contract_terms(**{**terms, "service_areas": ["体育"]}),
        lambda: check_contract_terms(**{**terms, "service_areas": ["社会救助", "社会救助"]}),
        lambda: check_contract_terms(**{**terms, "indicators": terms["indicators"] * 2}),
        lambda: check_contract_terms(**{**terms, "indicators": [{**terms["indicators"][0], "target": 0}]}),
        lambda: check_contract_terms(**{**terms, "indicators": [{**terms["indicators"][0], "monthly_plan": {"2026-13": 3}}]}),
        lambda: check_contract_terms(**{**terms, "tranche_plan": []}),
        lambda: check_cycle(contract(period_end=date(2026, 12, 31)), date(2026, 12, 1), date(2027, 11, 30),
                            date(2026, 1, 1), 3),
        lambda: check_cycle(None, date(2028, 6, 1), date(2029, 5, 31), date(2026, 1, 1), 3),
        lambda: check_not_banned(provider, [CountyBan("640403", "p", date(2025, 1, 1), date(2027, 12, 31), "弄虚作假")],
                                 date(2025, 12, 20), date(2026, 1, 2)),
        lambda: check_eligibility(policy, provider, date(2025, 12, 20)),
        lambda: check_eligibility({**policy, "require_rating_3a": False}, provider, date(2025, 12, 20)),
        lambda: check_eligibility({**policy, "require_rating_3a": False, "require_party_org": False}, provider,
                                  date(2025, 12, 20)),
        lambda: check_supervisor(policy, None, date(2025, 12, 20)),
        lambda: check_supervisor(policy, w, date(2026, 4, 1)),
        lambda: check_supervisor(policy, helper, date(2026, 4, 1)),
        lambda: check_staffing(policy, [station], [w], date(2026, 4, 1)),
        lambda: check_funding_sources(policy, [{"source": "彩票", "amount_fen": 1}]),
        lambda: check_funding_caps(
            {"funding_caps": [{"source": "福彩公益金", "bound": "ceiling", "percent": "30", "base": "一般公共预算"}]},
            terms["funding"], {2026: {"福彩公益金": 42_000_000}}, lambda _y, _s: 100_000_000, lambda _y, _s: 5_000_000,
        ),
        lambda: filed.file(date(2026, 1, 8), "市民政局", date(2026, 1, 12)),
        lambda: contract().file(date(2025, 12, 1), "市民政局", date(2026, 1, 12)),
        lambda: contract().request_scope_change("c-2", ["社会救助"], date(2026, 6, 1), "需求", "u"),
        lambda: contract().request_scope_change("c-2", ["养老服务"], date(2027, 6, 1), "需求", "u"),
        lambda: scoped.decide_scope_change(scoped.scope_changes[0], False, "u", date(2026, 6, 3), ""),
        lambda: ended.request_scope_change("c-3", ["养老服务"], date(2026, 8, 1), "需求", "u"),
        lambda: ended.check_renewable("previous_contract_id"),
        lambda: renewed.check_renewable("previous_contract_id"),
        lambda: last.check_renewable("previous_contract_id"),
        lambda: contract().check_renewable("previous_contract_id"),
        lambda: failed.check_renewable("previous_contract_id"),
        lambda: contract().terminate(date(2026, 6, 30), "mood", "x"),
        lambda: contract().terminate(date(2025, 12, 1), "agreement", "x"),
        lambda: merged_policy({"min_staff": 3}),
        lambda: merged_policy({"min_workers_per_station": 0}),
        lambda: merged_policy({"require_party_org": "yes"}),
        lambda: merged_policy({"min_education": "小学"}),
        lambda: merged_policy({"price_weight_min_percent": 40}),
        lambda: merged_policy({"funding_caps": [{"source": "彩票", "bound": "ceiling", "percent": "30"}]}),
        lambda: policy_names({"funding_sources": ["福彩公益金", "  "]}),
    ]
    problems: list[DomainError] = []
    for attempt in attempts:
        with pytest.raises(RuleViolation) as refused:
            attempt()
        problems.append(refused.value)
    problems += registry_command_refusals(names) + token_refusals("registry.api.common", ensure_own=("p-1", "p-2"))
    return problems, names


def test_every_registry_refusal_reads_as_a_chinese_sentence_without_ids():
    problems, names = registry_walk()
    known = {"uscc", "until", "kind", "year", "birth_date", "education", "qualification", "role", "to_station_id",
             "moved_on", "left_on", "amount_fen", "funding", "period_start", "period_end", "effective_on", "year_index",
             "probation", "service_areas", "indicators", "tranche_plan", "provider_id", "signed_on", "supervisor_id",
             "station_ids", "filed_on", "approved", "previous_contract_id", "terminated_on", "cycle_years"}
    assert_walked(problems, names, known, REGISTRY_FILES, also=(REGISTRY_POLICY_NAMES,))


def test_registry_refusals_name_the_figures():
    zh, by_code = chinese_by_code(*registry_walk())
    assert zh["worker_too_old"] == "该社工在2026年3月1日已满46岁，县里规定招聘时年龄不超过40岁"
    assert zh["education_below"] == "学历为高中，县里要求大专以上"
    assert zh["supervisor_underqualified"] == "督导马丽在2026年4月1日持有助理社会工作师，县里要求社会工作师以上"
    assert zh["already_filed"] == "该协议已于2026年1月5日备案"
    assert zh["funding_sum"] == "各资金来源合计420,000.00 元，与协议金额400,000.00 元不符，须相等"
    assert zh["funding_cap_exceeded"] == (
        "本协议计入2026年度的福彩公益金为420,000.00 元，加上全县已承诺的50,000.00 元，超过上限300,000.00 元"
        "（2026年度一般公共预算1,000,000.00 元的30%），超出170,000.00 元"
    )
    assert zh["provider_banned"].startswith("该机构已被其他县（区）禁止参与政府购买服务（2025年1月1日至2027年12月31日）")
    assert zh["scope_outside_year"] == "范围变更的生效日期2027年6月1日须在协议服务期（2026年1月1日至2026年12月31日）内"
    assert zh["contract_ended"] == "该协议已于2026年6月30日终止，不能再办理"
    assert zh["station_understaffed"] == "南关街道社工站在2026年4月1日只有1名本机构社工在岗，县里要求不少于2名"
    # integrators keep the English detail, rule and field, unchanged
    assert by_code["worker_too_old"].detail == "worker is 46 on 2026-03-01, the county's limit at hiring is 40"
    assert (by_code["already_filed"].rule, by_code["already_filed"].field) == ("R-REG-5", "filed_on")


# --- evaluation: scheduling, independence, the steps, surveys, conclusions and appeals ---------------

EVALUATION_FILES = tuple(
    f"services/evaluation/evaluation/{p}"
    for p in ("domainmodel/evaluation.py", "domainmodel/evaluator.py", "domainmodel/scoring.py", "domainmodel/rubric.py",
              "commands.py", "lookups.py", "api/common.py")
)


def evaluation_command_refusals() -> list[DomainError]:
    """The refusals of evaluation's commands (commands.py, lookups.py), made by running them on its
    command bus over an in-memory store holding registry's contract and provider as it received them."""
    from evaluation import commands as cmds
    from evaluation.application import compose
    from evaluation.domainmodel import PROVINCE, ContractView, ProviderView
    from evaluation.lookups import EvaluationApplication

    from shared.infra.auth import CountyScope, Principal, Role
    from shared.infra.store import CommandContext

    county, start, end = "640402", date(2026, 1, 1), date(2026, 12, 31)
    store = EvaluationApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    ended = ContractView(contract_id="c-ended", county=county, provider_id="p1", station_ids=["s1"], period_start=start,
                         period_end=end, indicators=[], year_index=1)
    ended.terminate(date(2026, 5, 1))
    with store.command(CommandContext(county=county, actor="registry", correlation_id="")):
        store.save(
            ProviderView(provider_id="p1", county=county, name="甲社工中心"), ended,
            ContractView(contract_id="c1", county=county, provider_id="p1", station_ids=["s1"], period_start=start,
                         period_end=end, indicators=[], year_index=1),
        )
    service = compose(store)

    def scope(role: Role = Role.PURCHASER, in_county: str = county, **claims: str) -> CountyScope:
        return CountyScope(county=in_county, principal=Principal(sub="u", role=role, counties=frozenset({in_county}), **claims))

    def run(command, as_: CountyScope | None = None):
        return service.bus.run(command, as_ or scope(), (None, None))

    problems: list[DomainError] = []

    def refused(command, as_: CountyScope | None = None) -> None:
        with pytest.raises(DomainError) as refusal:
            run(command, as_)
        problems.append(refusal.value)

    schedule = dict(county=county, contract_id="c1", stage="midterm", scheduled_on=date(2026, 7, 1))
    refused(cmds.ScheduleEvaluation(**schedule, evaluator_org=str(uuid.uuid4())))  # no such organisation
    org = run(cmds.AccreditEvaluator(county=county, name="宁夏社会工作评估中心", certificate_no="EV-1",
                                     accredited_until=date(2030, 1, 1)))
    refused(cmds.ScheduleEvaluation(**schedule, evaluator_org=org))  # no rubric published yet
    admin = CountyScope(county=PROVINCE, principal=Principal(sub="a", role=Role.PROVINCE_ADMIN, counties=frozenset({"*"})))
    run(cmds.PublishRubric(county=PROVINCE, name="统一评估标准"), admin)
    refused(cmds.ScheduleEvaluation(**{**schedule, "contract_id": "c-ended"}, evaluator_org=org))
    evaluation = str(run(cmds.ScheduleEvaluation(**schedule, evaluator_org=org)).id)
    refused(cmds.ScheduleEvaluation(**schedule, evaluator_org=org))  # a second mid-term
    process = str(run(cmds.ScheduleEvaluation(**{**schedule, "stage": "process", "scheduled_on": start},
                                              evaluator_org=org)).id)
    evaluator = scope(Role.EVALUATOR, evaluator_org=org)
    visit = dict(county=county, evaluation_id=process, member_id="m-1", signed_by={"name": "张主任"}, findings="",
                 visit_id="v-1", by_org=org)
    refused(cmds.RecordVisit(**visit, station_id="s-elsewhere", credential_shown=True), evaluator)
    refused(cmds.RecordVisit(**visit, station_id="s1", credential_shown=True, visited_on=date(2027, 2, 1)), evaluator)
    refused(cmds.RecordVisit(**visit, station_id="s1", credential_shown=False, visited_on=date(2026, 3, 1)), evaluator)
    scores = dict(county=county, evaluation_id=evaluation, by_org=org)
    refused(cmds.ScoreItems(**scores, scores=[{"item_code": "setup.venue", "score": 5}], scored_on=date(2099, 1, 1)),
            evaluator)
    refused(cmds.ScoreItems(**scores, scores=[{"item_code": "setup.venue", "score": 5}] * 2), evaluator)
    refused(cmds.ScoreItems(**scores, scores=[{"item_code": "outcomes.satisfaction", "score": 5}]), evaluator)
    refused(cmds.ScoreItems(**scores, scores=[{"item_code": "setup.lawn", "score": 5}]), evaluator)
    refused(cmds.ScoreItems(**scores, scores=[{"item_code": "setup.venue", "score": 6}]), evaluator)
    refused(cmds.Deduct(county=county, evaluation_id=evaluation, points=Decimal(0), reason="x", by_org=org), evaluator)
    other = str(uuid.uuid4())
    refused(cmds.ReviewSelfEvaluation(county=county, evaluation_id=evaluation, by_org=other),
            scope(Role.EVALUATOR, evaluator_org=other))
    refused(cmds.SubmitSelfEvaluation(county=county, evaluation_id=evaluation, summary="自评", by_provider="p2"),
            scope(Role.PROVIDER, provider_id="p2"))
    with pytest.raises(NotFound) as unknown:
        store.rubric(str(uuid.uuid4()))
    problems.append(unknown.value)
    store.close()
    # The pinned rubric of every evaluation so far has a survey; one without is refused in these words.
    problems.append(RuleViolation("the pinned rubric version has no survey", rule="R-EVAL-4", field="responses",
                                  facts={"code": "rubric_has_no_survey"}))
    return problems


def rubric_attempts() -> list[Callable[[], object]]:
    """Each refusal of a rubric version's content (R-EVAL-2 dimensions and items, R-EVAL-4 survey,
    R-EVAL-6 grades, R-EVAL-1/2 policy), as the province's rubric form submits it."""
    from evaluation.domainmodel import DEFAULTS, check_rubric

    dims, survey, thresholds = DEFAULTS["dimensions"], DEFAULTS["survey"], DEFAULTS["thresholds"]
    first = dims[0]
    item = first["items"][0]
    group = survey["groups"][0]

    def rubric(dimensions=dims, survey=survey, thresholds=thresholds, policy=None):
        return lambda: check_rubric(dimensions, survey, thresholds, policy or {})

    return [
        rubric(dimensions=[]),
        rubric(dimensions=[first, first, *dims[1:]]),
        rubric(dimensions=[{**first, "weight": Decimal(0)}, *dims[1:]]),
        rubric(dimensions=[{**first, "items": []}, *dims[1:]]),
        rubric(dimensions=[{**first, "items": [item, item]}, *dims[1:]]),
        rubric(dimensions=[{**first, "items": [{**item, "max_score": Decimal(0)}]}, *dims[1:]]),
        rubric(dimensions=[{**first, "items": [{**item, "source": "guess"}]}, *dims[1:]]),
        rubric(survey={"groups": []}),
        rubric(dimensions=[{**first, "weight": Decimal(10)}, *dims[1:]]),
        rubric(survey={"groups": [group, group]}),
        rubric(survey={"groups": [{**group, "questions": []}]}),
        rubric(survey={"groups": [{**group, "questions": group["questions"] * 2}]}),
        rubric(policy={"visits": 3}),
        rubric(policy={"appeal_working_days": 0}),
        rubric(thresholds={"优秀": 90, "合格": 60}),
        rubric(thresholds={"优秀": 90, "良好": 90, "合格": 60}),
    ]


def evaluation_walk() -> tuple[list[DomainError], dict[str, str]]:
    """Every refusal evaluation's rules give an evaluator's or a purchaser's form."""
    from evaluation.domainmodel import DEFAULT_THRESHOLDS, DEFAULTS, Evaluation, EvaluatorOrg, check_timing, plan_steps
    from evaluation.domainmodel.scoring import score_sheet, score_survey

    from shared.workdays import WorkdayCalendar

    calendar = WorkdayCalendar()
    station = str(uuid.uuid4())
    names = {station: "南关街道社工站"}

    def evaluation(stage: str = "midterm", scheduled_on: date = date(2026, 6, 1)) -> Evaluation:
        return Evaluation(
            county="640402", contract_id=str(uuid.uuid4()), provider_id="p-1", station_ids=[station], stage=stage,
            evaluator_org=str(uuid.uuid4()), scheduled_on=scheduled_on, rubric_id="r-1", rubric_version=1,
            policy={"process_visits_per_station": 1, "appeal_working_days": 10},
            steps=plan_steps(stage, scheduled_on, date(2026, 11, 30), calendar),
        )

    def conclude(ev: Evaluation, score: str, on: date = date(2026, 6, 10), **finding) -> None:
        ev.conclude(concluded_on=on, score=Decimal(score), thresholds=DEFAULT_THRESHOLDS, breakdown={},
                    fraud_found=False, fraud_details=None, calendar=calendar, **finding)

    org = EvaluatorOrg(county="640402", name="宁夏社会工作评估中心", certificate_no="PG-1",
                       accredited_until=date(2026, 12, 31), linked_provider_ids=["p-linked"])
    org.accredit_member("m-1", "李明", "PJ-001", date(2026, 3, 31))
    submitted, passed, failed, appealed, process, surveyed = (evaluation() for _ in range(6))
    submitted.submit_self_evaluation(date(2026, 5, 10), "自评报告", {})
    submitted.review_self_evaluation(date(2026, 5, 12), "")
    conclude(passed, "80.00")
    conclude(failed, "59.00")
    conclude(appealed, "59.00")
    appealed.lodge_appeal(date(2026, 6, 12), "不服")
    appealed.decide_appeal(False, None, date(2026, 6, 20), "维持", DEFAULT_THRESHOLDS)
    undecided = evaluation()
    conclude(undecided, "59.00")
    undecided.lodge_appeal(date(2026, 6, 12), "不服")
    process = evaluation("process", date(2025, 12, 1))
    process.record_visit("v-1", station, date(2026, 1, 10), "m-1", "PJ-001", {"name": "张主任"}, "开放正常")
    surveyed.record_survey(date(2026, 5, 20), 10, Decimal(4), {"服务对象": Decimal(4)})
    groups = {"服务对象": ["q1", "q2"]}
    dims = [{"code": "outcomes", "weight": Decimal(100), "items": [{"code": "outcomes.satisfaction", "max_score": Decimal(10),
                                                                    "source": "survey"}]}]
    attempts = [
        lambda: check_timing("yearly", date(2026, 6, 1), date(2025, 12, 1), date(2026, 11, 30)),
        lambda: check_timing("midterm", date(2026, 3, 1), date(2025, 12, 1), date(2026, 11, 30)),
        lambda: org.check_may_evaluate("p-1", date(2027, 1, 5)),
        lambda: org.check_may_evaluate("p-linked", date(2026, 6, 1)),
        lambda: org.accredit_member("m-2", "王芳", "PJ-001", date(2027, 1, 1)),
        lambda: org.credential_on("m-9", date(2026, 3, 1), "member_id"),
        lambda: org.credential_on("m-1", date(2026, 5, 1), "member_id"),
        lambda: conclude(passed, "90.00", date(2026, 6, 11)),
        lambda: evaluation().record_visit("v", station, date(2026, 5, 1), "m-1", "PJ-001", {}, ""),
        lambda: submitted.submit_self_evaluation(date(2026, 5, 11), "again", {}),
        lambda: evaluation().review_self_evaluation(date(2026, 5, 12), ""),
        lambda: submitted.review_self_evaluation(date(2026, 5, 13), ""),
        lambda: (lambda ev: (ev.submit_self_evaluation(date(2026, 5, 10), "自评", {}),
                             ev.review_self_evaluation(date(2026, 5, 9), "")))(evaluation()),
        lambda: process.record_visit("v-2", station, date(2026, 2, 10), "m-1", "PJ-001", {"name": "张主任"}, "开放正常"),
        lambda: surveyed.record_survey(date(2026, 5, 21), 10, Decimal(4), {"服务对象": Decimal(4)}),
        lambda: conclude(evaluation(), "80", date(2026, 5, 29)),
        lambda: evaluation().conclude(concluded_on=date(2026, 6, 10), score=Decimal(95), thresholds=DEFAULT_THRESHOLDS,
                                      breakdown={}, fraud_found=True, fraud_details=None, calendar=calendar),
        lambda: conclude(evaluation(), "95", serious_breach_found=True),
        lambda: evaluation().record_feedback(date(2026, 6, 12), "", "provider"),
        lambda: (passed.record_feedback(date(2026, 6, 12), "", "provider"),
                 passed.record_feedback(date(2026, 6, 13), "", "provider")),
        lambda: failed.record_feedback(date(2026, 6, 9), "", "provider"),
        lambda: evaluation().lodge_appeal(date(2026, 6, 12), "不服"),
        lambda: appealed.lodge_appeal(date(2026, 6, 15), "再次"),
        lambda: passed.lodge_appeal(date(2026, 6, 12), "不服"),
        lambda: failed.lodge_appeal(date(2026, 7, 30), "不服"),
        lambda: failed.decide_appeal(True, Decimal(61), date(2026, 6, 20), "x", DEFAULT_THRESHOLDS),
        lambda: appealed.decide_appeal(True, Decimal(61), date(2026, 6, 21), "x", DEFAULT_THRESHOLDS),
        lambda: undecided.decide_appeal(False, None, date(2026, 6, 11), "x", DEFAULT_THRESHOLDS),
        lambda: undecided.decide_appeal(True, None, date(2026, 6, 20), "x", DEFAULT_THRESHOLDS),
        lambda: undecided.decide_appeal(False, Decimal(61), date(2026, 6, 20), "x", DEFAULT_THRESHOLDS),
        lambda: score_survey(groups, []),
        lambda: score_survey(groups, [{"group": "家属", "answers": {}}]),
        lambda: score_survey(groups, [{"group": "服务对象", "answers": {"q9": "满意"}}]),
        lambda: score_survey(groups, [{"group": "服务对象", "answers": {"q1": "很好", "q2": "满意"}}]),
        lambda: score_survey(groups, [{"group": "服务对象", "answers": {"q1": "不了解", "q2": "不了解"}}]),
        lambda: score_sheet(dims, {}, None, __import__("fractions").Fraction(1), []),
        lambda: score_sheet(DEFAULTS["dimensions"], {}, None, __import__("fractions").Fraction(1), []),
        *rubric_attempts(),
    ]
    problems: list[DomainError] = []
    for attempt in attempts:
        with pytest.raises(RuleViolation) as refused:
            attempt()
        problems.append(refused.value)
    problems += evaluation_command_refusals() + token_refusals("evaluation.api.common")
    return problems, names


def test_every_evaluation_refusal_reads_as_a_chinese_sentence_without_ids():
    problems, names = evaluation_walk()
    known = {"stage", "scheduled_on", "evaluator_org", "credential_no", "member_id", "concluded_on", "submitted_on",
             "reviewed_on", "station_id", "surveyed_on", "fraud_details", "serious_breach_details", "agreed_on",
             "appealed_on", "upheld", "decided_on", "revised_score", "responses", "surveys", "visited_on", "contract_id",
             "rubric", "credential_shown", "scored_on", "points"}
    assert_walked(problems, names, known, EVALUATION_FILES)


def test_evaluation_refusals_name_the_window_and_the_station():
    zh, by_code = chinese_by_code(*evaluation_walk())
    assert zh["outside_stage_window"] == "该协议的中期评估须安排在2026年5月1日至2026年7月1日之间，2026年3月1日不在其内"
    assert zh["visits_complete"] == "南关街道社工站本年度过程评估的1次不打招呼走访已全部完成，不再登记"
    assert zh["evaluator_linked"] == "评估机构“宁夏社会工作评估中心”与该协议的承接机构有关联，须回避（利益冲突）"
    assert zh["survey_answer_invalid"] == "“服务对象”类问卷的问题“q1”须回答：满意、基本满意、不满意、不了解之一"
    assert by_code["outside_stage_window"].detail.startswith("a midterm evaluation (中期评估) of this contract falls between")


# --- finance: tranche payments, budgets, expenses and wages -----------------------------------------

FINANCE_FILES = tuple(
    f"services/finance/finance/{p}"
    for p in ("domainmodel/tranches.py", "domainmodel/expenses.py", "domainmodel/funding.py", "domainmodel/calendar.py",
              "api/budgets.py", "api/tranches.py", "application.py", "queries.py")
)


def finance_lookup_refusals(signed) -> list[DomainError]:
    """The refusals of finance's look-ups (application.py, queries.py) on an in-memory store holding
    ``signed``'s schedule, a budget body with a cap (api/budgets.py), and the overdue check's one
    (api/tranches.py, refused in the route before any command)."""
    from finance.api.budgets import BudgetIn
    from finance.application import FinanceApplication, FinanceLookups
    from finance.queries import FinanceQueries

    from shared.infra.store import CommandContext

    app = FinanceApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    with app.command(CommandContext(county="640402", actor="registry", correlation_id="")):
        app.save(signed)
    lookups = FinanceLookups(app)
    problems: list[DomainError] = []
    for attempt in (
        lambda: lookups.schedule("640402", str(uuid.uuid4())),
        lambda: lookups.schedule("640402", signed.contract_id, provider_id="p-other"),
        lambda: FinanceQueries(lookups).expense("640402", signed.contract_id, str(uuid.uuid4())),
        lambda: BudgetIn.model_validate({"year": 2026, "source": "福彩公益金", "amount_fen": 100, "cap_percent": "30"}),
    ):
        with pytest.raises(DomainError) as refused:
            attempt()
        problems.append(refused.value)
    app.close()
    problems.append(RuleViolation("an overdue check cannot look into the future", rule="R-FIN-9", field="as_of",
                                  facts={"code": "overdue_future", "date": "2026-12-31"}))
    return problems


def finance_walk() -> tuple[list[DomainError], dict[str, str]]:
    """Every refusal finance's rules give a finance officer's or a provider's form."""
    from finance.domainmodel import CalendarBook, CountyBudget, TrancheSchedule, plan_tranches
    from finance.domainmodel.expenses import check_expense

    from shared.workdays import WorkdayCalendar

    calendar = WorkdayCalendar()
    plan = [{"seq": 1, "percent": 50, "trigger": "contract_effective"}, {"seq": 2, "percent": 30, "trigger": "midterm_passed"},
            {"seq": 3, "percent": 20, "trigger": "final_passed"}]

    def schedule() -> TrancheSchedule:
        start = date(2025, 9, 26)
        s = TrancheSchedule(
            contract_id=str(uuid.uuid4()), county="640402", amount_fen=36_000_000, effective_on=start, period_start=start,
            period_end=date(2026, 9, 25), tranches=plan_tranches(36_000_000, plan), provider_id="p-1",
            station_ids=["s-1"], signed_on=start, funding=[{"source": "福彩公益金", "amount_fen": 36_000_000}], policy={},
        )
        s.schedule_triggered("contract_effective", start, calendar)
        return s

    paid, flagged, ended = schedule(), schedule(), schedule()
    paid.pay(1, date(2025, 10, 20), "V-1")
    paid.withhold("midterm_passed", "ev-mid", date(2026, 3, 20), "不合格")
    flagged.flag_funding("R-FIN-3", "below the station minimum", None, 10_000_000, 12_000_000)
    ended.cancel_remaining(date(2026, 4, 1), "违约")
    resolved = schedule()
    resolved.flag_funding("R-FIN-2", "above the ceiling", "福彩公益金", 10_000_000, 8_000_000)
    resolved.resolve_finding("F1", "追加预算")
    attempts = [
        lambda: paid.pay(9, date(2026, 4, 1), "V-9"),
        lambda: paid.finding("F9"),
        lambda: resolved.resolve_finding("F1", "again"),
        lambda: paid.pay(1, date(2025, 10, 21), "V-2"),
        lambda: ended.pay(2, date(2026, 4, 2), "V-3"),
        lambda: paid.pay(2, date(2026, 4, 2), "V-3"),
        lambda: schedule().pay(2, date(2025, 10, 20), "V-2"),
        lambda: flagged.pay(1, date(2025, 10, 20), "V-1"),
        lambda: schedule().pay(1, date(2025, 9, 25), "V-1"),
        lambda: CountyBudget(county="640402", year=2026).allocate("福彩公益金", -1),
        lambda: CalendarBook().load(2026, [date(2027, 1, 1)], []),
        lambda: check_expense("travel", 100, "V-1"),
        lambda: check_expense("operations", 0, "V-1"),
        lambda: check_expense("operations", 100, "  "),
        lambda: check_expense("operations", 100, "V-1", worker_id="w-1"),
        lambda: check_expense("personnel", 100, "V-1", worker_id=" ", month="2026-03"),
        lambda: check_expense("personnel", 100, "V-1", worker_id="w-1", month="2026-3"),
        lambda: check_expense("personnel", 100, "V-1", worker_id="w-1"),
    ]
    problems: list[DomainError] = []
    for attempt in attempts:
        with pytest.raises(DomainError) as refused:
            attempt()
        problems.append(refused.value)
    problems += finance_lookup_refusals(schedule())
    return problems, {}


def test_every_finance_refusal_reads_as_a_chinese_sentence_without_ids():
    problems, names = finance_walk()
    known = {"seq", "paid_on", "finding_id", "contract_id", "amount_fen", "holidays", "workdays", "category", "voucher",
             "worker_id", "month", "as_of", "cap_percent"}
    assert_walked(problems, names, known, FINANCE_FILES)


def test_finance_refusals_name_the_tranche_and_its_trigger():
    zh, by_code = chinese_by_code(*finance_walk())
    assert zh["tranche_paid"] == "第1笔款项已于2025年10月20日拨付（凭证号V-1），不能重复拨付"
    assert zh["tranche_awaiting"] == "第2笔款项须待“中期评估合格”后才能拨付"
    assert zh["tranche_withheld"] == "第2笔款项暂缓拨付：触发条件“中期评估合格”的评估未通过（申诉未获支持）"
    assert zh["findings_open"] == "该协议有1项资金问题（R-FIN-3）尚未处理，处理后才能拨付"
    assert zh["paid_before_trigger"] == "拨付日期2025年9月25日早于触发条件“协议生效”达成的日期2025年9月26日"
    assert by_code["tranche_paid"].detail == "tranche 1 was already paid on 2025-10-20 (voucher V-1)"


# --- every service the console calls -----------------------------------------------------------------

def console_services_files() -> tuple[str, ...]:
    """The source of the services the console calls (procurement, which it does not, left out)."""
    return tuple(
        str(p.relative_to(ROOT))
        for service in ("registry", "evaluation", "finance", "services-log")
        for p in sorted((ROOT / "services" / service).rglob("*.py"))
        if "procurement" not in p.parts and "tests" not in p.parts
    )


# The platform's own refusals the console's pages can meet: access (R-AUD-6), a command outside its
# county, an unknown id, an Idempotency-Key reused, an event too large to publish.
SHARED_FILES = tuple(f"shared/infra/{p}" for p in ("auth.py", "commands.py", "service.py"))


def test_every_refusal_the_console_can_meet_has_facts_and_a_sentence():
    files = console_services_files() + SHARED_FILES
    # registry's commands.py: one procurement conflict, replayed from its record, is not the console's
    assert raised_without_facts(*files) == ["services/registry/registry/commands.py:486"]
    # store.py: its one refusal without facts is the audit key's rotation (R-AUD-4), an operator's
    store_lines = (ROOT / "shared/infra/store.py").read_text(encoding="utf-8").splitlines()
    rotation = next(n for n, line in enumerate(store_lines, 1) if "the new writer key is the key in force" in line)
    assert raised_without_facts("shared/infra/store.py") == [f"shared/infra/store.py:{rotation}"]
    files += ("shared/infra/store.py",)
    assert codes_in(*files) <= set(SENTENCES), sorted(codes_in(*files) - set(SENTENCES))


def test_each_code_has_one_sentence():
    from console.refusals import DELIVERY, EVALUATION, FINANCE, REGISTRY

    tables = (DELIVERY, REGISTRY, EVALUATION, FINANCE)
    assert sum(len(t) for t in tables) == len(SENTENCES), "a code in two tables: one sentence hides the other"


@pytest.mark.parametrize("code", sorted(SENTENCES))
def test_a_sentence_reads_even_without_its_figures(code):
    # A refusal whose figures are missing (an older service, a field left out) still reads in Chinese.
    text = sentence({"code": code})
    assert text and CJK.search(text) and "None" not in text
