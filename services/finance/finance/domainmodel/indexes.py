"""Which contracts and budgets a county has, and which counties finance knows: the lists that
county-wide views (overdue tranches, findings, budgets) and calendar recomputation walk.

Kept as events of finance's own log, so every list replays as of any instant (R-AUD-3). They are
projections of that log (``FinanceReactions.catch_up_indexes``): the reaction to a signing saves
only the contract's own schedule and the budget it commits to, and the indexes add what the log
recorded since they were last brought up to date — in one save, not in every reaction (issue 16:
reactions of several partitions would otherwise all race for the county's index).
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from eventsourcing.domain import Aggregate, event

from finance.domainmodel.tranches import NS

PROVINCE_INDEX_ID = uuid.uuid5(NS, "province-index")


class CountyIndex(Aggregate):
    """A county's contracts (in the order finance learned of them) and its budget years."""

    @staticmethod
    def create_id(county: str) -> uuid.UUID:
        return county_index_id(county)

    @event("Opened")
    def __init__(self, county: str) -> None:
        self.county = county
        self.contract_ids: list[str] = []
        self.budget_years: list[int] = []

    def __deepcopy__(self, memo: dict[int, Any]) -> CountyIndex:
        """Plain list copies (of str and int): cheap, however many contracts the county has."""
        clone = object.__new__(type(self))
        for name, value in self.__dict__.items():
            clone.__dict__[name] = list(value) if name in ("contract_ids", "budget_years") else copy.deepcopy(value, memo)
        return clone

    def add_contract(self, contract_id: str) -> None:
        if contract_id not in self.contract_ids:
            self._contract_added(contract_id=contract_id)

    def add_budget_year(self, year: int) -> None:
        if year not in self.budget_years:
            self._budget_year_added(year=year)

    @event("ContractAdded")
    def _contract_added(self, contract_id: str) -> None:
        self.contract_ids.append(contract_id)

    @event("BudgetYearAdded")
    def _budget_year_added(self, year: int) -> None:
        self.budget_years = sorted([*self.budget_years, year])


def county_index_id(county: str) -> uuid.UUID:
    return uuid.uuid5(NS, f"county-index:{county}")


class ProvinceIndex(Aggregate):
    """The counties whose contracts finance holds (a calendar load walks them all)."""

    @staticmethod
    def create_id() -> uuid.UUID:
        return PROVINCE_INDEX_ID

    @event("Opened")
    def __init__(self) -> None:
        self.counties: list[str] = []

    def add_county(self, county: str) -> None:
        if county not in self.counties:
            self._county_added(county=county)

    @event("CountyAdded")
    def _county_added(self, county: str) -> None:
        self.counties.append(county)
