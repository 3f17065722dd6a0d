"""Tamper evidence (R-AUD-4): the registry's log is hash-chained and every record is signed by
the service; editing, deleting, inserting or reordering records directly in the database —
behind the service's back — is detected by `GET /registry/v1/audit/verify`."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from typing import Any

import psycopg
import pytest

from shared.infra.auth import Role
from tests.integration.slice import COUNTY, setup_county, sign


class Database:
    """Direct access to the registry's events table, as a rogue administrator would have."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    def _run(self, sql_sqlite: str, sql_pg: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        s = self.settings
        if s.persistence == "sqlite":
            with sqlite3.connect(s.var_dir / "registry.sqlite") as conn:
                return conn.execute(sql_sqlite, params).fetchall()
        with psycopg.connect(
            host=s.postgres_host, port=s.postgres_port, user=s.postgres_user, dbname=s.postgres_dbname, autocommit=True
        ) as conn:
            table = f'"{s.schema_for("registry")}".registry_events'
            cur = conn.execute(sql_pg.replace("{T}", table), params)
            return cur.fetchall() if cur.description else []

    def rows(self) -> list[tuple[int, bytes]]:
        return [
            (int(p), bytes(st))
            for p, st in self._run(
                "SELECT rowid, state FROM stored_events ORDER BY rowid",
                "SELECT notification_id, state FROM {T} ORDER BY notification_id",
            )
        ]

    def set_state(self, position: int, state: bytes) -> None:
        self._run("UPDATE stored_events SET state=? WHERE rowid=?", "UPDATE {T} SET state=%s WHERE notification_id=%s", (state, position))

    def delete(self, position: int) -> None:
        self._run("DELETE FROM stored_events WHERE rowid=?", "DELETE FROM {T} WHERE notification_id=%s", (position,))

    def insert(self, position: int, state: bytes) -> None:
        topic = "registry.domainmodel:Station.Established"
        self._run(
            "INSERT INTO stored_events (rowid, originator_id, originator_version, topic, state) VALUES (?,?,?,?,?)",
            "INSERT INTO {T} (notification_id, originator_id, originator_version, topic, state) VALUES (%s,%s,%s,%s,%s)",
            (position, uuid.uuid4().hex if self.settings.persistence == "sqlite" else uuid.uuid4(), 1, topic, state),
        )


async def verified(gateway, tokens) -> dict[str, Any]:
    auditor = tokens(Role.AUDITOR, "*")
    for _ in range(100):
        body = (await gateway.get("/registry/v1/audit/verify", headers=auditor)).json()
        if body["unsealed"] == 0:
            return body
        await asyncio.sleep(0.05)
    raise AssertionError("the sealer never caught up")


async def history(gateway, tokens) -> int:
    setup = await setup_county(gateway, tokens)
    r = await sign(gateway, COUNTY, setup)
    assert r.status_code == 201
    body = await verified(gateway, tokens)
    assert body["verified"] is True and body["problems"] == []
    assert body["checked"] >= 6 and len(body["head"]["hash"]) == 64
    return int(body["head"]["position"])


@pytest.mark.parametrize("tampering", ["edited", "deleted", "inserted", "reordered", "appended"])
async def test_tampering_behind_the_services_back_is_detected(gateway, tokens, settings, tampering):
    head = await history(gateway, tokens)
    db = Database(settings)
    rows = dict(db.rows())
    provider_position = 2  # county registered (1), provider registered (2)
    if tampering == "edited":
        # A rogue edit of the provider's name: the bytes no longer match the chain nor the signature.
        state = json.loads(rows[provider_position])
        state["name"] = "冒名顶替的社工机构"
        db.set_state(provider_position, json.dumps(state).encode())
        expected = {(provider_position, "edited"), (provider_position, "forged")}
    elif tampering == "deleted":
        db.delete(provider_position)
        expected = {(provider_position, "deleted")}
    elif tampering == "inserted":
        # A record slipped into a gap below the sealed head (after deleting one to make room).
        db.delete(3)
        db.insert(3, rows[3].replace("社工站".encode(), "假站点".encode()))
        expected = {(3, "edited"), (3, "forged")}
    elif tampering == "reordered":
        db.set_state(3, rows[4])
        db.set_state(4, rows[3])
        expected = {(3, "edited"), (4, "edited"), (3, "forged"), (4, "forged")}
    else:  # appended at the tail: the sealer will chain it, but the service never signed it
        db.insert(head + 1, rows[3])
        expected = {(head + 1, "forged")}

    body = await verified(gateway, tokens)
    assert body["verified"] is False
    found = {(p["position"], p["kind"]) for p in body["problems"]}
    assert expected <= found, found
