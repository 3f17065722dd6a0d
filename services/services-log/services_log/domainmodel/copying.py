"""Aggregates whose state is never changed in place, so a copy for a command is cheap.

The library's repository deep-copies a cached aggregate for every command, so that a command
refused half-way leaves the cache as stored. Deep-copying costs what the state weighs, on every
load. The hot aggregates of this service instead follow one rule: **an event handler assigns new
values and never changes a value it did not create** (no ``append``, ``update``, ``+=`` on a dict
or list held in state; a frozen value such as the ledger's ``Tally`` is replaced by a new one whose
``plus`` copies only the buckets it changes).
Then a copy that shares every value with the cached instance is as safe as a deep copy, and
costs one ``dict`` of attributes whatever the history: a command changes its copy's attributes,
never the shared values; the cache's own instance is fast-forwarded the same way.
"""

from __future__ import annotations

from typing import Any


class CopyOnWrite:
    """Mixin for aggregates whose event handlers never change a value in place (see module doc)."""

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        clone = object.__new__(type(self))
        state = dict(self.__dict__)
        state["_pending_events"] = list(state.get("_pending_events", ()))
        object.__setattr__(clone, "__dict__", state)
        return clone

