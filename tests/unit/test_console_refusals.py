"""The console shows every refusal a delivery form (log, correct, void, import) can get as a Chinese
sentence with its figures, naming people and stations, never showing an id.

The refusals are made by services-log's own rules (``delivery_problems``, a delivery's
corrections and voidings), turned into problem+json by the platform's one handler, read back by
the console's ``Refusal.of`` and rendered through its form macros — the way a clerk sees them.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from console.api import ApiProblem, Refusal
from console.refusals import SENTENCES, UUID, import_row_zh
from console.web import templates
from services_log.bulk import ImportReport
from services_log.domainmodel import Contract, DeliveryFacts, ServiceDelivery, Worker, delivery_problems

from shared.infra.problems import problem_response
from shared.rules import DomainError, RuleViolation

ROOT = Path(__file__).resolve().parents[2]
PROVIDER, STATION, ELSEWHERE = "p-明德", str(uuid.uuid4()), str(uuid.uuid4())
TODAY = date(2026, 11, 25)
CJK = re.compile(r"[\u4e00-\u9fff]")
# Refusals made where services-log looks records up (not by the pure rules walked below): each
# as services-log raises it.
LOOKUP_CODES = {"beneficiary_unknown", "contract_unknown", "not_contracted_provider", "beneficiary_erased"}


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


def source_codes() -> set[str]:
    """Every refusal code services-log gives a delivery (as written where it refuses)."""
    root = ROOT / "services/services-log/services_log"
    text = "".join(
        p.read_text(encoding="utf-8")
        for p in (root / "domainmodel/delivery.py", root / "lookups.py", root / "recording.py")
    )
    return set(re.findall(r'"code": "([a-z_]+)"', text))


def test_every_delivery_refusal_reads_as_a_chinese_sentence_without_ids():
    problems, names = walk()
    codes = {p.facts["code"] for p in problems if p.facts}
    assert all(p.facts and p.facts.get("code") for p in problems), [p.detail for p in problems if not p.facts]
    assert codes | LOOKUP_CODES == source_codes(), "a refusal code the walk does not reach, or one no rule gives"
    assert source_codes() <= set(SENTENCES), "a refusal code with no Chinese sentence"
    for p in problems:
        for known in (
            {
                "kind",
                "area",
                "date",
                "station_id",
                "hours_direct",
                "worker_ids",
                "indicator_code",
                "indicator_quantity",
                "reason",
                "contract_id",
                "delivery_id",
            },
            None,
        ):
            refusal = Refusal.of(as_received(p), known, names=names)
            html = rendered(refusal)
            messages = refusal.general + [m for ms in refusal.fields.values() for m in ms]
            assert messages and all(CJK.search(m.text) and not m.detail for m in messages), (p.detail, messages)
            assert not UUID.search(html), (p.detail, html)
            assert p.rule and f"【{p.rule}】" in html


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
