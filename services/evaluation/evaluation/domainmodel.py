"""evaluation aggregates. Pure domain: standard library, eventsourcing.domain, shared.rules/workdays."""

from __future__ import annotations
