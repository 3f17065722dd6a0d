"""services-log's hot aggregates hold only what their rules need (issue 16 item 1): no delivery
ids in the contract log, totals to a day from month totals, state never changed in place (so a
command's copy is cheap and the cached instance stays as stored), old shapes upcast."""

from __future__ import annotations

import copy
import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from services_log.domainmodel import ContractLog, DayCounts, Report, Tally, Timesheet, totals_between
from services_log.domainmodel.served import ServedPersons


def day_delta(day: date, person_times: int, hours: str, code: str, sign: int = 1) -> Tally:
    counts = DayCounts(sign, person_times * sign, Decimal(hours) * sign, Decimal(0), {code: person_times * sign})
    return Tally(days={day.isoformat(): counts})


def naive_totals(days: dict[str, DayCounts], first: date | None, last: date) -> DayCounts:
    out = DayCounts(hours_direct=Decimal(0), hours_other=Decimal(0))
    for day, counts in days.items():
        if (first is None or first.isoformat() <= day) and day <= last.isoformat():
            out = out.plus(counts)
    return out


def test_totals_to_any_day_from_month_totals_equal_adding_every_day():
    rng = random.Random(16)
    log = ContractLog(contract_id="c-1", county="640402")
    start, logged = date(2026, 9, 21), 0
    for _ in range(400):
        day = start + timedelta(days=rng.randrange(365))
        sign = -1 if rng.random() < 0.1 else 1  # corrections and voidings take counts back out
        delta = day_delta(day, rng.randrange(1, 5), "0.5", rng.choice(["assist", "visit"]), sign)
        log.tally_changes(new_delivery_ids=["d"] if sign > 0 else [], delta=delta)
        logged += sign > 0
    assert log.deliveries_logged == logged
    for _ in range(200):
        a, b = sorted(start + timedelta(days=rng.randrange(-10, 380)) for _ in range(2))
        first = None if rng.random() < 0.3 else a
        assert totals_between(log.tally, first, b) == naive_totals(dict(log.tally.days), first, b), (first, b)


def test_the_log_counts_deliveries_and_keeps_no_ids():
    log = ContractLog(contract_id="c-1", county="640402")
    log.tally_changes(new_delivery_ids=["d-1", "d-2"], delta=day_delta(date(2026, 10, 1), 3, "1", "assist"))
    log.tally_changes(new_delivery_ids=[], delta=Tally())
    assert log.deliveries_logged == 2 and log.indexed
    assert not any(isinstance(v, (list, set)) and "d-1" in v for v in vars(log).values())


def test_a_version_1_snapshot_state_is_upcast():
    """As ``ContractLog`` version 1 snapshotted itself: every id in a list and a set, no month totals;
    then version 2's dicts into version 3's typed state."""
    tally = day_delta(date(2026, 10, 1), 3, "1.5", "assist").plus(day_delta(date(2026, 10, 2), 4, "0.5", "assist")).as_delta()
    tally["months"] = {"2026-10": {"kinds": {"帮扶救助": {"deliveries": 2, "person_times": 7, "hours": Decimal(2)}}}}
    state = {"contract_id": "c-1", "county": "640402", "tally": tally, "delivery_ids": ["d-1", "d-2"],
             "_known": {"d-1", "d-2"}, "reports": [], "complaints": []}
    ContractLog.upcast_v1_v2(state)
    assert "delivery_ids" not in state and "_known" not in state
    assert (state["deliveries_logged"], state["indexed"]) == (2, False)
    totals = state["tally"]["months"]["2026-10"]["totals"]
    assert (totals["deliveries"], totals["person_times"], totals["hours_direct"], totals["indicators"]) == (2, 7, Decimal(2), {"assist": 7})
    assert state["tally"]["months"]["2026-10"]["kinds"]["帮扶救助"]["deliveries"] == 2
    state["reports"] = [{"report_id": "r", "kind": "midterm", "period": None, "submitted_on": date(2026, 10, 2), "title": "中期", "summary": None}]
    ContractLog.upcast_v2_v3(state)
    assert state["tally"].months["2026-10"].totals == DayCounts(2, 7, Decimal(2), Decimal(0), {"assist": 7})
    assert state["reports"] == [Report("r", "midterm", None, date(2026, 10, 2), "中期", None)] and state["complaints"] == []
    opened = {"contract_id": "c-1", "county": "640402"}
    ContractLog.Opened.upcast_v1_v2(opened)
    assert opened["indexed"] is False  # opened before index pages: its first write indexes it


def test_handlers_never_change_state_in_place():
    """A command's copy shares every value with the cached instance; what the command does to the
    copy must leave the instance as it was (what ``CopyOnWrite`` relies on)."""
    log = ContractLog(contract_id="c-1", county="640402")
    log.tally_changes(new_delivery_ids=["d-1"], delta=day_delta(date(2026, 10, 1), 3, "1", "assist"))
    sheet = Timesheet(worker_id="w-1", county="640402")
    sheet.book(entries=[{"delivery_id": "d-1", "date": date(2026, 10, 1), "hours": Decimal(2)}])
    served = ServedPersons(contract_id="c-1", period="year", county="640402")
    served.count(changes=[{"key": "", "ref": "r-1", "date": "2026-10-01", "delta": 1}])
    deep = [{k: copy.deepcopy(v, {}) for k, v in vars(a).items() if k != "_pending_events"} for a in (log, sheet, served)]

    a, b, c = (copy.deepcopy(x) for x in (log, sheet, served))
    assert a.tally is log.tally and b.days is sheet.days and c.dates is served.dates  # cheap: shared
    a.tally_changes(new_delivery_ids=["d-2"], delta=day_delta(date(2026, 10, 1), 5, "1", "assist"))
    a.submit_report(_contract(), "r", "midterm", None, date(2026, 10, 2), "中期报告", None)
    b.book(entries=[{"delivery_id": "d-2", "date": date(2026, 10, 1), "hours": Decimal(3)}])
    c.count(changes=[{"key": "", "ref": "r-1", "date": "2026-09-30", "delta": 1}, {"key": "", "ref": "r-2", "date": "2026-10-01", "delta": 1},
                     {"key": "assist", "ref": "r-1", "date": "2026-10-01", "delta": 1}])
    for original, before in zip((log, sheet, served), deep, strict=True):
        assert {k: v for k, v in vars(original).items() if k != "_pending_events"} == before
    assert (a.tally.days["2026-10-01"].person_times, b.hours_on(date(2026, 10, 1)), c.persons(), c.persons("", date(2026, 9, 30))) == (
        8, Decimal(5), 2, 1)


def _contract() -> Any:
    from services_log.domainmodel import Contract

    return Contract(
        contract_id="c-1", county="640402", provider_id="p", station_ids=["s"], period_start=date(2026, 9, 21),
        period_end=date(2027, 9, 20), service_areas=["社会救助"], indicators=[], policy={},
    )
