"""The evaluation event-sourced application."""

from __future__ import annotations

from shared.infra.store import SwpApplication


class EvaluationApplication(SwpApplication):
    service = "evaluation"
    name = "evaluation"
