"""``swp backup`` / ``swp restore``: every service's store and the JetStream stream, restored
without losing an acknowledged event or publishing one twice.

Order matters, and is what makes the restore exact:

1. **The stream first**, with JetStream's own snapshot API (``$JS.API.STREAM.SNAPSHOT.SWP``: the
   server streams a tar of the stream and its consumers, chunk by chunk, acknowledged for flow
   control; nats-py has no helper for it and the ``nats`` CLI is not installed here).
2. **Then each store**: SQLite with the online backup API (``sqlite3.Connection.backup``: a
   consistent copy while the service keeps writing); PostgreSQL with ``pg_dump -Fc`` of the
   service's schema, run inside a snapshot exported from a REPEATABLE READ transaction that also
   reads the chain head — so the head recorded in the manifest is exactly the dump's.

The relay publishes an event only after it is committed to the store, so everything in the
stream snapshot is in the stores taken after it; the stores may hold more (written while the
backup ran). On restore, each service's outbox relay position is set to the last position of that
service present in the restored stream, so the relay republishes exactly what the stream lacks.
Not the store's own recorded position (it may be ahead of the snapshot), and not the duplicate
window: a restored stream does not remember the message ids it deduplicated before (tested), so
``Nats-Msg-Id`` alone would not stop a republished event from being stored twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
from nats.js.errors import NotFoundError

from shared import audit_chain
from shared.infra.settings import Settings
from shared.subjects import SERVICES, STREAM_NAME, service_wildcard

FORMAT = "swp-backup/1"
CHUNK = 128 * 1024
# Each service's eventsourcing application name: its PostgreSQL tables are <name>_events, …
APP_NAMES = {"registry": "registry", "services-log": "services_log", "evaluation": "evaluation", "finance": "finance"}
OUTBOX = "outbox:SWP"  # the relay's tracking name (SwpApplication.OUTBOX)


class BackupError(RuntimeError):
    pass


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _head_of(link_state: Any) -> dict[str, Any] | None:
    if not link_state:
        return None
    link = json.loads(bytes(link_state[0]))
    return {"position": link["position"], "hash": link["hash"]}


# --- JetStream ----------------------------------------------------------------------------
async def snapshot_stream(settings: Settings, out: Path) -> dict[str, Any]:
    """Snapshot stream SWP (messages and consumers) into ``out``; returns its manifest entry."""
    import asyncio

    nc = await nats.connect(**settings.nats_options(), name="swp-backup")
    try:
        inbox = nc.new_inbox()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        path = out / f"{STREAM_NAME}.stream.snapshot"
        with path.open("wb") as f:

            async def chunk(msg: Any) -> None:
                if not msg.data:  # the empty message ends the snapshot
                    status = (msg.headers or {}).get("Status")
                    if not done.done():
                        if status and not status.startswith("2"):
                            done.set_exception(BackupError(f"snapshot failed: {msg.headers}"))
                        else:
                            done.set_result(None)
                    return
                f.write(msg.data)
                if msg.reply:  # flow control: the server waits for these
                    await msg.respond(b"")

            sub = await nc.subscribe(inbox, cb=chunk)
            request = {"deliver_subject": inbox, "chunk_size": CHUNK, "jsck": True}
            reply = await nc.request(f"$JS.API.STREAM.SNAPSHOT.{STREAM_NAME}", json.dumps(request).encode(), timeout=30)
            response = json.loads(reply.data)
            if "error" in response:
                raise BackupError(f"snapshot refused: {response['error']}")
            await asyncio.wait_for(done, timeout=600)
            await sub.unsubscribe()
        (out / f"{STREAM_NAME}.stream.json").write_text(json.dumps({"config": response["config"], "state": response["state"]}, indent=2))
        return {"file": path.name, "sha256": _sha256(path), "messages": response["state"]["messages"], "last_seq": response["state"]["last_seq"]}
    finally:
        await nc.close()


async def restore_stream(settings: Settings, source: Path, entry: dict[str, Any]) -> dict[str, Any]:
    """Restore stream SWP from its snapshot into a NATS where it does not exist yet."""
    meta = json.loads((source / f"{STREAM_NAME}.stream.json").read_text())
    config = dict(meta["config"], num_replicas=settings.stream_replicas)
    nc = await nats.connect(**settings.nats_options(), name="swp-restore")
    try:
        js = nc.jetstream()
        try:
            await js.stream_info(STREAM_NAME)
            raise BackupError(f"stream {STREAM_NAME} already exists on {settings.nats_url}: restore needs a NATS without it")
        except NotFoundError:
            pass
        reply = await nc.request(
            f"$JS.API.STREAM.RESTORE.{STREAM_NAME}", json.dumps({"config": config, "state": meta["state"]}).encode(), timeout=30
        )
        response = json.loads(reply.data)
        if "error" in response:
            raise BackupError(f"restore refused: {response['error']}")
        with (source / entry["file"]).open("rb") as f:
            for block in iter(lambda: f.read(CHUNK), b""):
                await nc.request(response["deliver_subject"], block, timeout=30)
        final = json.loads((await nc.request(response["deliver_subject"], b"", timeout=600)).data)
        if "error" in final:
            raise BackupError(f"restore failed: {final['error']}")
        return dict(final.get("state") or {})
    finally:
        await nc.close()


async def stream_positions(settings: Settings) -> dict[str, int]:
    """Per service, the last log position its relay published into the stream (0: none)."""
    nc = await nats.connect(**settings.nats_options(), name="swp-restore")
    try:
        js = nc.jetstream()
        positions: dict[str, int] = {}
        for service in SERVICES:
            try:
                last = await js.get_last_msg(STREAM_NAME, service_wildcard(service))
            except NotFoundError:
                positions[service] = 0
                continue
            if _is_tree_head(last.subject):
                last = await _last_event_before(js, service, last.seq)
            positions[service] = int(json.loads(last.data)["position"]) if last is not None else 0
        return positions
    finally:
        await nc.close()


def _is_tree_head(subject: str | None) -> bool:
    # The services' signed tree heads (swp.audit.<service>.TreeHeadSigned) share the stream and
    # match swp.*.<service>.>, but are no events of the log: they carry no position.
    return bool(subject and subject.startswith("swp.audit."))


async def _last_event_before(js: Any, service: str, before: int) -> Any:
    """The last event message of ``service`` with a sequence below ``before`` (None: none). Scans
    the service's messages forward from windows that double backwards: heads are few and follow
    the events they sign, so this reads a handful of messages, never the whole stream."""
    window = 64
    while True:
        start = max(1, before - window)
        found, seq = None, start
        while seq < before:
            try:
                msg = await js.get_msg(STREAM_NAME, seq, subject=service_wildcard(service), next=True)
            except NotFoundError:
                break
            if msg.seq is None or msg.seq >= before:
                break
            if not _is_tree_head(msg.subject):
                found = msg
            seq = msg.seq + 1
        if found is not None or start == 1:
            return found
        window *= 2


# --- stores -------------------------------------------------------------------------------
def _pg_params(settings: Settings, dbname: str | None = None) -> dict[str, Any]:
    return {
        "host": settings.postgres_host,
        "port": settings.postgres_port,
        "user": settings.postgres_user,
        "password": settings.postgres_password.get_secret_value(),
        "dbname": dbname or settings.postgres_dbname,
        "connect_timeout": 5,
    }


def _pg_env(settings: Settings) -> dict[str, str]:
    return {**os.environ, "PGPASSWORD": settings.postgres_password.get_secret_value()}


def _pg_tool(name: str) -> str:
    import shutil

    tool = shutil.which(name)
    if tool is None:
        raise BackupError(f"{name} is not installed (package postgresql-client; `make system-deps` installs it)")
    return tool


def _pg_conn_args(settings: Settings) -> list[str]:
    return ["-h", settings.postgres_host, "-p", str(settings.postgres_port), "-U", settings.postgres_user, "-d", settings.postgres_dbname]


def backup_store(settings: Settings, service: str, out: Path) -> dict[str, Any]:
    """Copy one service's store into ``out``; returns its manifest entry, with the chain head and
    the last position the copy holds."""
    app = APP_NAMES[service]
    if settings.persistence == "sqlite":
        source = settings.var_dir / f"{service.replace('-', '_')}.sqlite"
        if not source.is_file():
            raise BackupError(f"no store for {service} at {source}")
        target = out / source.name
        with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
            src.backup(dst)  # the online backup API: consistent while the service writes
        with sqlite3.connect(target) as copy:
            head = _head_of(copy.execute("SELECT state FROM stored_chain ORDER BY originator_version DESC LIMIT 1").fetchone())
            position = copy.execute("SELECT MAX(rowid) FROM stored_events").fetchone()[0] or 0
        return {"file": target.name, "sha256": _sha256(target), "chain_head": head, "position": position}
    if settings.persistence != "postgres":
        raise BackupError("only sqlite and postgres stores can be backed up")
    import psycopg
    from psycopg import sql

    schema = settings.schema_for(service)
    target = out / f"{schema}.pgdump"
    with psycopg.connect(**_pg_params(settings)) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]  # type: ignore[index]
        head = _head_of(
            conn.execute(
                sql.SQL("SELECT state FROM {}.{} ORDER BY originator_version DESC LIMIT 1").format(
                    sql.Identifier(schema), sql.Identifier(f"{app}_chain")
                )
            ).fetchone()
        )
        row = conn.execute(sql.SQL("SELECT MAX(notification_id) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(f"{app}_events"))).fetchone()
        position = (row[0] if row else 0) or 0
        # pg_dump sees exactly what this transaction sees (its exported snapshot).
        subprocess.run(  # noqa: S603 - the PostgreSQL client tool, fixed arguments
            [_pg_tool("pg_dump"), *_pg_conn_args(settings), "-Fc", "-n", schema, f"--snapshot={snapshot}", "-f", str(target)],
            env=_pg_env(settings),
            check=True,
            capture_output=True,
        )
        conn.rollback()
    return {"file": target.name, "sha256": _sha256(target), "schema": schema, "chain_head": head, "position": position}


def restore_store(settings: Settings, service: str, source: Path, entry: dict[str, Any]) -> None:
    """Restore one service's store into a fresh directory / database (refuses to overwrite)."""
    path = source / entry["file"]
    if _sha256(path) != entry["sha256"]:
        raise BackupError(f"{path} does not match the backup manifest")
    if settings.persistence == "sqlite":
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        target = settings.var_dir / f"{service.replace('-', '_')}.sqlite"
        if target.exists():
            raise BackupError(f"{target} exists: restore into a fresh directory")
        with sqlite3.connect(path) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
        return
    import psycopg
    from psycopg import sql

    schema, original = settings.schema_for(service), entry["schema"]
    try:
        conn = psycopg.connect(**_pg_params(settings), autocommit=True)
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise
        with psycopg.connect(**_pg_params(settings, "postgres"), autocommit=True) as admin:
            try:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(settings.postgres_dbname)))
            except psycopg.errors.DuplicateDatabase:
                pass
        conn = psycopg.connect(**_pg_params(settings), autocommit=True)
    with conn:
        existing = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)", ([schema, original],))}
        if existing:
            raise BackupError(f"schema {', '.join(sorted(existing))} exists in {settings.postgres_dbname}: restore into a fresh database")
        subprocess.run(  # noqa: S603 - the PostgreSQL client tool, fixed arguments
            [_pg_tool("pg_restore"), *_pg_conn_args(settings), "--no-owner", "--exit-on-error", str(path)],
            env=_pg_env(settings),
            check=True,
            capture_output=True,
        )
        if schema != original:  # restored under another schema prefix
            conn.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(original), sql.Identifier(schema)))


