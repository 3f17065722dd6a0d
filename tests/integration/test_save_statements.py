"""A save on PostgreSQL runs only the statements it needs (issue 16: server CPU per delivery POST
is mostly per SQL statement): the table lock, the insert and the public rows — no ``NOTIFY`` (no
process listens) and no ``SET LOCAL lock_timeout`` restating the sessions' default. Inserts stay
serialised by the table lock (test_services_log_concurrency, test_scale_out) and the stored bytes
are unchanged (test_published_bytes)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from services_log.application import ServicesLogApplication
from services_log.domainmodel import Timesheet

from shared.infra.service import prepare_store
from shared.infra.settings import Settings
from shared.infra.store import CommandContext

COUNTY = "640402"


@pytest.fixture
def app(settings: Settings) -> Iterator[ServicesLogApplication]:
    if settings.persistence != "postgres":
        pytest.skip("PostgreSQL's statements")
    prepare_store(settings, "services-log")
    application = ServicesLogApplication(settings.eventsourcing_env("services-log"))
    yield application
    application.close()


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    ran: list[str] = []
    for name in ("execute", "executemany"):
        inner = getattr(psycopg.Cursor, name)

        def counted(self: Any, query: Any, *args: Any, __inner: Any = inner, **kwargs: Any) -> Any:
            text = query if isinstance(query, (str, bytes)) else query.as_string(self)
            ran.append(text.decode() if isinstance(text, bytes) else text)
            return __inner(self, query, *args, **kwargs)

        monkeypatch.setattr(psycopg.Cursor, name, counted)
    return ran


def save_one(app: ServicesLogApplication, worker_id: str) -> None:
    with app.command(CommandContext(county=COUNTY, actor="tester")):
        app.save(Timesheet(worker_id=worker_id, county=COUNTY))


def test_a_save_takes_the_table_lock_without_notify_or_set_local(app, statements):
    save_one(app, "w-stmt-1")  # the first save also reads the sessions' lock_timeout once
    statements.clear()
    save_one(app, "w-stmt-2")
    # (no public rows: a bare application has no service's mapper)
    assert [s.split()[0] for s in statements] == ["LOCK", "INSERT"], statements
    assert "IN EXCLUSIVE MODE" in statements[0]
    assert app.recorder.select_events(Timesheet.create_id("w-stmt-2"))


def test_a_session_timeout_other_than_the_librarys_is_still_set_per_save(app, statements):
    app.recorder._lock_timeout_is_default = False  # as if the role or database set another default
    statements.clear()
    save_one(app, "w-stmt-3")
    assert [s.split()[0] for s in statements][:2] == ["SET", "LOCK"], statements
    assert "lock_timeout = '0s'" in statements[0]
