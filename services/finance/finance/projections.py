"""Finance's list projection (issue #16 item 2) and the ring-fenced accounts' expenses read through it.

The projection (:mod:`shared.infra.listing`, in finance's own store) lists, per county:

- ``schedules``: the contracts finance keeps a tranche schedule for, in the order they reached it;
- ``findings``: the contracts with a finding, in the order of their first (funding or expense);
- ``expenses``: every expense booked, in booking order, owned by its contract;
- ``flagged``: the expenses flagged (``ExpenseFlagged``, R-FIN-4/8), in the order of their first flag, owned by their contract.

An expense's row is keyed by the position of its ``ExpenseBooked`` in finance's log, and the expense
is read back from its events: that one, then the account's next few events — a booking's flags
are recorded with it, right after it, at most one per kind (:data:`FINDING_KINDS`). So one
expense costs three indexed reads (its key, its booking, its flags), a page of the list ``limit``
times that, whatever the number of expenses the contract has (issue 16). Items are named
``contract/expense`` so an expense id is looked up within its contract only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from eventsourcing.utils import get_topic

from finance.domainmodel import FINDING_KINDS, ContractAccount, Expense, TrancheSchedule, expense_of, schedule_id
from shared.infra.listing import ListIndex, index_for
from shared.infra.paging import Page, keyset_page

BATCH = 500  # rows read at once when a contract's flagged expenses are read whole


def _county(e: Any) -> str:
    return str((getattr(e, "meta", None) or {}).get("county", ""))


def item(contract_id: str, expense_id: str) -> str:
    return f"{contract_id}/{expense_id}"


SPEC = {
    get_topic(TrancheSchedule.Planned): lambda e: [("schedules", e.county, str(e.originator_id), e.provider_id or None)],
    # The contracts with findings, in the order of their first finding (funding or expense).
    get_topic(TrancheSchedule.FundingRuleBreached): lambda e: [("findings", _county(e), str(e.originator_id), None)],
    get_topic(ContractAccount.ExpenseFlagged): lambda e: [
        ("findings", _county(e), str(schedule_id(e.contract_id)), None),
        ("flagged", _county(e), item(e.contract_id, e.expense_id), e.contract_id),
    ],
    get_topic(ContractAccount.ExpenseBooked): lambda e: [
        ("expenses", _county(e), item(e.contract_id, e.expense_id), e.contract_id),
    ],
}


def index(store: Any) -> ListIndex:
    return index_for(store, SPEC)


def _expense_at(store: Any, key: int) -> Expense | None:
    """The expense whose ``ExpenseBooked`` is at position ``key`` of the log, with its findings."""
    found = store.process_recorder.select_notifications(key, 1, stop=key)
    if not found:
        return None
    booked = store.mapper.to_domain_event(found[0])
    following = store.process_recorder.select_events(
        found[0].originator_id, gt=found[0].originator_version, limit=len(FINDING_KINDS)
    )
    flagged = []
    for stored in following:
        event = store.mapper.to_domain_event(stored)
        if not isinstance(event, ContractAccount.ExpenseFlagged) or event.expense_id != booked.expense_id:
            break
        flagged.append(event)
    return expense_of(booked, flagged)


def expense(store: Any, county: str, contract_id: str, expense_id: str) -> Expense | None:
    """One expense of the contract, or None (not booked on it; not yet, at a pinned instant)."""
    key = index(store).key_of("expenses", county, item(contract_id, expense_id))
    return _expense_at(store, key) if key is not None else None


def expenses(store: Any, county: str, contract_id: str, limit: int, after: int | None) -> Page[Expense]:
    """A page of the contract's expenses in booking order (keyed by their position in the log)."""
    fetch = index(store).fetcher("expenses", county, owner=contract_id)

    def keys(after_key: int | None, n: int) -> list[tuple[int, str]]:
        return [(key, str(key)) for key, _ in fetch(after_key, n)]

    return keyset_page(keys, lambda key: _expense_at(store, int(key)), limit, after)


def flagged(store: Any, county: str, contract_id: str) -> Iterator[Expense]:
    """The contract's flagged expenses, in booking order: as many reads as there are flagged
    expenses (the findings they carry are the answer), none for the expenses without a finding."""
    fetch = index(store).fetcher("flagged", county, owner=contract_id)
    after: int | None = None
    while True:
        rows = fetch(after, BATCH)
        for _, name in rows:
            found = expense(store, county, contract_id, name[len(contract_id) + 1 :])
            if found is not None:
                yield found
        if len(rows) < BATCH:
            return
        after = rows[-1][0]
