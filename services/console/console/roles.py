"""How a role's pages plug into the console: one ``RolePages`` per module under ``console.pages``,
listed once in ``console.pages.REGISTERED``."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import APIRouter


@dataclass(frozen=True)
class NavItem:
    label: str
    href: str


@dataclass
class RolePages:
    roles: tuple[str, ...]  # API roles (token ``role`` claims) these pages serve
    title: str  # shown above the left navigation
    router: APIRouter
    nav: list[NavItem] = field(default_factory=list)

    @property
    def home(self) -> str:
        return self.nav[0].href if self.nav else "/home"
