"""Parsing an uploaded sheet at a bounded cost in time and in cores (issue 15).

The size limits of :mod:`services_log.sheets` bound what a file may hold, not how long reading it
takes: a 50 KB workbook whose shared-strings part inflates to 17 MB (within every byte limit)
keeps openpyxl busy for half a minute. So each upload is parsed in its own child process (from a
fork server that has the readers imported), at a lower CPU priority than the service, and the
child is killed once ``SWP_IMPORT_SECONDS`` have passed: the upload is then refused (422, rule
``import-time-limit``) and nothing of it was recorded — rows are recorded only once the whole
file has been read. At most ``SWP_IMPORT_CONCURRENCY`` uploads are parsed at once per process;
another one is refused at once (503, rule ``import-concurrency-limit``, with ``Retry-After``) rather
than queued, so uploads can never hold every worker thread or core of the service.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import threading
from multiprocessing.connection import Connection
from typing import Any

from services_log.sheets import ImportRow, UnreadableFile, parse_upload
from shared.rules import DomainError

TIME_RULE = "import-time-limit"
BUSY_RULE = "import-concurrency-limit"
_PRELOAD = ["services_log.sheets", "openpyxl"]


class ImportTooSlow(DomainError):
    """Reading the file took longer than the service allows for one upload."""

    title = "Upload takes too long to read"


class ImportBusy(DomainError):
    """As many uploads as the service parses at once are being parsed: come back shortly."""

    status = 503
    title = "Too many uploads being read"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, rule=BUSY_RULE, field="file")
        self.headers = {"Retry-After": str(retry_after)}


def _parse_in_child(sender: Connection, filename: str, content_type: str | None, data: bytes) -> None:
    """Runs in the child: the rows, or the refusal's text (a DomainError need not survive pickling)."""
    try:
        os.nice(10)  # the service's own requests come first on a busy machine
    except OSError:
        pass
    try:
        outcome: tuple[str, Any] = ("rows", parse_upload(filename, content_type, data))
    except UnreadableFile as exc:
        outcome = ("unreadable", exc.detail)
    sender.send(outcome)
    sender.close()


class UploadParser:
    """The per-process gate every import's parsing goes through."""

    def __init__(self, seconds: float, concurrency: int) -> None:
        self.seconds = seconds
        self.concurrency = concurrency
        self._slots = threading.BoundedSemaphore(concurrency)
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(_PRELOAD)

    def parse(self, filename: str, content_type: str | None, data: bytes) -> list[ImportRow]:
        if not self._slots.acquire(blocking=False):
            raise ImportBusy(
                f"{self.concurrency} uploads are being read already (SWP_IMPORT_CONCURRENCY): try again shortly",
                retry_after=max(1, math.ceil(self.seconds / 2)),
            )
        try:
            return self._parse(filename, content_type, data)
        finally:
            self._slots.release()

    def _parse(self, filename: str, content_type: str | None, data: bytes) -> list[ImportRow]:
        receiver, sender = self._context.Pipe(duplex=False)
        child = self._context.Process(
            target=_parse_in_child, args=(sender, filename, content_type, data), daemon=True, name="swp-import-parse"
        )
        try:
            child.start()
            sender.close()
            if not receiver.poll(self.seconds):
                raise ImportTooSlow(
                    f"the file could not be read within {self.seconds:g} s (SWP_IMPORT_SECONDS): nothing was recorded; "
                    "split it or save it again as a plain sheet",
                    rule=TIME_RULE, field="file",
                )
            try:
                kind, value = receiver.recv()
            except EOFError as exc:  # the child died (e.g. out of memory) before answering
                raise UnreadableFile("not a readable CSV or XLSX file: reading it failed", field="file") from exc
        finally:
            if child.pid is not None:  # started
                if child.is_alive():
                    child.kill()
                child.join()
            sender.close()
            receiver.close()
        if kind == "unreadable":
            raise UnreadableFile(value, field="file")
        rows: list[ImportRow] = value
        return rows
