"""Finance HTTP API (paths fixed by API.md). Route docstrings become the OpenAPI text."""

from finance.api import budgets, calendars, expenses, tranches

routers = [budgets.router, tranches.router, expenses.router, calendars.router]

__all__ = ["routers"]
