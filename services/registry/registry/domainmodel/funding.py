"""Funding caps at signing (R-FIN-2): where each number lives, and the check.

- The cap **rule** is county policy (``funding_caps``: source, ceiling/floor, percent, the base
  source, the base year), versioned with the rest of the policy and kept by each contract.
- The cap's **base** is a budget amount — a source's budget for a year — entered in finance
  (``POST /finance/v1/counties/{county}/budgets``) and published as ``BudgetAllocated``; the
  registry keeps its own copy (:class:`CountyBudgets`), fed by that event, never by a call.
- What the county already **committed** of a source in a budget year is registry's own
  :class:`FundingLedger`, written in the same transaction as each contract it signs.

A contract's share of a source counts against the budget year(s) of its service period, split
pro rata by days (:func:`shared.funding.split_by_year`). A ceiling refuses the contract that
would take a year's commitments past it; a floor is a county-wide minimum, reported by finance,
never a reason to refuse one contract. A cap whose base budget is not entered yet cannot be
judged at signing: finance re-checks every commitment when the budget arrives and records a
finding that blocks payment.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

from eventsourcing.domain import Aggregate, event

from registry.domainmodel.policy import FUNDING_SOURCES, NS, percent_label
from shared.funding import cap_base_year, cap_limit_fen, split_by_year, yuan_text
from shared.rules import RuleViolation


class CountyBudgets(Aggregate):
    """Registry's copy of a county's budgets per year and funding source, from finance's
    ``BudgetAllocated`` events: the bases of the county's caps."""

    @staticmethod
    def create_id(county: str) -> uuid.UUID:
        return uuid.uuid5(NS, f"budgets:{county}")

    @event("Opened")
    def __init__(self, county: str) -> None:
        self.county = county
        self.amounts: dict[str, int] = {}  # "year:source" → fen

    def amount(self, year: int, source: str) -> int | None:
        return self.amounts.get(f"{year}:{source}")

    def note(self, year: int, source: str, amount_fen: int) -> None:
        if self.amount(year, source) != amount_fen:
            self._noted(year=year, source=source, amount_fen=amount_fen)

    @event("BudgetNoted")
    def _noted(self, year: int, source: str, amount_fen: int) -> None:
        self.amounts[f"{year}:{source}"] = amount_fen


class FundingLedger(Aggregate):
    """What the county's signed contracts commit of each funding source in one budget year."""

    @staticmethod
    def create_id(county: str, year: int) -> uuid.UUID:
        return uuid.uuid5(NS, f"funding-ledger:{county}:{year}")

    @event("Opened")
    def __init__(self, county: str, year: int) -> None:
        self.county = county
        self.year = year
        self.committed: dict[str, int] = {}  # source → fen

    def committed_fen(self, source: str) -> int:
        return self.committed.get(source, 0)

    @event("Committed")
    def commit(self, contract_id: str, shares: dict[str, int]) -> None:
        for source, fen in shares.items():
            self.committed[source] = self.committed.get(source, 0) + fen

    def release(self, contract_id: str, source: str, amount_fen: int, terminated_on: date) -> None:
        """Finance released a terminated contract's unpaid part of this year's ``source`` commitment
        (``CommitmentReleased``, R-FIN-2): it no longer counts against the caps. Once per contract and source."""
        released = getattr(self, "released", None) or {}  # a ledger recorded before releases has none
        if amount_fen <= 0 or f"{contract_id}:{source}" in released:
            return
        self._released(contract_id=contract_id, source=source, amount_fen=amount_fen, terminated_on=terminated_on)

    @event("Released")
    def _released(self, contract_id: str, source: str, amount_fen: int, terminated_on: date) -> None:
        released = dict(getattr(self, "released", None) or {})
        released[f"{contract_id}:{source}"] = amount_fen
        self.released = released
        self.committed[source] = self.committed.get(source, 0) - amount_fen


def funding_by_year(funding: list[dict[str, Any]], period_start: date, period_end: date) -> dict[int, dict[str, int]]:
    """Each source's share of the contract, per budget year of the service period (pro rata by days)."""
    per_source: dict[str, int] = {}
    for share in funding:
        per_source[share["source"]] = per_source.get(share["source"], 0) + int(share["amount_fen"])
    years: dict[int, dict[str, int]] = {}
    for source, fen in per_source.items():
        for year, part in split_by_year(fen, period_start, period_end).items():
            if part:
                years.setdefault(year, {})[source] = part
    return years


def check_funding_sources(policy: dict[str, Any], funding: list[dict[str, Any]]) -> None:
    """R-FIN-2: each share names one of the county's funding sources, spelt as configured."""
    sources = list(policy.get("funding_sources") or FUNDING_SOURCES)
    for i, share in enumerate(funding):
        if share["source"] not in sources:
            raise RuleViolation(
                f"funding source {share['source']!r} is not one of the county's funding sources (资金来源): {'、'.join(sources)}",
                rule="R-FIN-2",
                field=f"funding.{i}.source",
                facts={"code": "funding_source_unknown", "source": share["source"], "sources": sources},
            )


def check_funding_caps(
    policy: dict[str, Any],
    funding: list[dict[str, Any]],
    by_year: dict[int, dict[str, int]],
    base_of: Callable[[int, str], int | None],
    committed_of: Callable[[int, str], int],
) -> None:
    """R-FIN-2: no ceiling of the county's policy is exceeded in any budget year the contract
    counts against. ``base_of(year, source)``: the budget entered in finance, None if not yet;
    ``committed_of(year, source)``: what the county's contracts already committed."""
    for cap in policy.get("funding_caps") or []:
        if cap["bound"] != "ceiling":
            continue
        source, base_source = cap["source"], cap.get("base", cap["source"])
        for year in sorted(by_year):
            share = by_year[year].get(source, 0)
            if not share:
                continue
            base_year = cap_base_year(cap, year)
            base = base_of(base_year, base_source)
            if base is None:
                continue  # judged by finance once that budget is entered
            limit = cap_limit_fen(cap, base)
            committed = committed_of(year, source)
            if committed + share <= limit:
                continue
            excess = committed + share - limit
            index = next(i for i, f in enumerate(funding) if f["source"] == source)
            raise RuleViolation(
                f"{source} funding of this contract counted against {year} is {yuan_text(share)} "
                f"(pro rata by the days of its service period in {year}); with {yuan_text(committed)} already committed "
                f"by the county's contracts that is {yuan_text(committed + share)}, above the county's ceiling "
                f"(上限) of {percent_label(cap['percent'])} of the {base_year} {base_source} budget of {yuan_text(base)} = "
                f"{yuan_text(limit)}: {yuan_text(excess)} ({excess} fen) too much",
                rule="R-FIN-2",
                field=f"funding.{index}.amount_fen",
                facts={
                    "code": "funding_cap_exceeded", "source": source, "budget_year": year, "share_fen": share, "committed_fen": committed,
                    "cap": {"bound": "ceiling", "percent": str(cap["percent"]), "base": base_source,
                            "base_year": base_year, "base_fen": base, "limit_fen": limit},
                    "excess_fen": excess,
                },
            )
