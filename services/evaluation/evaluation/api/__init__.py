"""evaluation HTTP API; route docstrings become the OpenAPI text."""

from evaluation.api import evaluations, evaluators, public, rubrics

ROUTERS = [rubrics.router, evaluators.router, evaluations.router, public.router]
