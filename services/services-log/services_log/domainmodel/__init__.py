"""services-log aggregates. Pure domain: standard library, eventsourcing.domain and shared.rules.

- ``registry_view``: registry's facts this service needs, kept as its own read model
  (contracts, workers and their employment periods, station rosters, county policies);
- ``delivery``: what a station records — a service delivery (服务记录) and the rules it must meet;
- ``ledger``: per contract, its service log (服务台账: a typed ``Tally`` of totals, indicator
  progress, ``Report``s, ``ScopeComplaint``s) and the pages of its deliveries' index; per worker, the timesheet (工时) that caps a day's hours;
- ``beneficiary``: service recipients (服务对象) known only by a pseudonymous reference.
"""

from services_log.domainmodel.beneficiary import Beneficiary
from services_log.domainmodel.delivery import (
    CONFIDENTIAL_KINDS,
    KINDS,
    SERVICE_AREAS,
    DeliveryChange,
    DeliveryFacts,
    DeliveryStatus,
    ServiceDelivery,
    canonical_area,
    canonical_kind,
    delivery_problems,
)
from services_log.domainmodel.ledger import (
    PAGE_SIZE,
    REPORT_KINDS,
    ContractLog,
    Counted,
    Counting,
    DayCounts,
    DeliveryIndexPage,
    HoursAgainstCaps,
    IndicatorProgress,
    MonthCounts,
    PlanBasis,
    Report,
    ReportKind,
    ScopeComplaint,
    Tally,
    Timesheet,
    WorkerAgainstCap,
    WorkerHours,
    contribution,
    hours_against_caps,
    indicator_progress,
    totals_between,
)
from services_log.domainmodel.registry_view import (
    DEFAULT_POLICY,
    Contract,
    ContractStatus,
    CountyPolicy,
    Employment,
    Indicator,
    ScopeChange,
    StationRoster,
    Worker,
)

__all__ = [
    "CONFIDENTIAL_KINDS",
    "DEFAULT_POLICY",
    "KINDS",
    "PAGE_SIZE",
    "REPORT_KINDS",
    "SERVICE_AREAS",
    "Beneficiary",
    "Contract",
    "ContractLog",
    "ContractStatus",
    "Counted",
    "Counting",
    "CountyPolicy",
    "DayCounts",
    "DeliveryChange",
    "DeliveryFacts",
    "DeliveryIndexPage",
    "DeliveryStatus",
    "Employment",
    "HoursAgainstCaps",
    "Indicator",
    "IndicatorProgress",
    "MonthCounts",
    "PlanBasis",
    "Report",
    "ReportKind",
    "ScopeChange",
    "ScopeComplaint",
    "ServiceDelivery",
    "StationRoster",
    "Tally",
    "Timesheet",
    "Worker",
    "WorkerAgainstCap",
    "WorkerHours",
    "canonical_area",
    "canonical_kind",
    "contribution",
    "delivery_problems",
    "hours_against_caps",
    "indicator_progress",
    "totals_between",
]
