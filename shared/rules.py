"""Domain errors that carry the business rule they enforce.

Pure standard library: domain models raise these, the HTTP layer maps them to
``application/problem+json`` (see :mod:`shared.infra.problems`). The ``rule`` is an id
from DOMAIN.md (``R-REG-1`` …) and ``field`` names the offending input field.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every refusal a domain model can raise."""

    status = 422
    title = "Command refused"

    def __init__(
        self, detail: str, *, rule: str | None = None, field: str | None = None, facts: dict[str, object] | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.rule = rule
        self.field = field
        self.facts = facts  # the numbers behind the refusal, for machines (e.g. a cap and its excess in fen)


class RuleViolation(DomainError):
    """A business rule (R-…) refused the command; nothing was recorded."""

    title = "Business rule violated"


class NotFound(DomainError):
    status = 404
    title = "Not found"


class UnknownReference(DomainError):
    """A request body names an id that does not exist in this county."""

    title = "Unknown reference"


class Conflict(DomainError):
    """Concurrent modification or a duplicate command."""

    status = 409
    title = "Conflict"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"