def set_relay_position(settings: Settings, service: str, position: int) -> None:
    """Set the outbox relay's position in a (stopped) service's store: it publishes from position + 1."""
    if settings.persistence == "sqlite":
        with sqlite3.connect(settings.var_dir / f"{service.replace('-', '_')}.sqlite") as conn:
            conn.execute("INSERT OR REPLACE INTO tracking (application_name, notification_id) VALUES (?, ?)", (OUTBOX, position))
        return
    import psycopg
    from psycopg import sql

    table = sql.Identifier(settings.schema_for(service), f"{APP_NAMES[service]}_tracking")
    with psycopg.connect(**_pg_params(settings), autocommit=True) as conn:
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (application_name, notification_id) VALUES (%s, %s) "
                "ON CONFLICT (application_name) DO UPDATE SET notification_id = EXCLUDED.notification_id"
            ).format(table),
            (OUTBOX, position),
        )


def writer_key_needed(settings: Settings, service: str) -> str | None:
    """The id of the writer key a restored store's log says is in force, if its key rotations
    named one (the service needs it in its key store to start), else None."""
    query = "SELECT state FROM {} WHERE topic = %s ORDER BY {} DESC LIMIT 1"
    if settings.persistence == "sqlite":
        with sqlite3.connect(settings.var_dir / f"{service.replace('-', '_')}.sqlite") as conn:
            row = conn.execute(query.format("stored_events", "rowid").replace("%s", "?"), (audit_chain.KEY_ROTATION_TOPIC,)).fetchone()
    else:
        import psycopg
        from psycopg import sql

        table = sql.Identifier(settings.schema_for(service), f"{APP_NAMES[service]}_events")
        with psycopg.connect(**_pg_params(settings)) as conn:
            row = conn.execute(sql.SQL(query).format(table, sql.Identifier("notification_id")), (audit_chain.KEY_ROTATION_TOPIC,)).fetchone()
    if not row:
        return None
    state, _ = audit_chain.unsigned_state(bytes(row[0]))
    return str(state.get("new_key_id"))


