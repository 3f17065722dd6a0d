"""`swp backup` / `swp restore` lose nothing acknowledged and publish nothing twice.

Concurrent commands through the gateway, a subscriber that consumed part of the stream, a backup
taken while commands keep coming (some land after the stream snapshot and before the stores are
copied: the stream lacks them), more writes after the backup (a point-in-time restore drops them),
then everything restored into a fresh directory / database and a fresh NATS, and the platform
started on it: every event acknowledged before the backup is there, the chain verifies and its
head at the backup's position is the one recorded at backup time, the relays republish exactly
what the stream lacked (one message per event id, none missing), and the subscriber's durable
consumer resumes where it stood at the backup."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import nats
from gateway.backup import backup, restore
from gateway.cli import app as swp
from typer.testing import CliRunner

from shared import audit_tree
from shared.infra.auth import Role
from shared.infra.natsserver import NatsServer, free_port
from shared.subjects import SERVICES, STREAM_NAME
from tests.integration.serving import serving
from tests.integration.slice import COUNTY, setup_county

SUBSCRIBER = "county-archive"  # another system's durable consumer


async def create_stations(client: httpx.AsyncClient, headers: dict[str, str], label: str, n: int) -> list[str]:
    async def one(i: int) -> str:
        r = await client.post(
            f"/registry/v1/counties/{COUNTY}/stations",
            json={"name": f"{label}第{i}社工站", "township": f"{label}{i}镇", "kind": "street_station"},
            headers=headers,
        )
        assert r.status_code == 201, r.text
        return str(r.json()["station_id"])

    return list(await asyncio.gather(*(one(i) for i in range(n))))


async def settled(client: httpx.AsyncClient) -> None:
    """Until every relay has published its whole outbox and every consumer is idle."""
    for _ in range(600):
        bodies = [(await client.get(f"/{svc}/health")).json() for svc in SERVICES]
        if all(b["status"] == "ok" and b["outbox"]["pending"] == 0 for b in bodies):
            await asyncio.sleep(0.3)
            again = [(await client.get(f"/{svc}/health")).json() for svc in SERVICES]
            if [b["store"]["head"] for b in again] == [b["store"]["head"] for b in bodies]:
                return
        await asyncio.sleep(0.1)
    raise AssertionError("the platform did not settle")


async def public_event_ids(client: httpx.AsyncClient, auditor: dict[str, str]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for svc in SERVICES:
        ids: set[str] = set()
        after = 0
        while True:
            body = (await client.get(f"/{svc}/v1/audit/events", params={"after": after, "limit": 1000}, headers=auditor)).json()
            ids |= {str(e["event_id"]) for e in body["events"] if e["public"]}
            if body["next_after"] == after:
                break
            after = body["next_after"]
        out[svc] = ids
    return out


TREE_HEADS = "swp.audit."  # the services' signed tree heads share the stream; they are no county's events


async def stream_counts(url: str) -> tuple[dict[str, int], int]:
    """Every event message in the stream, counted per event id (its Nats-Msg-Id); and the number
    of signed tree heads (subjects ``swp.audit.<service>.TreeHeadSigned``)."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        last = (await js.stream_info(STREAM_NAME)).state.last_seq
        counts: dict[str, int] = {}
        heads = 0
        for seq in range(1, last + 1):
            msg = await js.get_msg(STREAM_NAME, seq)
            if msg.subject.startswith(TREE_HEADS):
                heads += 1
                continue
            event_id = (msg.headers or {})["Nats-Msg-Id"]
            counts[event_id] = counts.get(event_id, 0) + 1
        return counts, heads
    finally:
        await nc.close()


