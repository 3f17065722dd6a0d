"""How a process takes its share of an upstream's partitions (shared/infra/consumer.py,
``PartitionShare``): the store's leader, which already runs the relay and the sealer, leaves the
first partition to a process started with it, and takes it once ``grace`` has passed."""

from __future__ import annotations

import time

from shared.infra.consumer import PartitionShare


class FreeLock:
    """A store lock nobody else holds."""

    def __init__(self) -> None:
        self.held = False

    def try_acquire(self) -> bool:
        self.held = True
        return True

    def still_held(self) -> bool:
        return self.held

    def release(self) -> None:
        self.held = False


def test_a_process_running_nothing_else_takes_its_first_partition_at_once():
    share = PartitionShare(grace=0.3)
    first, second = share.wrap(FreeLock()), share.wrap(FreeLock())
    assert first.try_acquire()
    assert not second.try_acquire()  # one owned: the next only after a grace period


def test_the_stores_leader_leaves_the_first_partition_to_another_process_for_a_grace_period():
    leading = {"now": True}
    share = PartitionShare(grace=0.3, busy=lambda: int(leading["now"]))
    lock = share.wrap(FreeLock())
    assert not lock.try_acquire()  # just started, and leading: another process may take it first
    time.sleep(0.35)
    assert lock.try_acquire()  # nobody did: the leader pulls it after all
    lock.release()
    leading["now"] = False
    assert share.wrap(FreeLock()).try_acquire()  # no longer leading, owning none: at once
