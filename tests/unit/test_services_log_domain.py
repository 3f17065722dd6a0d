"""Services-log domain rules without servers: employment periods, scope, the delivery checks, the
tally that corrections and voidings follow, progress against seed 000's 进度表, R-LOG-4's hours,
the spreadsheet columns, and crypto-shredding of personal data."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

import pytest
from services_log.domainmodel import (
    Contract,
    ContractLog,
    DeliveryFacts,
    PlanBasis,
    Tally,
    Worker,
    WorkerAgainstCap,
    WorkerHours,
    contribution,
    delivery_problems,
    hours_against_caps,
    indicator_progress,
)
from services_log.keystore import MemoryKeyStore, PersonalDataVault, SqliteKeyStore
from services_log.sheets import UnreadableFile, read_rows

from shared.rules import RuleViolation

PLAN = {"2026-09": 50, "2026-10": 100, "2026-11": 100, "2026-12": 200, "2027-01": 50, "2027-02": 30, "2027-03": 20}
PROVIDER, STATION, ELSEWHERE = "p-明德", "s-南关", "s-三营"


def contract(**policy) -> Contract:
    return Contract(
        contract_id="c-1", county="640402", provider_id=PROVIDER, station_ids=[STATION],
        period_start=date(2026, 9, 21), period_end=date(2027, 9, 20), service_areas=["社会救助", "儿童关爱保护"],
        indicators=[
            {"code": "assist", "name": "帮扶救助", "unit": "人次", "target": 500, "monthly_plan": PLAN},
            {"code": "community", "name": "社区参与活动", "unit": "场", "target": 5},
        ],
        policy=policy,
    )


def worker(hired_on: date = date(2026, 8, 1), provider: str = PROVIDER) -> Worker:
    return Worker(worker_id=str(uuid.uuid4()), county="640402", provider_id=provider, station_id=STATION, role="social_worker", hired_on=hired_on)


def facts(w: Worker, **changes) -> DeliveryFacts:
    base = DeliveryFacts(
        contract_id="c-1", station_id=STATION, worker_ids=(w.worker_id,), kind="帮扶救助", area="社会救助",
        date=date(2026, 10, 5), hours_direct=Decimal(2), hours_other=Decimal("0.5"), person_times=10, indicator_code="assist",
    )
    return base.changed(**changes)


def rules(problems) -> list[tuple[str | None, str | None]]:
    return [(p.rule, p.field) for p in problems]


TODAY = date(2026, 11, 25)


def test_employment_periods_follow_hiring_moves_and_leaving():
    w = worker()
    w.move(provider_id=PROVIDER, to_station_id=ELSEWHERE, moved_on=date(2026, 11, 1))
    w.leave(left_on=date(2027, 1, 31))
    assert w.employment_on(date(2026, 7, 31)) is None
    assert w.employment_on(date(2026, 10, 31)).station_id == STATION
    assert w.employment_on(date(2026, 11, 1)).station_id == ELSEWHERE
    assert w.employment_on(date(2027, 1, 31)) is not None and w.employment_on(date(2027, 2, 1)) is None
    w.rehire(provider_id=PROVIDER, station_id=STATION, role="supervisor", hired_on=date(2027, 3, 1))
    assert w.employment_on(date(2027, 3, 1)).station_id == STATION and w.role == "supervisor"


def test_scope_changes_apply_from_their_date_and_termination_ends_the_year_early():
    c = contract()
    c.change_scope(service_areas=["社会救助", "养老服务"], effective_on=date(2026, 11, 1))
    assert "养老服务" not in c.areas_on(date(2026, 10, 31)) and "养老服务" in c.areas_on(date(2026, 11, 1))
    c.end(status="terminated", ended_on=date(2027, 3, 31))
    assert c.last_day == date(2027, 3, 31) and not c.covers(date(2027, 4, 1))
    assert c.max_daily_hours == 12  # the policy default (R-LOG-4)


def test_a_delivery_is_checked_against_every_rule_at_once():
    c, w, stranger = contract(), worker(), worker(provider="p-启航")
    workers = {w.worker_id: w, stranger.worker_id: stranger}
    none = lambda _w, _d: Decimal(0)  # noqa: E731

    assert delivery_problems(facts(w), c, workers, none, TODAY) == []
    bad = facts(w, kind="聚餐", area="养老服务", date=date(2026, 9, 20), station_id=ELSEWHERE, indicator_code="夏令营")
    assert rules(delivery_problems(bad, c, workers, none, TODAY)) == [
        ("R-LOG-1", "kind"), ("R-REG-6", "area"), ("R-LOG-3", "date"), ("R-LOG-3", "station_id"),
        ("R-LOG-3", "worker_ids.0"), ("R-LOG-8", "indicator_code"),
    ]
    assert rules(delivery_problems(facts(w, date=date(2026, 11, 26)), c, workers, none, TODAY)) == [("R-LOG-3", "date")]
    assert rules(delivery_problems(facts(stranger), c, workers, none, TODAY)) == [("R-REG-8", "worker_ids.0")]
    assert rules(delivery_problems(facts(w, worker_ids=("ghost",)), c, workers, none, TODAY)) == [("R-LOG-3", "worker_ids.0")]
    assert rules(delivery_problems(facts(w, hours_direct=Decimal(0), hours_other=Decimal(0)), c, workers, none, TODAY)) == [("R-LOG-3", "hours_direct")]
    # R-LOG-4: 9.5 h already that day; 2.5 more passes the default cap of 12, not a county's 10.
    booked = lambda _w, _d: Decimal("9.5")  # noqa: E731
    assert delivery_problems(facts(w), c, workers, booked, TODAY) == []
    assert rules(delivery_problems(facts(w), contract(max_daily_hours=10), workers, booked, TODAY)) == [("R-LOG-4", "worker_ids.0")]


def test_totals_follow_corrections_and_voidings_and_progress_follows_seed_000s_plan():
    c, w = contract(), worker()
    log = ContractLog(contract_id="c-1", county="640402")
    september, october = facts(w, date=date(2026, 9, 25), person_times=50), facts(w, person_times=90)
    for f in (september, october):
        log.tally_changes(new_delivery_ids=[str(uuid.uuid4())], delta=contribution(f, c))

    # October's 90 should have been 100 (R-LOG-6: the delta takes out the old and puts in the new).
    corrected = october.changed(person_times=100)
    delta = contribution(october, c, -1).plus(contribution(corrected, c))
    log.tally_changes(new_delivery_ids=[], delta=delta)
    progress = {p.code: p for p in indicator_progress(c, log.tally, date(2026, 10, 31))}
    assert (progress["assist"].actual, progress["assist"].planned_to_date, progress["assist"].on_track) == (150, 150, True)
    # Mid-November the plan expects half of November's 100; at its end the whole 250.
    mid = {p.code: p for p in indicator_progress(c, log.tally, date(2026, 11, 15))}["assist"]
    assert (mid.planned_to_date, mid.expected_to_date, mid.on_track) == (250, 200, False)
    # Over the whole plan: 550 ≥ the target of 500. Without a plan, the target is pro-rated.
    assert indicator_progress(c, log.tally, date(2027, 9, 20))[0].planned_to_date == 550
    community = {p.code: p for p in indicator_progress(c, log.tally, date(2027, 3, 21))}["community"]
    assert (community.plan_basis, community.planned_to_date, community.expected_to_date) == (PlanBasis.PRO_RATA, None, 2)

    log.tally_changes(new_delivery_ids=[], delta=contribution(corrected, c, -1))  # voided
    assert indicator_progress(c, log.tally, date(2026, 10, 31))[0].actual == 50
    assert log.tally.months["2026-10"].kinds["帮扶救助"].deliveries == 0


def test_hours_caps_reproduce_the_guangzhou_family_centre_numbers():
    # 14 professional staff: 27,440 h a year, at most 110% (30,184) in the plan, ≥ 22,852 h direct.
    caps = hours_against_caps(contract(), Tally(workers={"w": WorkerHours(Decimal(1700), Decimal(300))}), staff=14)
    assert caps.annual_hours_target == 27_440 and caps.annual_hours_ceiling == 30_184
    # Seed 004 writes the direct minimum in whole hours: 14 × 1,632.3 = 22,852.2 → 22,852 (as procurement does).
    assert caps.annual_direct_hours_minimum == 22_852
    assert caps.workers == (WorkerAgainstCap("w", Decimal(1700), Decimal(300), over_annual_hours=True),)
    # 22,852 direct hours reach the minimum; one tenth of an hour less does not.
    reached = {h: WorkerHours(Decimal(h), Decimal(0)) for h in ("22852", "22851.9")}
    assert hours_against_caps(contract(), Tally(workers={"w": reached["22852"]}), staff=14).direct_minimum_reached
    assert not hours_against_caps(contract(), Tally(workers={"w": reached["22851.9"]}), staff=14).direct_minimum_reached


def test_spreadsheet_rows_read_with_chinese_headers_and_report_what_cannot_be_read():
    rows = read_rows(enumerate([
        ["南关街道社工站服务记录台账（2026年10月）"],  # a title above the header row
        [],
        ["服务社工编号", "服务类型", "服务领域", "服务日期", "直接服务时长（小时）", "服务人次", "备注"],
        ["w1、w2", "走访", "社会救助", "2026年10月5日", 1.5, 12.0, "ignored"],
        ["w1", "个案", "社会救助", datetime(2026, 10, 6, 0, 0), "25", "三"],
        [None, None, None, None, None, None],
    ], start=1))
    assert [r.line for r in rows] == [4, 5]
    assert rows[0].values == {"worker_ids": ["w1", "w2"], "kind": "走访", "area": "社会救助", "date": date(2026, 10, 5),
                              "hours_direct": Decimal("1.50"), "person_times": 12}
    assert [f for f, _ in rows[1].errors] == ["hours_direct", "person_times"]
    with pytest.raises(UnreadableFile) as missing:
        read_rows(enumerate([["姓名", "服务日期"]], start=1))
    assert "服务社工编号" in missing.value.detail


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_personal_data_is_sealed_per_person_and_erased_by_destroying_the_key(store, tmp_path):
    keys = MemoryKeyStore() if store == "memory" else SqliteKeyStore(str(tmp_path / "keys.sqlite"))
    vault = PersonalDataVault(keys)
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    sealed_a = vault.seal(a, {"name": "马小花", "id_number": "640402201501011234"})
    sealed_b = vault.seal(b, {"name": "李大爷"})
    assert "马小花" not in sealed_a
    assert vault.open(a, sealed_a) == {"name": "马小花", "id_number": "640402201501011234"}
    assert vault.open(a, sealed_b) is None  # each person has their own key
    vault.shred(a)
    assert vault.open(a, sealed_a) is None and vault.open(b, sealed_b) == {"name": "李大爷"}
    keys.close()


def test_a_voided_delivery_is_not_corrected_and_a_correction_must_change_something():
    from services_log.domainmodel import ServiceDelivery

    w = worker()
    f = facts(w)
    d = ServiceDelivery(delivery_id=str(uuid.uuid4()), county="640402", **f.as_args(), source="api")
    with pytest.raises(RuleViolation, match="changes nothing"):
        d.correct(f, "无")
    d.correct(f.changed(person_times=12), "核对签到表")
    assert d.facts.person_times == 12 and d.status == "corrected"
    d.void("重复录入")
    with pytest.raises(RuleViolation) as again:
        d.void("再次")
    assert again.value.rule == "R-LOG-6"
