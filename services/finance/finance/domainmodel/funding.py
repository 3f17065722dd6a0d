"""A county's budgets per year and funding source (R-FIN-2), and what contracts committed of them.

A budget line is the amount allocated for purchasing services from one funding source (社会救助
专项经费, 福彩公益金, 一般公共预算 …) in one year. It is also the *base* of the county's caps: the
cap rule itself is county policy in registry (``funding_caps``: a percentage of a source's budget of
the same or the previous year, either a *ceiling* — purchases ≤ 2% or ≤ 3% of it — or a *floor* —
purchases ≥ 3% of it). Finance never states a cap of its own: it reads the caps from the policy
snapshot each contract was signed under (``ContractSigned.policy.funding_caps``).

A contract commits its funding shares to the budget year(s) of its service period, split pro
rata by days (:func:`shared.funding.split_by_year`), as registry counts them at signing.
Committing more than the allocation, or more than a policy ceiling, breaks R-FIN-2; a floor is met
or not by the county's purchases as a whole, so it is reported on the budget line, not held
against one contract. Registry refuses a contract over a ceiling at signing, so finance finds a
breach only where registry could not judge it: a budget entered after the contract was signed
(re-checked on entry) or not yet known to registry.

Budget events recorded before caps became policy only (``BudgetAllocated`` v1) carried a per-line
``cap`` (kind, percent, base, limit); they still load — :meth:`CountyBudget.BudgetAllocated.upcast_v1_v2`
drops those fields — and that legacy cap is ignored: it is neither checked nor shown.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from eventsourcing.domain import Aggregate, event

from finance.domainmodel.tranches import NS, yuan
from shared.funding import cap_base_year, cap_limit_fen
from shared.rules import RuleViolation

CEILING, FLOOR = "ceiling", "floor"


def budget_id(county: str, year: int) -> uuid.UUID:
    return uuid.uuid5(NS, f"budget:{county}:{year}")


# What a v1 ``BudgetAllocated`` carried of the per-line cap finance no longer keeps (see module doc).
LEGACY_CAP_FIELDS = ("cap_kind", "cap_basis_points", "cap_base_fen", "cap_limit_fen")


class _CommitmentLog:
    """The commitments (or releases) of a budget line and its later versions, appended in place:
    the versions of a line share one log, each seeing its first ``length`` entries (see
    :class:`BudgetLine`). An entry starts with its contract id."""

    __slots__ = ("entries", "guard", "places")

    def __init__(self, entries: list[tuple[Any, ...]]) -> None:
        self.entries = entries
        self.places = {e[0]: i for i, e in enumerate(entries)}  # each contract's place
        self.guard = threading.Lock()


def _appended(log: _CommitmentLog, length: int, entry: tuple[Any, ...]) -> _CommitmentLog:
    """The log a version seeing ``length`` entries has with ``entry`` after them: the same log when
    that version is its latest (appended in place, O(1)) or the entry already follows it there (a
    cached budget fast-forwarded over what a reaction's copy saved); else a copy going its own way."""
    with log.guard:
        if len(log.entries) == length:
            log.entries.append(entry)
            log.places.setdefault(entry[0], length)
            return log
        if log.entries[length] == entry:
            return log
    return _CommitmentLog([*log.entries[:length], entry])


class BudgetLine:
    """One funding source's budget for the year and the contracts committed to it, in the order
    they committed (that order is how a later budget re-checks them, R-FIN-2). A value: never
    changed once made; equal lines have the same source, allocation, commitments and releases.

    A county's budget holds one commitment per contract, and each signing makes a new version of
    its line — in the reaction, and again when a cached budget is fast-forwarded over a batch's
    events —, so copying the commitments for each new version made a burst of 10,000 signings
    quadratic (BENCHMARKS.md, finance's lag). The versions of a line therefore share an append-only
    log: a line is the log's first ``length`` entries, and committing a new contract to the line
    that is the log's latest version appends in place (O(1)), as does an older version committing
    the very commitment that follows it in the log (the cached budget catching up with what a
    reaction's copy saved); committing anything else to an older version, or again for a contract
    already committed, copies its entries first. The sum and each contract's place are carried likewise.

    A terminated contract's unpaid part is *released* (R-FIN-2): the commitment stays in the log as
    made, and a release — (contract_id, fen, terminated_on, reason), at most one per contract —
    is appended to a second log shared the same way. ``committed_fen`` is what stays committed:
    the commitments less the releases (``released_fen``); each is carried, never summed again."""

    __slots__ = ("_length", "_log", "_rlength", "_rlog", "allocated", "amount_fen", "committed_fen", "released_fen", "source")

    def __init__(
        self, source: str, allocated: bool = False, amount_fen: int = 0, commitments: Iterable[tuple[str, int]] = (),
        releases: Iterable[tuple[str, int, Any, str]] = (),
    ) -> None:
        entries = [(str(c), int(fen)) for c, fen in commitments]
        released = [(str(c), int(fen), on, str(why)) for c, fen, on, why in releases]
        gone = sum(r[1] for r in released)
        self._init(source, allocated, amount_fen, _CommitmentLog(entries), len(entries),
                   sum(fen for _, fen in entries) - gone, _CommitmentLog(released), len(released), gone)

    def _init(self, source: str, allocated: bool, amount_fen: int, log: _CommitmentLog, length: int, total: int,
              rlog: _CommitmentLog, rlength: int, released: int) -> None:
        set_ = object.__setattr__
        set_(self, "source", source)
        set_(self, "allocated", allocated)
        set_(self, "amount_fen", amount_fen)
        set_(self, "_log", log)
        set_(self, "_length", length)
        set_(self, "committed_fen", total)
        set_(self, "_rlog", rlog)
        set_(self, "_rlength", rlength)
        set_(self, "released_fen", released)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"a BudgetLine is a value: {name} cannot be changed")

    def _with(self, *, allocated: bool | None = None, amount_fen: int | None = None, log: _CommitmentLog | None = None,
              length: int | None = None, total: int | None = None, rlog: _CommitmentLog | None = None,
              rlength: int | None = None, released: int | None = None) -> BudgetLine:
        line = object.__new__(BudgetLine)
        line._init(
            self.source,
            self.allocated if allocated is None else allocated,
            self.amount_fen if amount_fen is None else amount_fen,
            self._log if log is None else log,
            self._length if length is None else length,
            self.committed_fen if total is None else total,
            self._rlog if rlog is None else rlog,
            self._rlength if rlength is None else rlength,
            self.released_fen if released is None else released,
        )
        return line

    @property
    def commitments(self) -> tuple[tuple[str, int], ...]:
        """(contract_id, fen) in the order committed, as committed (a copy: O(contracts))."""
        return tuple(self._log.entries[: self._length])

    @property
    def releases(self) -> tuple[tuple[str, int, Any, str], ...]:
        """(contract_id, fen, terminated_on, reason) in the order released (a copy: O(releases))."""
        return tuple(self._rlog.entries[: self._rlength])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BudgetLine):
            return NotImplemented
        return (
            (self.source, self.allocated, self.amount_fen, self.committed_fen, self._length, self._rlength)
            == (other.source, other.allocated, other.amount_fen, other.committed_fen, other._length, other._rlength)
            and (self._log is other._log or self.commitments == other.commitments)
            and (self._rlog is other._rlog or self.releases == other.releases)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (f"BudgetLine(source={self.source!r}, allocated={self.allocated!r}, amount_fen={self.amount_fen!r}, "
                f"commitments={self.commitments!r}, releases={self.releases!r})")

    def __copy__(self) -> BudgetLine:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> BudgetLine:
        return self  # a value: its versions share the log, each seeing only its own entries

    def has(self, contract_id: str) -> bool:
        place = self._log.places.get(contract_id)
        return place is not None and place < self._length

    def commitment_of(self, contract_id: str) -> int:
        """The contract's commitment as made (0 if none): O(1)."""
        return self._log.entries[self._log.places[contract_id]][1] if self.has(contract_id) else 0

    def released(self, contract_id: str) -> bool:
        """Whether the contract's unpaid part was released already (O(1))."""
        place = self._rlog.places.get(contract_id)
        return place is not None and place < self._rlength

    def allocating(self, amount_fen: int) -> BudgetLine:
        """This line allocated ``amount_fen`` (the same commitments)."""
        return self._with(allocated=True, amount_fen=amount_fen)

    def committing(self, contract_id: str, amount_fen: int) -> BudgetLine:
        """This line with the contract's commitment: appended, or (committed before) its amount
        replaced in the same place. This line itself is not changed."""
        log, length = self._log, self._length
        if not self.has(contract_id):
            return self._with(log=_appended(log, length, (contract_id, amount_fen)), length=length + 1,
                              total=self.committed_fen + amount_fen)
        entries = log.entries[:length]
        place = log.places[contract_id]
        total = self.committed_fen - entries[place][1] + amount_fen
        entries[place] = (contract_id, amount_fen)
        return self._with(log=_CommitmentLog(entries), total=total)

    def releasing(self, contract_id: str, amount_fen: int, terminated_on: Any, reason: str) -> BudgetLine:
        """This line with ``amount_fen`` of the contract's commitment released (O(1)); the same line
        if the contract is not committed to it or was released already (once per contract)."""
        if amount_fen <= 0 or not self.has(contract_id) or self.released(contract_id):
            return self
        entry = (contract_id, amount_fen, terminated_on, reason)
        return self._with(rlog=_appended(self._rlog, self._rlength, entry), rlength=self._rlength + 1,
                          total=self.committed_fen - amount_fen, released=self.released_fen + amount_fen)

    @property
    def latest_contract(self) -> str | None:
        return self._log.entries[self._length - 1][0] if self._length else None


class CountyBudget(Aggregate):
    """The budget lines of one county and year (年度预算), one per funding source."""

    @staticmethod
    def create_id(county: str, year: int) -> uuid.UUID:
        return budget_id(county, year)

    @event("Opened")
    def __init__(self, county: str, year: int) -> None:
        self.county = county
        self.year = year
        self.lines: dict[str, BudgetLine] = {}

    def __deepcopy__(self, memo: dict[int, Any]) -> CountyBudget:
        """A county's budget holds one commitment per contract: each load from the aggregate cache
        copies it. Its lines are immutable values (``BudgetLine``), so the copy shares them: a
        new dict of the same lines, not the generic walk that made each signing cost more the more
        contracts were signed."""
        clone = object.__new__(type(self))
        for name, value in self.__dict__.items():
            clone.__dict__[name] = copy.deepcopy(value, memo) if name != "lines" else dict(value)
        return clone

    def line(self, source: str) -> BudgetLine:
        return self.lines.get(source) or BudgetLine(source=source)

    def committed_fen(self, source: str) -> int:
        return self.line(source).committed_fen

    def allocate(self, source: str, amount_fen: int) -> None:
        """Allocate (or re-allocate) a source's budget (R-FIN-2: also the base of the policy caps on it)."""
        if amount_fen < 0:
            raise RuleViolation("a budget cannot be negative", rule="R-FIN-1", field="amount_fen", facts={"code": "budget_negative"})
        current = self.line(source)
        if current.allocated and current.amount_fen == amount_fen:
            return
        self._allocated(county=self.county, year=self.year, source=source, amount_fen=amount_fen)

    def commit(self, contract_id: str, source: str, amount_fen: int) -> list[tuple[str, int, int]]:
        """A signed contract's funding share; returns the R-FIN-2 breaches it causes as
        (detail, committed, limit)."""
        if self.line(source).has(contract_id):
            return []
        self._committed(contract_id=contract_id, source=source, amount_fen=amount_fen)
        return self.breaches(source)

    def release(self, contract_id: str, source: str, amount_fen: int, terminated_on: date, reason: str) -> int:
        """A terminated contract's unpaid part of its commitment to ``source`` no longer counts
        against the budget (R-FIN-2): recorded as ``CommitmentReleased`` — the commitment itself is
        never edited. At most once per contract and line, never more than it committed there, nothing
        for a contract not committed to the line. Returns the fen released."""
        line = self.line(source)
        amount_fen = min(amount_fen, line.commitment_of(contract_id))
        if amount_fen <= 0 or line.released(contract_id):
            return 0
        self._released(contract_id=contract_id, source=source, amount_fen=amount_fen,
                       terminated_on=terminated_on, reason=reason, county=self.county, year=self.year)
        return amount_fen

    def breaches(self, source: str) -> list[tuple[str, int, int]]:
        """The allocation itself exceeded (the policy ceilings are :func:`policy_cap_breaches`)."""
        line = self.line(source)
        if not line.allocated:
            return []  # no budget for this source and year: nothing to judge against
        committed = self.committed_fen(source)
        if committed > line.amount_fen:
            return [(f"contracts funded from {source} in {self.year} commit {yuan(committed)}, "
                     f"more than its budget of {yuan(line.amount_fen)}", committed, line.amount_fen)]
        return []

    def status(self, source: str, caps: list[dict[str, Any]], base_of: Callable[[int, str], int | None]) -> str:
        """``within``, ``exceeded`` (the allocation or a policy ceiling), ``below_floor`` (a policy
        floor not reached) or ``unallocated``. ``caps``: the county policy's ``funding_caps`` (a
        contract's snapshot); ``base_of(year, source)`` an allocated amount or None."""
        line = self.line(source)
        if not line.allocated:
            return "unallocated"
        committed = self.committed_fen(source)
        if self.breaches(source) or policy_cap_breaches(caps, self.year, source, committed, base_of):
            return "exceeded"
        floors = [c for c in policy_caps_on(caps, self.year, source, base_of) if c["bound"] == FLOOR]
        if any(c["limit_fen"] is not None and committed < c["limit_fen"] for c in floors):
            return "below_floor"
        return "within"

    class BudgetAllocated(Aggregate.Event):
        """A source's budget for the year. v2: the amount only; v1 also carried a per-line cap."""

        class_version = 2
        county: str
        year: int
        source: str
        amount_fen: int

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """A v1 event (with a per-line cap) still loads; its legacy cap is dropped, not applied."""
            for name in LEGACY_CAP_FIELDS:
                state.pop(name, None)

    @event(BudgetAllocated)
    def _allocated(self, county: str, year: int, source: str, amount_fen: int) -> None:
        self.lines = {**self.lines, source: self.line(source).allocating(amount_fen)}

    @event("FundsCommitted")
    def _committed(self, contract_id: str, source: str, amount_fen: int) -> None:
        # As a mapping would: a contract committed again keeps its place with the new amount.
        self.lines = {**self.lines, source: self.line(source).committing(contract_id, amount_fen)}


    class CommitmentReleased(Aggregate.Event):
        """A terminated contract's unpaid tranches released from the line it committed them to."""

        contract_id: str
        source: str
        amount_fen: int
        terminated_on: date
        reason: str
        county: str
        year: int

    @event(CommitmentReleased)
    def _released(self, contract_id: str, source: str, amount_fen: int, terminated_on: date, reason: str,
                  county: str, year: int) -> None:
        self.lines = {**self.lines, source: self.line(source).releasing(contract_id, amount_fen, terminated_on, reason)}


def policy_cap_breaches(
    caps: list[dict[str, Any]], year: int, source: str, committed_fen: int, base_of: Callable[[int, str], int | None]
) -> list[tuple[str, int, int]]:
    """R-FIN-2 by the county policy's ``funding_caps``: (detail, committed, limit) for each ceiling on
    ``source`` that ``committed_fen`` (the county's commitments of ``year``) exceeds. ``base_of(year,
    source)``: an allocated budget amount, or None while none is entered (nothing to judge yet)."""
    found = []
    for cap in caps:
        if cap.get("source") != source or cap.get("bound") != CEILING:
            continue
        base_source, base_year = cap.get("base", source), cap_base_year(cap, year)
        base = base_of(base_year, base_source)
        if base is None:
            continue
        limit = cap_limit_fen(cap, base)
        if committed_fen > limit:
            found.append((
                f"contracts funded from {source} count {yuan(committed_fen)} against {year}, above the county policy's "
                f"ceiling of {cap['percent']}% of the {base_year} {base_source} budget of {yuan(base)} = {yuan(limit)} "
                f"(excess {yuan(committed_fen - limit)})", committed_fen, limit,
            ))
    return found


def policy_caps_on(
    caps: list[dict[str, Any]], year: int, source: str, base_of: Callable[[int, str], int | None]
) -> list[dict[str, Any]]:
    """The county policy's caps on ``source`` for commitments of ``year``, each with its base budget
    (``base_fen``, None while it is not entered) and its limit in fen (``limit_fen``, None likewise)."""
    found = []
    for cap in caps:
        if cap.get("source") != source or cap.get("bound") not in (CEILING, FLOOR):
            continue
        base_source, base_year = cap.get("base", source), cap_base_year(cap, year)
        base = base_of(base_year, base_source)
        found.append({
            "bound": cap["bound"], "percent": str(cap["percent"]), "base": base_source, "base_year": base_year,
            "base_fen": base, "limit_fen": None if base is None else cap_limit_fen(cap, base),
        })
    return found
