"""NATS subject naming for integration events (R-AUD-5): ``swp.<county>.<service>.<EventType>``."""

from __future__ import annotations

import re

STREAM_NAME = "SWP"
STREAM_SUBJECTS = ["swp.>"]
SERVICES = ("registry", "services-log", "evaluation", "finance")
# Province-level facts (rubrics, calendars, programmes) are not tied to one county.
PROVINCE = "province"

_COUNTY = re.compile(r"^(\d{6}|province)$")
_EVENT_TYPE = re.compile(r"^[A-Z][A-Za-z0-9]+$")


def subject(county: str, service: str, event_type: str) -> str:
    if not _COUNTY.match(county):
        raise ValueError(f"county must be a 6-digit division code, got {county!r}")
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}")
    if not _EVENT_TYPE.match(event_type):
        raise ValueError(f"event type must be PascalCase, got {event_type!r}")
    return f"swp.{county}.{service}.{event_type}"


def service_wildcard(service: str, county: str = "*") -> str:
    """All events of one service, e.g. ``swp.*.registry.>`` (what a consumer subscribes to)."""
    return f"swp.{county}.{service}.>"


def parse(subject_: str) -> tuple[str, str, str]:
    parts = subject_.split(".")
    if len(parts) != 4 or parts[0] != "swp":
        raise ValueError(f"not an SWP subject: {subject_!r}")
    return parts[1], parts[2], parts[3]
