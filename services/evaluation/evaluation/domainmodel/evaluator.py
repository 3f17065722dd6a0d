"""Third-party evaluator organisations (第三方评估机构) and their accredited members (R-EVAL-7)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from eventsourcing.domain import Aggregate, event

from shared.rules import RuleViolation


@dataclass(frozen=True)
class Member:
    """An accredited member of an evaluator organisation and their evaluator credential (持证上岗)."""

    name: str
    credential_no: str
    valid_until: date


class EvaluatorOrg(Aggregate):
    """An evaluator organisation accredited in one county, the providers it is linked to
    (a conflict of interest), and its members, each with an evaluator credential (持证上岗)."""

    @event("Accredited")
    def __init__(
        self, county: str, name: str, certificate_no: str, accredited_until: date, linked_provider_ids: list[str]
    ) -> None:
        self.county = county
        self.name = name
        self.certificate_no = certificate_no
        self.accredited_until = accredited_until
        self.linked_provider_ids: tuple[str, ...] = tuple(linked_provider_ids)
        self.members: dict[str, Member] = {}  # member_id -> member, in the order accredited

    def is_accredited_on(self, day: date) -> bool:
        return day <= self.accredited_until

    def is_linked_to(self, provider_id: str) -> bool:
        return provider_id in self.linked_provider_ids

    def check_may_evaluate(self, provider_id: str, on: date, field: str = "evaluator_org") -> None:
        """R-EVAL-7: accredited on the day, and independent of the contract's provider."""
        if not self.is_accredited_on(on):
            raise RuleViolation(
                f"{self.name}'s accreditation ends {self.accredited_until}, before {on}", rule="R-EVAL-7", field=field,
                facts={"code": "evaluator_not_accredited", "name": self.name, "until": self.accredited_until.isoformat(), "date": on.isoformat()},
            )
        if self.is_linked_to(provider_id):
            raise RuleViolation(
                f"{self.name} is linked to the contract's provider: conflict of interest", rule="R-EVAL-7", field=field,
                facts={"code": "evaluator_linked", "name": self.name},
            )

    def declare_link(self, provider_id: str, relation: str) -> None:
        if not self.is_linked_to(provider_id):
            self._linked(provider_id=provider_id, relation=relation)

    @event("ProviderLinkDeclared")
    def _linked(self, provider_id: str, relation: str) -> None:
        self.linked_provider_ids = (*self.linked_provider_ids, provider_id)

    def accredit_member(self, member_id: str, name: str, credential_no: str, valid_until: date) -> None:
        if any(m.credential_no == credential_no for m in self.members.values()):
            raise RuleViolation(f"credential {credential_no} is already held by a member", rule="R-EVAL-7", field="credential_no", facts={"code": "credential_taken", "credential_no": credential_no})
        self._member_accredited(member_id=member_id, name=name, credential_no=credential_no, valid_until=valid_until)

    @event("MemberAccredited")
    def _member_accredited(self, member_id: str, name: str, credential_no: str, valid_until: date) -> None:
        self.members = {**self.members, member_id: Member(name, credential_no, valid_until)}

    def credential_on(self, member_id: str, day: date, field: str) -> str:
        """R-EVAL-10: the credential a member shows on a visit must be valid that day."""
        member = self.members.get(member_id)
        if member is None:
            raise RuleViolation(f"{member_id} is not an accredited member of {self.name}", rule="R-EVAL-7", field=field, facts={"code": "member_unknown", "name": self.name})
        if day > member.valid_until:
            raise RuleViolation(
                f"the member's evaluator credential expired on {member.valid_until}", rule="R-EVAL-10", field=field,
                facts={"code": "credential_expired", "until": member.valid_until.isoformat(), "date": day.isoformat()},
            )
        return member.credential_no
