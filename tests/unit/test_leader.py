"""Leader election on one store (shared/infra/leader.py), with the file lock SQLite uses: one
leader at a time, the follower takes over when the leader steps down."""

from __future__ import annotations

import asyncio

from shared.infra.leader import Election, FileLeaderLock, leader_lock, lock_key


async def test_one_leader_and_a_takeover(tmp_path):
    running: list[str] = []

    def job(name: str):
        async def lead() -> None:
            running.append(name)
            try:
                await asyncio.Event().wait()
            finally:
                running.remove(name)

        return lead

    first = Election("leader", FileLeaderLock(tmp_path / "svc.leader"), retry_seconds=0.05, check_seconds=0.05)
    second = Election("leader", FileLeaderLock(tmp_path / "svc.leader"), retry_seconds=0.05, check_seconds=0.05)
    a = asyncio.create_task(first.run(job("a")))
    for _ in range(100):
        if running:
            break
        await asyncio.sleep(0.01)
    b = asyncio.create_task(second.run(job("b")))
    await asyncio.sleep(0.3)  # several retries of the follower
    assert running == ["a"] and first.leading and not second.leading

    a.cancel()  # the leader stops: its lock is released, the follower takes over
    await asyncio.gather(a, return_exceptions=True)
    for _ in range(100):
        if running == ["b"]:
            break
        await asyncio.sleep(0.02)
    assert running == ["b"] and second.leading and second.terms == 1 and not first.leading
    b.cancel()
    await asyncio.gather(b, return_exceptions=True)
    assert running == []


def test_lock_choice_and_keys(tmp_path):
    sqlite = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "finance.sqlite")}
    lock = leader_lock(sqlite, "finance", "leader")
    assert isinstance(lock, FileLeaderLock) and lock.path == tmp_path / "finance.leader"
    assert leader_lock({"PERSISTENCE_MODULE": "eventsourcing.popo"}, "finance", "leader").try_acquire()
    # Keys are signed 64-bit (PostgreSQL bigint), and differ per schema.
    keys = {lock_key(schema, "leader", "finance") for schema in ("a_finance", "b_finance")}
    assert len(keys) == 2 and all(-(2**63) <= k < 2**63 for k in keys)
