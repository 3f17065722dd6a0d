"""Persons served (服务人数) beside person-times (人次): distinct beneficiaries per contract and period.

One person served five times is 5 人次 and 1 person. Persons are the pseudonymous beneficiary
refs a delivery cites (R-LOG-5); attendees a delivery counts only as person-times (a community
activity's 50 人次 without refs) are not persons.

The count is kept apart from the contract's service log (``ContractLog``), in one small aggregate
per contract and period — the contract year (``year``), each month (``YYYY-MM``) and each calendar
quarter (``YYYY-Qn``) — changed by the same commands that change the log, in the same transaction,
with deltas that follow corrections and voidings (R-LOG-6). Reading a count loads one such
aggregate (snapshotted like the log), so it costs the same whatever the number of deliveries:
its state grows with the distinct persons of its period, never with the deliveries.

State, per key ("" for the whole contract, else an indicator code):

- ``dates[key][ref][day]``: deliveries dated ``day`` that cite ``ref`` (only positive counts kept);
- ``firsts[key][day]``: how many persons were first served on ``day``, so that the persons
  served up to any day is a sum over at most the period's days.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from eventsourcing.domain import Aggregate, event

from services_log.domainmodel.copying import CopyOnWrite
from services_log.domainmodel.delivery import DeliveryFacts
from services_log.domainmodel.registry_view import NS, Contract

YEAR = "year"


def quarter_of(day: date) -> str:
    """The calendar quarter ``YYYY-Qn`` of a day (Q1 = January to March)."""
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def served_changes(facts: DeliveryFacts, contract: Contract, sign: int = 1) -> dict[str, list[dict[str, Any]]]:
    """Per period, the changes one delivery makes to the persons served (``sign=-1`` takes them out)."""
    if not facts.beneficiary_refs:
        return {}
    keys = [""]
    if facts.indicator_code is not None and contract.indicator(facts.indicator_code) is not None:
        keys.append(facts.indicator_code)
    day = facts.date.isoformat()
    changes = [{"key": k, "ref": ref, "date": day, "delta": sign} for ref in sorted(set(facts.beneficiary_refs)) for k in keys]
    return {period: list(changes) for period in (YEAR, facts.month, quarter_of(facts.date))}


def merge_changes(into: dict[str, list[dict[str, Any]]], more: dict[str, list[dict[str, Any]]]) -> None:
    for period, changes in more.items():
        into.setdefault(period, []).extend(changes)


class ServedPersons(CopyOnWrite, Aggregate):
    """The distinct persons a contract served in one period (the year, a month or a quarter)."""

    @staticmethod
    def create_id(contract_id: str, period: str, **_: Any) -> uuid.UUID:
        return uuid.uuid5(NS, f"served-persons:{contract_id}:{period}")

    @event("Opened")
    def __init__(self, contract_id: str, period: str, county: str) -> None:
        self.contract_id = contract_id
        self.period = period
        self.county = county
        self.dates: dict[str, dict[str, dict[str, int]]] = {}
        self.firsts: dict[str, dict[str, int]] = {}

    @event("Counted")
    def count(self, changes: list[dict[str, Any]]) -> None:
        """Each change: key ("" or an indicator code), ref, date (ISO) and delta (+1 or -1).

        The state is never changed in place (:class:`CopyOnWrite`): the dicts a change touches are
        copied once per event, the others shared with the instance this one was copied from."""
        self.dates, self.firsts = dict(self.dates), dict(self.firsts)
        copied: set[tuple[str, ...]] = set()
        for change in changes:
            self._apply(change["key"], change["ref"], change["date"], change["delta"], copied)

    def _apply(self, key: str, ref: str, day: str, delta: int, copied: set[tuple[str, ...]]) -> None:
        if (key,) not in copied:
            copied.add((key,))
            self.dates[key] = dict(self.dates.get(key) or {})
        refs = self.dates[key]
        if (key, ref) not in copied:
            copied.add((key, ref))
            refs[ref] = dict(refs.get(ref) or {})
        days = refs[ref]
        before = min(days) if days else None
        days[day] = days.get(day, 0) + delta
        if days[day] <= 0:
            del days[day]
        after = min(days) if days else None
        if not days:
            del refs[ref]
        if before != after:
            if ("firsts", key, "") not in copied:
                copied.add(("firsts", key, ""))
                self.firsts[key] = dict(self.firsts.get(key) or {})
            firsts = self.firsts[key]
            if before is not None:
                firsts[before] -= 1
                if not firsts[before]:
                    del firsts[before]
            if after is not None:
                firsts[after] = firsts.get(after, 0) + 1

    def persons(self, key: str = "", up_to: date | None = None) -> int:
        """Distinct persons served (for ``key``: an indicator), by deliveries dated up to ``up_to``."""
        if up_to is None:
            return len(self.dates.get(key, {}))
        last = up_to.isoformat()
        return sum(n for day, n in self.firsts.get(key, {}).items() if day <= last)
