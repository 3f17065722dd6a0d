"""Partitioned consumers (shared/infra/consumer.py, issue 16 item 4): changing the number of
partitions applies nothing twice, on a real store. A partition's position is a high-water mark
of the contracts that hash to it; marks recorded before (one consumer, or another count) are
honoured for the contracts they covered, and only for those."""

from __future__ import annotations

import uuid

import pytest
from eventsourcing.persistence import Tracking
from finance.application import FinanceApplication

from shared.infra.consumer import Positions, partition_of, tracking_name
from shared.infra.service import prepare_store
from shared.infra.store import CommandContext
from shared.testing.fixtures import make_settings


@pytest.mark.parametrize("persistence", ["sqlite", "postgres"])
def test_positions_recorded_under_another_partition_count_are_honoured(persistence, request, tmp_path):
    postgres = request.getfixturevalue("postgres") if persistence == "postgres" else None
    settings = make_settings(persistence, "nats://127.0.0.1:1", tmp_path / "var", postgres)
    prepare_store(settings, "finance")
    app = FinanceApplication(settings.eventsourcing_env("finance"))
    try:
        keys = [str(uuid.uuid4()) for _ in range(64)]
        odd = next(k for k in keys if partition_of(k, 2) == 1)  # partition 1 of 2
        even = next(k for k in keys if partition_of(k, 2) == 0)
        with app.command(CommandContext(county="640402", actor="service:test")):
            app.record_reaction(Tracking("SWP:registry", 10))  # one consumer, up to stream seq 10
            app.record_reaction(Tracking(tracking_name("registry", 1, 2), 15))  # then 2 partitions: p1 up to 15
            app.record_reaction(Tracking(tracking_name("registry", 0, 2), 11))  # p0 up to 11

        def processed(seq: int, key: str) -> bool:
            return Positions(app, "registry", 4).processed(Tracking(tracking_name("registry", partition_of(key, 4), 4), seq), key)

        assert processed(10, even) and processed(10, odd)  # before partitioning
        assert processed(15, odd) and not processed(16, odd)  # partition 1 of 2 had got to 15
        assert processed(11, even) and not processed(12, even)  # partition 0 of 2 only to 11
        assert not processed(13, even)  # beyond partition 0 of 2

        # Under 4 partitions now: each partition's own mark counts from here on.
        with app.command(CommandContext(county="640402", actor="service:test")):
            app.record_reaction(Tracking(tracking_name("registry", partition_of(even, 4), 4), 20))
        assert processed(20, even) and not processed(21, even)
    finally:
        app.close()


def test_county_subscribers_are_denied_every_partitioned_platform_consumer():
    """Each partition count a service may run with names its consumers, and NATS wildcards match
    whole tokens only: the accounts file must list every such name among those a county subscriber
    may neither create nor acknowledge."""
    import importlib.util
    from pathlib import Path

    from shared.infra.consumer import PARTITION_COUNTS

    deploy = Path(__file__).resolve().parents[2] / "deploy"
    spec = importlib.util.spec_from_file_location("accounts", deploy / "nats" / "accounts.py")
    assert spec is not None and spec.loader is not None
    accounts = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(accounts)
    assert (1, *accounts.PARTITION_COUNTS) == PARTITION_COUNTS
    conf = (deploy / "nats" / "accounts.conf").read_text()
    for n in PARTITION_COUNTS[1:]:
        for i in range(n):
            assert f'"$JS.API.CONSUMER.CREATE.SWP.finance--registry--p{i}of{n}.>"' in conf
            assert f'"$JS.ACK.SWP.finance--registry--p{i}of{n}.>"' in conf


@pytest.mark.parametrize("persistence", ["sqlite", "postgres"])
def test_a_redelivered_message_applies_once_without_reading_its_position_first(persistence, request, tmp_path):
    """``react`` reads the tracking position only when a save fails: a redelivery is refused by
    the high-water tracking row, so it changes nothing — even when its reaction, run again on
    what the first delivery changed, refuses or produces events — and counts as a duplicate."""
    from datetime import UTC, datetime
    from decimal import Decimal

    from evaluation.domainmodel import ContractOutcomes
    from evaluation.lookups import EvaluationApplication

    from shared.envelope import Envelope
    from shared.infra.consumer import ConsumerStats, react
    from shared.rules import DomainError

    postgres = request.getfixturevalue("postgres") if persistence == "postgres" else None
    settings = make_settings(persistence, "nats://127.0.0.1:1", tmp_path / "var", postgres)
    prepare_store(settings, "evaluation")
    app = EvaluationApplication(settings.eventsourcing_env("evaluation"))
    try:
        now = datetime.now(UTC)
        envelope = Envelope(
            event_id=uuid.uuid4(), event_type="IndicatorProgressed", schema_version=1, service="services-log",
            aggregate_type="ContractLog", aggregate_id=uuid.uuid4(), version=2, county="640402", actor="t",
            command_id="c", correlation_id="k", occurred_at=now, recorded_at=now, position=7, data={},
        )
        outcomes = ContractOutcomes(contract_id="c-redeliver", county="640402")
        reads: list[int] = []
        inner = app.is_processed
        app.is_processed = lambda *a: reads.append(1) or inner(*a)  # type: ignore[method-assign]

        def progressed(_body: object) -> list[object]:  # a reaction that records something every time
            found = app._find(outcomes.id) or outcomes
            found.progress(as_of=now.date(), indicators=[], hours_direct=Decimal(1), hours_other=Decimal(0), person_times=1, deliveries=1)
            return [found]

        def refusing(_body: object) -> list[object]:
            raise DomainError("no longer applies")

        stats = ConsumerStats()
        positions = Positions(app, "services-log", 1)
        react(app, envelope, object(), progressed, Tracking("SWP:services-log", 5), stats, positions)
        assert (stats.handled, reads) == (1, [])  # applied; the position was not read
        react(app, envelope, object(), progressed, Tracking("SWP:services-log", 5), stats, positions)
        react(app, envelope, object(), refusing, Tracking("SWP:services-log", 5), stats, positions)
        react(app, envelope, object(), progressed, Tracking("SWP:services-log", 4), stats, positions)  # an older one
        assert (stats.handled, stats.skipped_duplicates) == (1, 3)
        assert app.repository.get(outcomes.id).version == 2  # created, progressed once
        with pytest.raises(DomainError):  # a message not yet applied still fails as it should
            react(app, envelope, object(), refusing, Tracking("SWP:services-log", 6), stats, positions)
    finally:
        app.close()
