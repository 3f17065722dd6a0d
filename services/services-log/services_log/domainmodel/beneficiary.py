"""Service recipients (服务对象), known to the log only by a pseudonymous reference (R-LOG-5)."""

from __future__ import annotations

import uuid
from typing import Any

from eventsourcing.domain import Aggregate, event

from shared.rules import RuleViolation


class Beneficiary(Aggregate):
    """A person served. The aggregate id is the pseudonymous reference deliveries cite; the
    personal data (name, ID number, phone) is stored only encrypted with the person's own key,
    held outside the event log, so destroying the key erases it (crypto-shredding, R-AUD-2)."""

    @staticmethod
    def create_id(beneficiary_ref: str, **_: Any) -> uuid.UUID:
        return uuid.UUID(beneficiary_ref)

    class Registered(Aggregate.Created):
        # v2 names the provider that registered the person: only it (and the purchaser) reads the
        # person's data (R-LOG-5, R-AUD-6). Records of v1 have none (readable county-wide, as before).
        class_version = 2
        beneficiary_ref: str
        county: str
        sealed_personal_data: str
        provider_id: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["provider_id"] = None

    @event(Registered)
    def __init__(self, beneficiary_ref: str, county: str, sealed_personal_data: str, provider_id: str | None) -> None:
        self.county = county
        self.sealed_personal_data = sealed_personal_data
        self.provider_id = provider_id
        self.erased = False

    def erase(self, reason: str) -> None:
        if self.erased:
            raise RuleViolation("the personal data was already erased", rule="R-LOG-5", field="beneficiary_ref", facts={"code": "already_erased"})
        if not reason.strip():
            raise RuleViolation("an erasure gives its reason", rule="R-LOG-5", field="reason", facts={"code": "erasure_reason_missing"})
        self._erased(reason=reason)

    @event("PersonalDataErased")
    def _erased(self, reason: str) -> None:
        self.erased = True
