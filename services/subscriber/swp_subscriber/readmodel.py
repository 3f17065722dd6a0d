"""The county's read model in SQLite or PostgreSQL: contracts, deliveries (and deliveries per
month), evaluations, tranches, plus the witness's tree heads and alarms, and the stream sequence
each consumer has applied — written in the same transaction as the rows it produced, so a restart
resumes exactly after the last applied message (nothing applied twice, nothing skipped)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS checkpoints (
        consumer TEXT PRIMARY KEY,
        stream_seq BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS contracts (
        contract_id TEXT PRIMARY KEY,
        county TEXT NOT NULL,
        provider_id TEXT NOT NULL,
        purchaser TEXT NOT NULL,
        signed_on TEXT NOT NULL,
        effective_on TEXT NOT NULL,
        period_start TEXT NOT NULL,
        period_end TEXT NOT NULL,
        amount_fen BIGINT NOT NULL,
        status TEXT NOT NULL,
        status_on TEXT,
        stream_seq BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS deliveries (
        delivery_id TEXT PRIMARY KEY,
        contract_id TEXT NOT NULL,
        station_id TEXT NOT NULL,
        month TEXT NOT NULL,
        delivered_on TEXT NOT NULL,
        kind TEXT NOT NULL,
        area TEXT NOT NULL,
        hours_direct TEXT NOT NULL,
        hours_other TEXT NOT NULL,
        person_times INTEGER NOT NULL,
        voided INTEGER NOT NULL DEFAULT 0,
        stream_seq BIGINT NOT NULL)""",
    """CREATE VIEW IF NOT EXISTS deliveries_per_month AS
        SELECT contract_id, month, COUNT(*) AS deliveries, SUM(person_times) AS person_times
        FROM deliveries WHERE voided = 0 GROUP BY contract_id, month""",
    """CREATE TABLE IF NOT EXISTS evaluations (
        evaluation_id TEXT PRIMARY KEY,
        contract_id TEXT NOT NULL,
        stage TEXT NOT NULL,
        status TEXT NOT NULL,
        score TEXT,
        grade TEXT,
        passed INTEGER,
        concluded_on TEXT,
        stream_seq BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS tranches (
        contract_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        amount_fen BIGINT NOT NULL,
        due_on TEXT,
        provisional INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL,
        paid_on TEXT,
        stream_seq BIGINT NOT NULL,
        PRIMARY KEY (contract_id, seq))""",
    # As the platform shows tranches (finance's tranche view): a scheduled tranche whose due date
    # has passed is overdue (R-FIN-9), whether or not finance has recorded TrancheOverdue yet.
    """CREATE VIEW IF NOT EXISTS tranche_board AS
        SELECT contract_id, seq, amount_fen, due_on, provisional, paid_on,
               CASE WHEN status = 'scheduled' AND due_on IS NOT NULL AND due_on < CAST(CURRENT_DATE AS TEXT)
                    THEN 'overdue' ELSE status END AS status
        FROM tranches""",
    """CREATE TABLE IF NOT EXISTS tree_heads (
        service TEXT NOT NULL,
        stream_seq BIGINT NOT NULL,
        tree_size BIGINT NOT NULL,
        root TEXT NOT NULL,
        chain_position BIGINT,
        chain_hash TEXT,
        key_id TEXT NOT NULL,
        signed_at TEXT NOT NULL,
        signature TEXT NOT NULL,
        public_key TEXT NOT NULL,
        status TEXT NOT NULL,
        PRIMARY KEY (service, stream_seq))""",
    """CREATE TABLE IF NOT EXISTS alarms (
        service TEXT NOT NULL,
        stream_seq BIGINT NOT NULL,
        kind TEXT NOT NULL,
        detail TEXT NOT NULL,
        PRIMARY KEY (service, stream_seq, kind))""",
]

TABLES = ("contracts", "deliveries", "evaluations", "tranches", "tree_heads", "alarms")


