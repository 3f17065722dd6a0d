"""The architecture is enforced, not just described: import contracts (pyproject [tool.importlinter])."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_hold():
    # Services never import each other; shared imports no service; domain models import no
    # web, messaging, settings or infrastructure code.
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" in result.stdout and "0 broken" in result.stdout


def test_a_service_importing_another_is_caught(tmp_path):
    # The contract must be able to fail: plant a forbidden import in a copy of the config's view.
    offender = ROOT / "services" / "finance" / "finance" / "_planted_violation.py"
    offender.write_text("import registry.domainmodel  # noqa: F401\n")
    try:
        lint = Path(sys.executable).parent / "lint-imports"
        result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert result.returncode != 0
        assert "finance._planted_violation -> registry.domainmodel" in result.stdout
    finally:
        offender.unlink()


# --- composition, not inheritance (issue 15 item 1) ---------------------------------------------
# Services whose Application is only persistence, with commands, reactions and queries composed
# around it (ServiceSpec.compose). The others still assemble theirs from mixin chains.
COMPOSED = ["finance"]


def _spec(service: str):
    import importlib

    return importlib.import_module(f"{service}.main").SPEC


def _application_class(service: str) -> type:
    import uuid

    app = _spec(service).application({"PERSISTENCE_MODULE": "eventsourcing.popo", "SWP_TEST": uuid.uuid4().hex})
    try:
        return type(app)
    finally:
        app.close()


@pytest.mark.parametrize("service", COMPOSED)
def test_the_service_application_inherits_no_command_reaction_or_query_mixin(service):
    from shared.infra.store import SwpApplication

    cls = _application_class(service)
    # Its bases are the shared persistence Application and the library's: nothing of the service.
    own_bases = [b for b in cls.__mro__[1:] if b.__module__.split(".")[0] == service]
    assert own_bases == [], f"{cls.__name__} inherits {own_bases}"
    assert cls.__mro__[1] is SwpApplication
    # …and it defines no behaviour of its own: commands, reactions and queries are other objects.
    behaviour = [name for name, value in vars(cls).items() if callable(value) and not name.startswith("__")]
    assert behaviour == [], f"{cls.__name__} defines {behaviour}"
    assert _spec(service).compose is not None


@pytest.mark.parametrize("service", COMPOSED)
def test_every_command_route_goes_through_the_command_bus(service):
    # No route of a composed service runs a command around the bus (run_command with lambdas).
    sources = (ROOT / "services" / service / service / "api").rglob("*.py")
    offenders = [p.name for p in sources if "run_command" in p.read_text()]
    assert offenders == []
