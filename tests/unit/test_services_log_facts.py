"""DeliveryFacts as event arguments and as a row fingerprint: the shallow ``as_args`` (BENCHMARKS.md
§5) gives what ``dataclasses.asdict`` gave, so imported rows keep their ids across versions."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from decimal import Decimal

from services_log.domainmodel.delivery import DeliveryFacts

FACTS = DeliveryFacts(
    contract_id="c-1", station_id="s-1", worker_ids=("w-2", "w-1"), kind="个案", area="社会救助", date=date(2026, 10, 5),
    hours_direct=Decimal("2.50"), hours_other=Decimal("0.5"), person_times=3, indicator_code="assist",
    beneficiary_refs=("b-1",), content="家访",
)


def test_as_args_are_the_fields_with_lists_for_tuples():
    args = FACTS.as_args()
    assert args == {**asdict(FACTS), "worker_ids": ["w-2", "w-1"], "beneficiary_refs": ["b-1"]}
    assert isinstance(args["worker_ids"], list) and isinstance(args["beneficiary_refs"], list)
    args["worker_ids"].append("w-3")  # the event's arguments are its own
    assert FACTS.worker_ids == ("w-2", "w-1")


def test_the_fingerprint_of_a_row_is_unchanged():
    # Recorded with the asdict-based as_args: an imported row's delivery id derives from it.
    assert FACTS.fingerprint() == "56188f79ba62505d3bcaed98a3367fa8b219695a4f606fb3d6473dcae7c4c009"
    reordered = FACTS.changed(worker_ids=("w-1", "w-2"), hours_direct=Decimal("2.5"))
    assert reordered.fingerprint() == FACTS.fingerprint()
