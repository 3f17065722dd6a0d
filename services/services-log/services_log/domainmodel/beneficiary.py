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

    @event("Registered")
    def __init__(self, beneficiary_ref: str, county: str, sealed_personal_data: str) -> None:
        self.county = county
        self.sealed_personal_data = sealed_personal_data
        self.erased = False

    def erase(self, reason: str) -> None:
        if self.erased:
            raise RuleViolation("the personal data was already erased", rule="R-LOG-5", field="beneficiary_ref")
        if not reason.strip():
            raise RuleViolation("an erasure gives its reason", rule="R-LOG-5", field="reason")
        self._erased(reason=reason)

    @event("PersonalDataErased")
    def _erased(self, reason: str) -> None:
        self.erased = True