async def consume(url: str, *, create: bool = False) -> list[str]:
    """What the subscriber's durable consumer delivers now (acknowledged): event ids in order."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        if create:
            await js.add_consumer(STREAM_NAME, durable_name=SUBSCRIBER, ack_policy="explicit")
        sub = await js.pull_subscribe_bind(SUBSCRIBER, STREAM_NAME)
        got: list[str] = []
        while (await sub.consumer_info()).num_pending:
            for msg in await sub.fetch(100, timeout=5):
                if not msg.subject.startswith(TREE_HEADS):
                    got.append(msg.headers["Nats-Msg-Id"])
                await msg.ack_sync()
        return got
    finally:
        await nc.close()


async def test_backup_under_load_then_restore_loses_nothing_and_duplicates_nothing(settings, nats_server, tokens, tmp_path, request):
    import shutil

    import pytest

    if settings.persistence == "postgres" and not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("pg_dump/pg_restore not installed (postgresql-client; `make system-deps` installs it)")
    auditor = tokens(Role.AUDITOR, "*")
    out = tmp_path / "backup"
    async with serving(settings) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        setup = await setup_county(client, tokens)
        purchaser = setup["purchaser"]
        # The registry's writer key was rotated: the restored platform needs the key store too.
        rotated = await client.post("/registry/v1/audit/keys/rotate", headers=tokens(Role.PROVINCE_ADMIN, "*"))
        assert rotated.status_code == 201, rotated.text
        before = await create_stations(client, purchaser, "甲", 12)
        await settled(client)
        # A tree head in the stream too (signed by the rotated key; checked from the first key).
        head = await client.post("/registry/v1/audit/tree-heads", headers=tokens(Role.PROVINCE_ADMIN, "*"))
        assert head.status_code == 200 and head.json()["published"] is True, head.text
        assert head.json()["tree_head"]["key_id"] == rotated.json()["key_id"]
        assert audit_tree.head_problems(head.json(), head.json()["public_key"], service="registry") == []
        seen_before_backup = await consume(nats_server.url, create=True)
        assert len(seen_before_backup) >= 12
        # More commands while the backup runs; and some deterministically between the stream
        # snapshot and the stores' copies: acknowledged before the stores are copied, absent from
        # the stream snapshot.
        during = asyncio.create_task(create_stations(client, purchaser, "乙", 12))
        between: list[str] = []

        async def write_between() -> None:
            between.extend(await create_stations(client, purchaser, "丙", 6))

        manifest = await backup(settings, out, between=write_between)
        during_ids = await during
        after = await create_stations(client, purchaser, "丁", 4)  # after the backup: not restored
        await settled(client)
        old_ids = await public_event_ids(client, auditor)
    assert json.loads((out / "manifest.json").read_text())["services"]["registry"]["chain_head"] == manifest["services"]["registry"]["chain_head"]

    # A fresh NATS and a fresh directory / database.
    fresh_nats = NatsServer(free_port(), tmp_path / "nats-restored", log_file=tmp_path / "nats-restored.log").start()
    update: dict[str, object] = {"nats_url": fresh_nats.url, "var_dir": tmp_path / "restored"}
    if settings.persistence == "postgres":
        # Another database, and another schema prefix: restored schemas are renamed to it.
        update["postgres_dbname"] = f"{settings.postgres_dbname}_r{uuid.uuid4().hex[:6]}"
        update["postgres_schema_prefix"] = f"r{uuid.uuid4().hex[:6]}_"
    restored = settings.model_copy(update=update)
    try:
        report = await restore(restored, out)
        assert report["services"]["registry"]["missing_writer_key"] == rotated.json()["key_id"]
        assert "missing_writer_key" not in report["services"]["finance"]
        shutil.copytree(settings.key_store_dir("registry"), restored.key_store_dir("registry"))  # the key store, restored apart
        # Restoring over an existing platform is refused.
        refused = await asyncio.to_thread(CliRunner().invoke, swp, ["restore", "--from", str(out)], env=env_of(restored))
        assert refused.exit_code == 1 and "exists" in refused.output, refused.output
        async with serving(restored) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            reg = tokens(Role.PURCHASER, COUNTY)
            stations = {s["station_id"] for s in (await client.get(f"/registry/v1/counties/{COUNTY}/stations", headers=reg)).json()}
            assert set(before) | set(between) <= stations  # acknowledged before the stores were copied
            assert not set(after) & stations  # written after the backup: a point-in-time restore drops them
            assert len(during_ids) == 12
            await create_stations(client, reg, "戊", 3)  # the restored platform keeps working
            await settled(client)
            head = (await client.post("/registry/v1/audit/tree-heads", headers=tokens(Role.PROVINCE_ADMIN, "*"))).json()
            assert head["published"] is True and head["tree_head"]["key_id"] == rotated.json()["key_id"]
            assert audit_tree.head_problems(head, head["public_key"], service="registry") == []
            for svc in SERVICES:
                body = (await client.get(f"/{svc}/v1/audit/verify", headers=auditor)).json()
                assert body["verified"] is True, (svc, body["problems"])
                head = manifest["services"][svc]["chain_head"]
                if head:  # the link at the backup's head position is the one recorded then
                    rec = (await client.get(f"/{svc}/v1/audit/records", params={"after": head["position"] - 1, "limit": 1}, headers=auditor)).json()
                    assert rec["records"][0]["link"]["hash"] == head["hash"]
            new_ids = await public_event_ids(client, auditor)
            counts, heads = await stream_counts(fresh_nats.url)
            resumed = await consume(fresh_nats.url)
            # The command line backs up the restored platform as it runs.
            again = await asyncio.to_thread(CliRunner().invoke, swp, ["backup", "--out", str(tmp_path / "again")], env=env_of(restored))
            assert again.exit_code == 0, again.output
            second = json.loads((tmp_path / "again" / "manifest.json").read_text())
            assert heads >= 2  # the one in the backed-up stream, the one published after the restore (and any periodic ones)
            assert second["stream"]["messages"] == sum(counts.values()) + heads
            assert second["services"]["registry"]["position"] > manifest["services"]["registry"]["position"]
    finally:
        fresh_nats.stop()
        if settings.persistence == "postgres":
            import psycopg

            with psycopg.connect(host=settings.postgres_host, port=settings.postgres_port, user=settings.postgres_user, dbname="postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{update["postgres_dbname"]}" WITH (FORCE)')

    # The stream snapshot lacked what was written after it; the relays republished exactly that.
    assert report["stream"]["messages"] < sum(len(ids) for ids in new_ids.values())
    assert report["services"]["registry"]["relay_from"] <= manifest["services"]["registry"]["position"]
    every_public = set().union(*new_ids.values())
    assert set(counts) == every_public, "the stream holds exactly the stores' public events"
    assert all(n == 1 for n in counts.values()), {k: n for k, n in counts.items() if n > 1}
    # Every public event the stores held at the backup was in the old stream, and is in the new one.
    lost = set().union(*old_ids.values()) - every_public
    assert len(lost) >= 4  # the stations written after the backup (and their reactions), no more:
    assert all(event_id not in set(seen_before_backup) for event_id in lost)
    # The subscriber resumes where its consumer stood at the backup: no repeat, no gap.
    assert not set(resumed) & set(seen_before_backup)
    assert len(resumed) == len(set(resumed))
    assert set(seen_before_backup) | set(resumed) == every_public


def env_of(settings) -> dict[str, str]:
    env = {
        "SWP_ENVIRONMENT": "test",
        "SWP_PERSISTENCE": settings.persistence,
        "SWP_NATS_URL": settings.nats_url,
        "SWP_VAR_DIR": str(settings.var_dir),
        "SWP_POSTGRES_DBNAME": settings.postgres_dbname,
        "SWP_POSTGRES_SCHEMA_PREFIX": settings.postgres_schema_prefix,
    }
    return env


def test_app_names_match_the_services_applications():
    import evaluation.main
    import finance.main
    import registry.main
    import services_log.main
    from gateway.backup import APP_NAMES

    memory = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    for module in (registry.main, services_log.main, evaluation.main, finance.main):
        assert APP_NAMES[module.SPEC.name] == module.SPEC.application(memory).name

