"""Registry aggregates. Pure domain: standard library, eventsourcing.domain, shared.rules and
shared.workdays. Rule ids are from DOMAIN.md; every refusal names the offending field.

- ``policy``: counties (县/区) and their versioned policy parameters;
- ``provider``: providers (承接主体), their eligibility, bans and public disclosures;
- ``workforce``: stations (社工站 …) and social workers (社工) with their certificate deadlines;
- ``contract``: the service contract (服务协议) and its lifecycle;
- ``signing``: what a contract must satisfy to be signed, and what a renewal starts from.
"""

from registry.domainmodel.contract import BANNING_KINDS, TERMINATION_KINDS, YEAR_END_STAGES, Contract
from registry.domainmodel.funding import (
    CountyBudgets,
    FundingLedger,
    check_funding_caps,
    check_funding_sources,
    funding_by_year,
)
from registry.domainmodel.policy import (
    DEFAULT_POLICY,
    EDUCATION_LEVELS,
    FUNDING_SOURCES,
    NS,
    PARAMETERS,
    QUALIFICATIONS,
    TRIGGERS,
    County,
    county_id,
    merged_policy,
)
from registry.domainmodel.provider import (
    DISCLOSURE_KINDS,
    GRADES,
    PASS_GRADES,
    RATINGS,
    Provider,
    check_prior_projects,
    check_uscc,
)
from registry.domainmodel.signing import (
    SERVICE_AREAS,
    check_contract_terms,
    check_cycle,
    check_eligibility,
    check_not_banned,
    check_staffing,
    check_supervisor,
    filing_due,
    renewal_terms,
)
from registry.domainmodel.workforce import (
    STATION_KINDS,
    WORKER_ROLES,
    Station,
    Worker,
    add_years,
    age_on,
    certificate_due,
    check_hiring,
    check_station_kind,
)

__all__ = [
    "BANNING_KINDS",
    "DEFAULT_POLICY",
    "DISCLOSURE_KINDS",
    "EDUCATION_LEVELS",
    "FUNDING_SOURCES",
    "GRADES",
    "NS",
    "PARAMETERS",
    "PASS_GRADES",
    "QUALIFICATIONS",
    "RATINGS",
    "SERVICE_AREAS",
    "STATION_KINDS",
    "TERMINATION_KINDS",
    "TRIGGERS",
    "WORKER_ROLES",
    "YEAR_END_STAGES",
    "Contract",
    "County",
    "CountyBudgets",
    "FundingLedger",
    "Provider",
    "Station",
    "Worker",
    "add_years",
    "age_on",
    "certificate_due",
    "check_contract_terms",
    "check_cycle",
    "check_eligibility",
    "check_funding_caps",
    "check_funding_sources",
    "check_hiring",
    "check_not_banned",
    "check_prior_projects",
    "check_staffing",
    "check_station_kind",
    "check_supervisor",
    "check_uscc",
    "county_id",
    "filing_due",
    "funding_by_year",
    "merged_policy",
    "renewal_terms",
]
