"""The services-log event-sourced application."""

from __future__ import annotations

from shared.infra.store import SwpApplication


class ServicesLogApplication(SwpApplication):
    service = "services-log"
    name = "services_log"
