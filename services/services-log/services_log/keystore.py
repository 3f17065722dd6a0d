"""Per-person encryption of beneficiaries' personal data, with erasable keys (R-LOG-5, R-AUD-2).

The event log is append-only, so personal data enters it only as ciphertext (Fernet: AES-128-CBC
with HMAC-SHA256), each person under their own key. The keys live in a separate, mutable key store
— a table beside the event store — and erasing a person destroys their key (crypto-shredding):
the history stays intact and verifiable, the ciphertext in it becomes unreadable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

log = logging.getLogger("swp.services_log.keystore")


class KeyStore(Protocol):
    def put(self, ref: str, key: bytes) -> None: ...
    def get(self, ref: str) -> bytes | None: ...
    def get_many(self, refs: list[str]) -> dict[str, bytes]: ...
    def destroy(self, ref: str) -> None: ...
    def close(self) -> None: ...


class MemoryKeyStore:
    def __init__(self) -> None:
        self._keys: dict[str, bytes] = {}

    def put(self, ref: str, key: bytes) -> None:
        self._keys[ref] = key

    def get(self, ref: str) -> bytes | None:
        return self._keys.get(ref)

    def get_many(self, refs: list[str]) -> dict[str, bytes]:
        return {ref: self._keys[ref] for ref in refs if ref in self._keys}

    def destroy(self, ref: str) -> None:
        self._keys.pop(ref, None)

    def close(self) -> None:
        self._keys.clear()


class SqliteKeyStore:
    """Keys in their own SQLite file; ``secure_delete`` overwrites a destroyed key on disk."""

    def __init__(self, path: str) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA secure_delete = ON")
        self._db.execute("CREATE TABLE IF NOT EXISTS personal_data_keys (ref TEXT PRIMARY KEY, key BLOB NOT NULL)")

    def put(self, ref: str, key: bytes) -> None:
        with self._lock:
            self._db.execute("INSERT INTO personal_data_keys (ref, key) VALUES (?, ?)", (ref, key))

    def get(self, ref: str) -> bytes | None:
        with self._lock:
            row = self._db.execute("SELECT key FROM personal_data_keys WHERE ref = ?", (ref,)).fetchone()
        return bytes(row[0]) if row else None

    def get_many(self, refs: list[str]) -> dict[str, bytes]:
        query = "SELECT ref, key FROM personal_data_keys WHERE ref IN (SELECT value FROM json_each(?))"
        with self._lock:
            rows = self._db.execute(query, (json.dumps(refs),)).fetchall()
        return {ref: bytes(key) for ref, key in rows}

    def destroy(self, ref: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM personal_data_keys WHERE ref = ?", (ref,))

    def close(self) -> None:
        with self._lock:
            self._db.close()


class PostgresKeyStore:
    """Keys in a table of the service's own schema (not one of eventsourcing's append-only tables)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._params: dict[str, Any] = {
            "host": env["POSTGRES_HOST"],
            "port": int(env.get("POSTGRES_PORT", "5432")),
            "user": env["POSTGRES_USER"],
            "password": env.get("POSTGRES_PASSWORD", ""),
            "dbname": env["POSTGRES_DBNAME"],
            "autocommit": True,
            "connect_timeout": 5,
        }
        self._schema = env.get("POSTGRES_SCHEMA") or "public"
        from psycopg_pool import ConnectionPool

        # Sealed casework content is opened on reads and sealed on writes: keep a few connections.
        self._pool = ConnectionPool(kwargs=self._params, min_size=1, max_size=4, open=True, name="personal-data-keys")
        self._execute("CREATE TABLE IF NOT EXISTS {table} (ref TEXT PRIMARY KEY, key BYTEA NOT NULL)")

    def _execute(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        from psycopg import sql

        query = sql.SQL(statement).format(table=sql.Identifier(self._schema, "personal_data_keys"))
        with self._pool.connection() as conn, conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description else []

    def put(self, ref: str, key: bytes) -> None:
        self._execute("INSERT INTO {table} (ref, key) VALUES (%s, %s)", (ref, key))

    def get(self, ref: str) -> bytes | None:
        rows = self._execute("SELECT key FROM {table} WHERE ref = %s", (ref,))
        return bytes(rows[0][0]) if rows else None

    def get_many(self, refs: list[str]) -> dict[str, bytes]:
        return {ref: bytes(key) for ref, key in self._execute("SELECT ref, key FROM {table} WHERE ref = ANY(%s)", (refs,))}

    def destroy(self, ref: str) -> None:
        self._execute("DELETE FROM {table} WHERE ref = %s", (ref,))

    def close(self) -> None:
        self._pool.close()


def key_store_for(env: Mapping[str, str]) -> KeyStore:
    """The key store beside the service's event store (same persistence, separate table or file)."""
    module = env.get("PERSISTENCE_MODULE", "")
    if module.endswith("postgres"):
        return PostgresKeyStore(env)
    if module.endswith("sqlite"):
        dbname = env.get("SQLITE_DBNAME", ":memory:")
        if ":memory:" in dbname or "mode=memory" in dbname:
            return MemoryKeyStore()
        path = Path(dbname)
        return SqliteKeyStore(str(path.with_name(f"{path.stem}-keys.sqlite")))
    return MemoryKeyStore()


# The key of request fingerprints over personal data: kept in the key store, never in the log.
FINGERPRINT_KEY_REF = "swp:request-fingerprints"


class PersonalDataVault:
    """Seals a person's data under their own key; opening fails for good once the key is destroyed."""

    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys
        self._fingerprint_key: bytes | None = None

    def fingerprint(self, personal_data: dict[str, Any]) -> str:
        """A keyed digest (HMAC-SHA256) of personal data, for what must tell two requests apart
        without holding the data (the idempotency record's request fingerprint). An unkeyed hash in
        the append-only log would outlive an erasure: anyone holding the log or an export could
        confirm a guessed name and ID number against it. The key lives beside the persons' keys."""
        if self._fingerprint_key is None:
            key = self.keys.get(FINGERPRINT_KEY_REF)
            if key is None:
                try:
                    self.keys.put(FINGERPRINT_KEY_REF, secrets.token_bytes(32))
                except Exception as exc:  # another process created it first (unique ref): use theirs
                    log.info("request-fingerprint key created concurrently: %s", exc)
                key = self.keys.get(FINGERPRINT_KEY_REF)
                if key is None:
                    raise RuntimeError("the request-fingerprint key could not be stored")
            self._fingerprint_key = key
        data = json.dumps(personal_data, sort_keys=True, ensure_ascii=False).encode()
        return hmac.new(self._fingerprint_key, data, hashlib.sha256).hexdigest()

    def seal(self, ref: str, personal_data: dict[str, Any]) -> str:
        key = Fernet.generate_key()
        self.keys.put(ref, key)
        return Fernet(key).encrypt(json.dumps(personal_data, ensure_ascii=False).encode()).decode()

    def open(self, ref: str, sealed: str) -> dict[str, Any] | None:
        key = self.keys.get(ref)
        if key is None:
            return None
        try:
            return dict(json.loads(Fernet(key).decrypt(sealed.encode())))
        except InvalidToken:
            return None

    def shred(self, ref: str) -> None:
        self.keys.destroy(ref)

    # --- text about several persons (casework and group-work content, R-LOG-5) ----------------
    # Sealed under one key derived (HKDF-SHA256) from EVERY cited person's key, in sorted ref
    # order: it opens only while all of them exist, and erasing any one of them shreds it. (Nested
    # Fernet layers would do the same, but grow by a third per layer: a group of 200 would not fit.)
    def _joint_key(self, refs: Iterable[str], purpose: bytes) -> bytes | None:
        ordered = sorted(set(refs))
        keys = self.keys.get_many(ordered) if ordered else {}
        if not ordered or len(keys) < len(ordered):
            return None
        material = b"".join(ref.encode() + b"\0" + keys[ref] for ref in ordered)
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"swp:" + purpose).derive(material)

    def seal_for(self, refs: Iterable[str], text: str) -> str | None:
        """``text`` readable only while every one of ``refs``' keys exists; None if one is gone already."""
        key = self._joint_key(refs, b"content")
        return None if key is None else Fernet(base64.urlsafe_b64encode(key)).encrypt(text.encode()).decode()

    def open_for(self, refs: Iterable[str], sealed: str) -> str | None:
        """The text, or None once any of ``refs`` is erased (or they are not the refs it was sealed for)."""
        key = self._joint_key(refs, b"content")
        if key is None:
            return None
        try:
            return Fernet(base64.urlsafe_b64encode(key)).decrypt(sealed.encode()).decode()
        except InvalidToken:
            return None

    def digest_for(self, refs: Iterable[str], text: str) -> str | None:
        """A keyed digest of ``text`` (to tell two requests or rows apart) that, like the sealed text,
        can no longer be computed — nor checked against a guess — once any of ``refs`` is erased."""
        key = self._joint_key(refs, b"content-digest")
        return None if key is None else hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