# --- the whole platform -------------------------------------------------------------------
async def backup(settings: Settings, out: Path, *, between: Callable[[], Any] | None = None) -> dict[str, Any]:
    """Back up the stream, then every service's store, into ``out`` (a new directory) with a
    manifest. ``between`` (tests) runs after the stream snapshot, before the stores."""
    import asyncio

    out.mkdir(parents=True, exist_ok=False)
    manifest: dict[str, Any] = {"format": FORMAT, "started_at": datetime.now(UTC).isoformat(), "persistence": settings.persistence}
    manifest["stream"] = await snapshot_stream(settings, out)
    if between is not None:
        result = between()
        if asyncio.iscoroutine(result):
            await result
    manifest["services"] = {}
    for service in SERVICES:
        manifest["services"][service] = await asyncio.to_thread(backup_store, settings, service, out)
    manifest["finished_at"] = datetime.now(UTC).isoformat()
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


async def restore(settings: Settings, source: Path) -> dict[str, Any]:
    """Restore every store and the stream from a backup into a fresh platform (stopped), then set
    each relay to republish what the stream lacks. Returns what was restored, and per service
    ``missing_writer_key`` when its log names a rotated writer key the key store lacks (restore
    the key store before starting it)."""
    import asyncio

    manifest = json.loads((source / "manifest.json").read_text())
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{source} is not an {FORMAT} backup")
    if manifest["persistence"] != settings.persistence:
        raise BackupError(f"the backup is of {manifest['persistence']} stores; the target is {settings.persistence}")
    if _sha256(source / manifest["stream"]["file"]) != manifest["stream"]["sha256"]:
        raise BackupError("the stream snapshot does not match the backup manifest")
    for service, entry in manifest["services"].items():
        await asyncio.to_thread(restore_store, settings, service, source, entry)
    stream_state = await restore_stream(settings, source, manifest["stream"])
    positions = await stream_positions(settings)
    report: dict[str, Any] = {"stream": stream_state, "services": {}}
    for service, entry in manifest["services"].items():
        await asyncio.to_thread(set_relay_position, settings, service, positions[service])
        report["services"][service] = {
            "chain_head": entry["chain_head"],
            "position": entry["position"],
            "relay_from": positions[service] + 1,
        }
        key_id = await asyncio.to_thread(writer_key_needed, settings, service)
        if key_id and settings.stored_audit_key(service, key_id) is None:
            report["services"][service]["missing_writer_key"] = key_id
    return report
