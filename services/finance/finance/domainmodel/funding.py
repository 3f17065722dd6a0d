"""A county's budgets per year and funding source (R-FIN-2), and what contracts committed of them.

A budget line is the amount allocated for purchasing services from one funding source (社会救助
专项经费, 福彩公益金, 一般公共预算 …) in one year, with the county's cap rule when it has one:
a percentage of a base amount (e.g. that year's total social-assistance funds), either a
*ceiling* (purchases ≤ 2% or ≤ 3% of it) or a *floor* (purchases ≥ 3% of it).

A contract commits its funding shares to the budget year(s) of its service period, split pro
rata by days (:func:`shared.funding.split_by_year`), as registry counts them at signing.
Committing more than the allocation, or more than a ceiling, breaks R-FIN-2; a floor is met or
not by the county's purchases as a whole, so it is reported on the budget, not held against one
contract. The ceilings are the county policy's ``funding_caps`` the contract was signed under
(its ``ContractSigned.policy``), whose base is a budget entered here; registry refuses a contract
over one at signing, so finance finds a breach only where registry could not judge it: a budget
entered after the contract was signed (re-checked on entry) or not yet known to registry. A
line's own ``cap`` (entered with the budget) is the older way to state a ceiling and still holds.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from eventsourcing.domain import Aggregate, event

from finance.domainmodel.tranches import NS, yuan
from shared.funding import cap_base_year, cap_limit_fen
from shared.rules import RuleViolation

CEILING, FLOOR = "ceiling", "floor"


def budget_id(county: str, year: int) -> uuid.UUID:
    return uuid.uuid5(NS, f"budget:{county}:{year}")


def cap_amount(kind: str, basis_points: int, base_fen: int) -> int:
    """The cap in integer fen (R-FIN-1): a ceiling rounds down, a floor rounds up."""
    exact = base_fen * basis_points
    return exact // 10_000 if kind == CEILING else -(-exact // 10_000)


def percent_text(basis_points: int) -> str:
    whole, frac = divmod(basis_points, 100)
    return f"{whole}%" if not frac else f"{whole}.{frac:02d}".rstrip("0") + "%"


class CountyBudget(Aggregate):
    """The budget lines of one county and year (年度预算), one per funding source."""

    @staticmethod
    def create_id(county: str, year: int) -> uuid.UUID:
        return budget_id(county, year)

    @event("Opened")
    def __init__(self, county: str, year: int) -> None:
        self.county = county
        self.year = year
        self.lines: dict[str, dict[str, Any]] = {}

    def line(self, source: str) -> dict[str, Any]:
        return self.lines.get(source) or {
            "source": source, "allocated": False, "amount_fen": 0, "cap_kind": None,
            "cap_basis_points": None, "cap_base_fen": None, "cap_limit_fen": None, "commitments": {},
        }

    def committed_fen(self, source: str) -> int:
        return sum(self.line(source)["commitments"].values())

    def allocate(
        self, source: str, amount_fen: int, cap_kind: str | None, cap_basis_points: int | None, cap_base_fen: int | None
    ) -> None:
        """Allocate (or re-allocate) a source's budget with its cap rule (R-FIN-2)."""
        if amount_fen < 0:
            raise RuleViolation("a budget cannot be negative", rule="R-FIN-1", field="amount_fen")
        limit = None
        if cap_kind is not None:
            if cap_kind not in (CEILING, FLOOR):
                raise RuleViolation("cap.kind must be 'ceiling' or 'floor'", rule="R-FIN-2", field="cap.kind")
            if cap_basis_points is None or not 0 < cap_basis_points <= 10_000:
                raise RuleViolation("cap.percent must be above 0 and at most 100", rule="R-FIN-2", field="cap.percent")
            if cap_base_fen is None or cap_base_fen < 0:
                raise RuleViolation("cap.base_fen must be given in fen, ≥ 0", rule="R-FIN-2", field="cap.base_fen")
            limit = cap_amount(cap_kind, cap_basis_points, cap_base_fen)
        elif cap_basis_points is not None or cap_base_fen is not None:
            raise RuleViolation("a cap needs its kind", rule="R-FIN-2", field="cap.kind")
        current = self.line(source)
        unchanged = current["allocated"] and (
            current["amount_fen"], current["cap_kind"], current["cap_basis_points"], current["cap_base_fen"]
        ) == (amount_fen, cap_kind, cap_basis_points, cap_base_fen)
        if unchanged:
            return
        self._allocated(
            county=self.county, year=self.year, source=source, amount_fen=amount_fen, cap_kind=cap_kind,
            cap_basis_points=cap_basis_points, cap_base_fen=cap_base_fen, cap_limit_fen=limit,
        )

    def commit(self, contract_id: str, source: str, amount_fen: int) -> list[tuple[str, int, int]]:
        """A signed contract's funding share; returns the R-FIN-2 breaches it causes as
        (detail, committed, limit)."""
        if contract_id in self.line(source)["commitments"]:
            return []
        self._committed(contract_id=contract_id, source=source, amount_fen=amount_fen)
        return self.breaches(source)

    def breaches(self, source: str) -> list[tuple[str, int, int]]:
        line = self.line(source)
        if not line["allocated"]:
            return []  # no budget for this source and year: nothing to judge against
        committed = self.committed_fen(source)
        found = []
        if committed > line["amount_fen"]:
            found.append(
                (f"contracts funded from {source} in {self.year} commit {yuan(committed)}, "
                 f"more than its budget of {yuan(line['amount_fen'])}", committed, line["amount_fen"])
            )
        if line["cap_kind"] == CEILING and committed > line["cap_limit_fen"]:
            found.append(
                (f"contracts funded from {source} in {self.year} commit {yuan(committed)}, above the county's "
                 f"ceiling of {percent_text(line['cap_basis_points'])} of {yuan(line['cap_base_fen'])} "
                 f"= {yuan(line['cap_limit_fen'])}", committed, line["cap_limit_fen"])
            )
        return found

    def status(self, source: str) -> str:
        """``within``, ``exceeded`` (allocation or ceiling), ``below_floor`` or ``unallocated``."""
        line = self.line(source)
        if not line["allocated"]:
            return "unallocated"
        if self.breaches(source):
            return "exceeded"
        if line["cap_kind"] == FLOOR and self.committed_fen(source) < line["cap_limit_fen"]:
            return "below_floor"
        return "within"

    @event("BudgetAllocated")
    def _allocated(
        self, county: str, year: int, source: str, amount_fen: int, cap_kind: str | None,
        cap_basis_points: int | None, cap_base_fen: int | None, cap_limit_fen: int | None,
    ) -> None:
        line = self.line(source)
        line.update(
            allocated=True, amount_fen=amount_fen, cap_kind=cap_kind, cap_basis_points=cap_basis_points,
            cap_base_fen=cap_base_fen, cap_limit_fen=cap_limit_fen,
        )
        self.lines[source] = line

    @event("FundsCommitted")
    def _committed(self, contract_id: str, source: str, amount_fen: int) -> None:
        line = self.line(source)
        line["commitments"][contract_id] = amount_fen
        self.lines[source] = line


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
