"""Integration event schemas: the public, versioned contract between services (R-AUD-5).

Domain events stay private to their service; each service maps the ones it wants
to publish onto these models (its ``integration.py``). Consumers are tolerant
readers: unknown fields are ignored, unknown event types are skipped.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T", bound="IntegrationEvent")


class IntegrationEvent(BaseModel):
    """Base of every published event body (the envelope's ``data``)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    service: ClassVar[str]
    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1
    summary: ClassVar[str] = ""


EVENT_TYPES: dict[tuple[str, str], type[IntegrationEvent]] = {}


def integration_event(service: str, *, version: int = 1):
    """Register a model as the schema of ``swp.<county>.<service>.<ClassName>``."""

    def register(cls: type[T]) -> type[T]:
        cls.service = service
        cls.event_type = cls.__name__
        cls.schema_version = version
        cls.summary = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        EVENT_TYPES[(service, cls.__name__)] = cls
        return cls

    return register


def parse_event(service: str, event_type: str, data: dict[str, Any]) -> IntegrationEvent | None:
    """The typed body of an event, or None for a type this reader does not know."""
    cls = EVENT_TYPES.get((service, event_type))
    return None if cls is None else cls.model_validate(data)


def load_all() -> None:
    """Import every schema module so EVENT_TYPES is complete."""
    from shared.events import evaluation, finance, procurement, registry, services_log  # noqa: F401