class ReadModel:
    """``url``: ``sqlite:///path/to/file.sqlite`` (or a bare path) or ``postgresql://…``."""

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith(("postgresql://", "postgres://")):
            import psycopg

            self.kind = "postgres"
            self.conn: Any = psycopg.connect(url, autocommit=True)  # transaction() blocks are the transactions
        else:
            path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.kind = "sqlite"
            # Transactions are explicit; the subscriber serialises use from its worker threads.
            self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.conn.execute("PRAGMA journal_mode=WAL")
        with self.transaction():
            for ddl in SCHEMA:
                if self.kind == "postgres" and ddl.lstrip().startswith("CREATE VIEW"):
                    ddl = ddl.replace("CREATE VIEW IF NOT EXISTS", "CREATE OR REPLACE VIEW")
                self.execute(ddl)

    def close(self) -> None:
        self.conn.close()

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        if self.kind == "postgres":
            sql = sql.replace("?", "%s")
        return self.conn.execute(sql, params)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return list(self.execute(sql, params).fetchall())

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self.kind == "sqlite":
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
        else:
            with self.conn.transaction():
                yield

    # --- checkpoints -------------------------------------------------------------------------
    def checkpoint(self, consumer: str) -> int:
        rows = self.query("SELECT stream_seq FROM checkpoints WHERE consumer = ?", (consumer,))
        return int(rows[0][0]) if rows else 0

    def set_checkpoint(self, consumer: str, seq: int) -> None:
        self.execute(
            "INSERT INTO checkpoints (consumer, stream_seq) VALUES (?, ?) "
            "ON CONFLICT (consumer) DO UPDATE SET stream_seq = excluded.stream_seq",
            (consumer, seq),
        )

    # --- events ------------------------------------------------------------------------------
    def apply(self, envelope: dict[str, Any], seq: int) -> bool:
        """Apply one envelope (inside the caller's transaction). Returns whether it changed a row."""
        kind, data = envelope["event_type"], envelope["data"]
        handler = getattr(self, f"_on_{kind}", None)
        if handler is None:
            return False
        handler(data, seq)
        return True

    def _on_ContractSigned(self, d: dict[str, Any], seq: int) -> None:
        self.execute(
            "INSERT INTO contracts (contract_id, county, provider_id, purchaser, signed_on, effective_on, period_start,"
            " period_end, amount_fen, status, status_on, stream_seq) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT (contract_id) DO NOTHING",
            (d["contract_id"], d["county"], d["provider_id"], d["purchaser"], d["signed_on"], d["effective_on"],
             d["period_start"], d["period_end"], d["amount_fen"], "signed", d["signed_on"], seq),
        )

        # The tranches the contract plans (R-FIN: amounts by percent, the last takes the remainder),
        # awaiting their triggers until finance schedules them.
        plan = sorted(d.get("tranche_plan") or [], key=lambda t: t["seq"])
        amounts = [d["amount_fen"] * t["percent"] // 100 for t in plan[:-1]]
        amounts.append(d["amount_fen"] - sum(amounts))
        for t, amount in zip(plan, amounts, strict=False):
            self.execute(
                "INSERT INTO tranches (contract_id, seq, amount_fen, due_on, provisional, status, stream_seq)"
                " VALUES (?,?,?,NULL,0,'awaiting_trigger',?) ON CONFLICT (contract_id, seq) DO NOTHING",
                (d["contract_id"], t["seq"], amount, seq),
            )

    def _contract_status(self, contract_id: str, status: str, on: str | None, seq: int) -> None:
        self.execute(
            "UPDATE contracts SET status = ?, status_on = ?, stream_seq = ? WHERE contract_id = ?", (status, on, seq, contract_id)
        )

    def _on_ContractTerminated(self, d: dict[str, Any], seq: int) -> None:
        self._contract_status(d["contract_id"], "terminated", d["terminated_on"], seq)

    def _on_ContractExpired(self, d: dict[str, Any], seq: int) -> None:
        self._contract_status(d["contract_id"], "expired", d["expired_on"], seq)

    def _delivery(self, d: dict[str, Any], seq: int) -> None:
        self.execute(
            "INSERT INTO deliveries (delivery_id, contract_id, station_id, month, delivered_on, kind, area, hours_direct,"
            " hours_other, person_times, voided, stream_seq) VALUES (?,?,?,?,?,?,?,?,?,?,0,?)"
            " ON CONFLICT (delivery_id) DO UPDATE SET station_id = excluded.station_id, month = excluded.month,"
            " delivered_on = excluded.delivered_on, kind = excluded.kind, area = excluded.area,"
            " hours_direct = excluded.hours_direct, hours_other = excluded.hours_other,"
            " person_times = excluded.person_times, stream_seq = excluded.stream_seq",
            (d["delivery_id"], d["contract_id"], d["station_id"], str(d["date"])[:7], d["date"], d["kind"], d["area"],
             str(d["hours_direct"]), str(d["hours_other"]), d["person_times"], seq),
        )

    _on_ServiceDelivered = _delivery
    _on_DeliveryCorrected = _delivery

    def _on_DeliveryVoided(self, d: dict[str, Any], seq: int) -> None:
        self.execute("UPDATE deliveries SET voided = 1, stream_seq = ? WHERE delivery_id = ?", (seq, d["delivery_id"]))

    def _on_EvaluationScheduled(self, d: dict[str, Any], seq: int) -> None:
        self.execute(
            "INSERT INTO evaluations (evaluation_id, contract_id, stage, status, stream_seq) VALUES (?,?,?,?,?)"
            " ON CONFLICT (evaluation_id) DO NOTHING",
            (d["evaluation_id"], d["contract_id"], d["stage"], "scheduled", seq),
        )

    def _evaluation(self, d: dict[str, Any], seq: int, status: str, on: str | None) -> None:
        self.execute(
            "UPDATE evaluations SET status = ?, score = ?, grade = ?, passed = ?, concluded_on = COALESCE(?, concluded_on),"
            " stream_seq = ? WHERE evaluation_id = ?",
            (status, str(d["score"]), d["grade"], int(bool(d["passed"])), on, seq, d["evaluation_id"]),
        )

    def _on_EvaluationConcluded(self, d: dict[str, Any], seq: int) -> None:
        self._evaluation(d, seq, "concluded", d["concluded_on"])

    def _on_AppealDecided(self, d: dict[str, Any], seq: int) -> None:
        self._evaluation(d, seq, "appeal_upheld" if d["upheld"] else "appeal_rejected", None)

    def _on_EvaluationAppealed(self, d: dict[str, Any], seq: int) -> None:
        self.execute("UPDATE evaluations SET status = 'appealed', stream_seq = ? WHERE evaluation_id = ?", (seq, d["evaluation_id"]))

    def _on_TrancheScheduled(self, d: dict[str, Any], seq: int) -> None:
        self.execute(
            "INSERT INTO tranches (contract_id, seq, amount_fen, due_on, provisional, status, stream_seq) VALUES (?,?,?,?,?,?,?)"
            " ON CONFLICT (contract_id, seq) DO UPDATE SET amount_fen = excluded.amount_fen, due_on = excluded.due_on,"
            " provisional = excluded.provisional, status = excluded.status, stream_seq = excluded.stream_seq",
            (d["contract_id"], d["seq"], d["amount_fen"], d["due_on"], int(bool(d["provisional"])), "scheduled", seq),
        )

    def _on_DueDateRecomputed(self, d: dict[str, Any], seq: int) -> None:
        self.execute(
            "UPDATE tranches SET due_on = ?, provisional = ?, stream_seq = ? WHERE contract_id = ? AND seq = ?",
            (d["due_on"], int(bool(d["provisional"])), seq, d["contract_id"], d["seq"]),
        )

    def _tranche_status(self, d: dict[str, Any], seq: int, status: str, paid_on: str | None = None) -> None:
        self.execute(
            "UPDATE tranches SET status = ?, paid_on = COALESCE(?, paid_on), stream_seq = ? WHERE contract_id = ? AND seq = ?",
            (status, paid_on, seq, d["contract_id"], d["seq"]),
        )

    def _on_TranchePaid(self, d: dict[str, Any], seq: int) -> None:
        self._tranche_status(d, seq, "paid", d["paid_on"])

    def _on_TrancheWithheld(self, d: dict[str, Any], seq: int) -> None:
        self._tranche_status(d, seq, "withheld")

    def _on_TrancheCancelled(self, d: dict[str, Any], seq: int) -> None:
        self._tranche_status(d, seq, "cancelled")

    def _on_TrancheOverdue(self, d: dict[str, Any], seq: int) -> None:
        self._tranche_status(d, seq, "overdue")

    # --- witness -----------------------------------------------------------------------------
    def last_head(self, service: str) -> dict[str, Any] | None:
        """The last head of ``service`` this witness verified (or the first it saw)."""
        rows = self.query(
            "SELECT tree_size, root, public_key, stream_seq FROM tree_heads WHERE service = ? AND status IN ('first', 'consistent')"
            " ORDER BY stream_seq DESC LIMIT 1",
            (service,),
        )
        if not rows:
            return None
        size, root, key, seq = rows[0]
        return {"tree_size": int(size), "root": root, "public_key": key, "stream_seq": int(seq)}

    def verified_heads(self, service: str) -> list[tuple[int, str]]:
        """(tree size, root) of every head of ``service`` this witness verified, by size."""
        rows = self.query(
            "SELECT DISTINCT tree_size, root FROM tree_heads WHERE service = ? AND status IN ('first', 'consistent')"
            " ORDER BY tree_size",
            (service,),
        )
        return [(int(size), root) for size, root in rows]

    def store_head(self, service: str, seq: int, sth: dict[str, Any], status: str) -> None:
        head = sth["tree_head"]
        chain = head.get("chain_head") or {}
        self.execute(
            "INSERT INTO tree_heads (service, stream_seq, tree_size, root, chain_position, chain_hash, key_id, signed_at,"
            " signature, public_key, status) VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (service, stream_seq) DO NOTHING",
            (service, seq, head["tree_size"], head["root"], chain.get("position"), chain.get("hash"), head.get("key_id", ""),
             head.get("timestamp", ""), sth["signature"], sth["public_key"], status),
        )

    def store_alarm(self, service: str, seq: int, kind: str, detail: str) -> None:
        self.execute(
            "INSERT INTO alarms (service, stream_seq, kind, detail) VALUES (?,?,?,?) ON CONFLICT (service, stream_seq, kind) DO NOTHING",
            (service, seq, kind, detail),
        )

    def alarms(self) -> list[dict[str, Any]]:
        return [
            {"service": s, "stream_seq": int(q), "kind": k, "detail": d}
            for s, q, k, d in self.query("SELECT service, stream_seq, kind, detail FROM alarms ORDER BY stream_seq")
        ]
