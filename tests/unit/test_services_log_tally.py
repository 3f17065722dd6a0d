"""The contract log's typed ``Tally`` (issue 16 item 1): pure ``plus``, ``sum`` of many deltas equal
to adding them one by one, and the recorded shape of a delta read back unchanged."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from functools import reduce

from services_log.domainmodel import Contract, DayCounts, DeliveryFacts, Tally, contribution, contributions

CONTRACT = Contract(
    contract_id="c-1", county="640402", provider_id="p", station_ids=["s"], period_start=date(2026, 1, 1),
    period_end=date(2026, 12, 31), service_areas=["社会救助"], policy={},
    indicators=[{"code": "a", "name": "帮扶", "unit": "人次", "target": 100}, {"code": "g", "name": "小组", "unit": "场", "target": 8}],
)


def facts(rng: random.Random) -> DeliveryFacts:
    code = rng.choice([None, "a", "g"])
    return DeliveryFacts(
        contract_id="c-1", station_id="s", worker_ids=tuple(rng.sample(["w-1", "w-2", "w-3"], rng.randint(1, 2))),
        kind=rng.choice(["帮扶救助", "小组"]), area="社会救助", date=date(2026, 1, 1) + timedelta(days=rng.randrange(365)),
        hours_direct=Decimal(rng.choice(["1", "1.5", "2.25"])), hours_other=Decimal(rng.choice(["0", "0.5"])),
        person_times=rng.randint(1, 9), indicator_code=code, indicator_quantity=rng.choice([None, 2]) if code == "g" else None,
    )


def test_sum_equals_adding_one_by_one_and_neither_changes_its_parts():
    rng = random.Random(7)
    parts = [contribution(facts(rng), CONTRACT, rng.choice([1, 1, 1, -1])) for _ in range(300)]
    before = [p.as_delta() for p in parts]
    added = reduce(Tally.plus, parts, Tally())
    assert Tally.sum(parts) == added and Tally.sum(parts).as_delta() == added.as_delta()
    assert [p.as_delta() for p in parts] == before  # plus and sum built new values only


def test_a_delta_reads_back_from_its_recorded_shape():
    rng = random.Random(8)
    delta = contribution(facts(rng), CONTRACT, -1).plus(contribution(facts(rng), CONTRACT))
    assert Tally.of(delta.as_delta()) == delta
    whole = Tally().plus(delta.with_month_totals())
    assert Tally.of(whole.as_dict()) == whole  # as a snapshot holds it


def test_a_new_bucket_is_zero_plus_the_delta_as_the_dicts_always_added():
    # A voided delivery with no other hours takes out Decimal("-0"); the log's totals read "0", not "-0".
    delta = Tally(days={"2026-03-01": DayCounts(-1, -2, Decimal("-1.5"), Decimal("-0"), {})})
    assert str(delta.days["2026-03-01"].hours_other) == "-0"
    assert str(Tally().plus(delta).days["2026-03-01"].hours_other) == "0"
    assert str(Tally.sum([delta]).days["2026-03-01"].hours_other) == "0"


def test_a_batchs_contributions_in_one_pass_equal_the_sum_of_each_rows_exactly():
    """The bulk import's delta of a batch (``contributions``) is ``Tally.sum`` of each row's
    ``contribution``: equal, and also alike in every Decimal's digits and every key's order (the
    ``Tallied`` event's stored bytes), for each way an indicator counts and an unknown code."""
    contract = Contract(
        contract_id="c-1", county="640402", provider_id="p", station_ids=["s"], period_start=date(2026, 1, 1),
        period_end=date(2026, 12, 31), service_areas=["社会救助"], policy={},
        indicators=[{"code": "a", "name": "帮扶", "unit": "人次", "target": 100}, {"code": "g", "name": "小组", "unit": "场", "target": 8},
                    {"code": "h", "name": "督导", "unit": "小时", "target": 40}],
    )
    rng = random.Random(11)
    for size in (0, 1, 7, 500):
        batch = []
        for _ in range(size):
            row = facts(rng)
            code = rng.choice([row.indicator_code, "h", "no-such-indicator"])
            batch.append(row.changed(
                indicator_code=code, indicator_quantity=row.indicator_quantity if code == row.indicator_code else None,
                hours_direct=rng.choice([row.hours_direct, Decimal("0.10"), Decimal("3.000")]),
                worker_ids=rng.choice([row.worker_ids, ("w-1", "w-1")]),
            ))
        one_pass = contributions(batch, contract)
        summed = Tally.sum(contribution(f, contract) for f in batch)
        assert one_pass == summed
        assert repr(one_pass.as_delta()) == repr(summed.as_delta()) and repr(one_pass.as_dict()) == repr(summed.as_dict())
        assert repr(Tally().plus(one_pass.with_month_totals()).as_dict()) == repr(Tally().plus(summed.with_month_totals()).as_dict())
