"""Test helper: rewrite a service's history as someone holding its database AND its writer key
would — edit a record, re-sign it with the correct key, and drop the chain links from there so the
service re-seals the rewritten history. ``GET /audit/verify`` then finds nothing wrong: only a
tree head kept outside the service (a witness, `swp audit verify --consistency`) can tell."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared import audit_chain


def _connect(settings: Any, service: str) -> tuple[Any, str, str, str]:
    if settings.persistence == "sqlite":
        conn = sqlite3.connect(settings.var_dir / f"{service.replace('-', '_')}.sqlite")
        return conn, "stored_events", "stored_chain", "?"
    conn = psycopg.connect(
        host=settings.postgres_host, port=settings.postgres_port, user=settings.postgres_user, dbname=settings.postgres_dbname
    )
    schema = settings.schema_for(service)
    prefix = service.replace("-", "_")
    return conn, f'"{schema}".{prefix}_events', f'"{schema}".{prefix}_chain', "%s"


def rewrite_history(settings: Any, service: str, position: int, edit: Callable[[dict[str, Any]], None]) -> None:
    """Apply ``edit`` to the stored state of the record at ``position``, re-sign it with the
    service's writer key, and delete the chain links from ``position`` on (the sealer re-seals)."""
    conn, events, chain, ph = _connect(settings, service)
    key_column = "rowid" if settings.persistence == "sqlite" else "notification_id"
    try:
        row = conn.execute(
            f"SELECT originator_id, originator_version, topic, state FROM {events} WHERE {key_column}={ph}",
            (position,),
        ).fetchone()
        assert row is not None, f"no record at {position}"
        originator_id, version, topic, state_bytes = row
        state, _ = audit_chain.unsigned_state(bytes(state_bytes))
        edit(state)
        key = Ed25519PrivateKey.from_private_bytes(settings.audit_key(service))
        content = audit_chain.canonical_content(str(uuid.UUID(str(originator_id))), int(version), topic, state)
        state["meta"] = {**state["meta"], audit_chain.SIG_FIELD: key.sign(content).hex()}
        conn.execute(
            f"UPDATE {events} SET state={ph} WHERE {key_column}={ph}",
            (audit_chain.canonical_json(state), position),
        )
        conn.execute(f"DELETE FROM {chain} WHERE originator_version >= {ph}", (position,))
        conn.commit()
    finally:
        conn.close()
