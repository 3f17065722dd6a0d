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
# Services whose Application is only persistence (and read-only lookups), with command, reaction
# and query objects composed around it (ServiceSpec.compose).
COMPOSED = ["finance", "registry", "evaluation", "services_log"]
# …of which every command route states a typed command run on the service's CommandBus.
TYPED_COMMANDS = ["finance", "registry", "evaluation", "services_log"]


def _spec(service: str):
    import importlib

    return importlib.import_module(f"{service}.main").SPEC


def _public_methods(obj: object) -> set[str]:
    return {name for name in dir(type(obj)) if not name.startswith("_") and callable(getattr(type(obj), name))}


@pytest.mark.parametrize("service", COMPOSED)
def test_the_service_application_inherits_no_command_or_reaction_mixin(service):
    from shared.infra.store import SwpApplication

    spec = _spec(service)
    app = spec.application({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    try:
        cls = type(app)
        # Its bases are the shared persistence Application and the library's: nothing of the service.
        own_bases = [b for b in cls.__mro__[1:] if b.__module__.split(".")[0] == service]
        assert own_bases == [], f"{cls.__name__} inherits {own_bases}"
        assert cls.__mro__[1] is SwpApplication
        # Commands and reactions are other objects, holding the store: none of theirs is the store's.
        assert spec.compose is not None
        composed = spec.compose(app)
        parts = [v for v in vars(composed).values() if v is not app]
        assert parts and all(not isinstance(p, SwpApplication) for p in parts)
        on_the_store = {name for p in parts for name in _public_methods(p)} & set(dir(cls))
        assert on_the_store == set(), f"{cls.__name__} still has {sorted(on_the_store)}"
        assert not [name for name in dir(cls) if name.startswith("on_")], "reactions belong to the reactions object"
    finally:
        app.close()


COMMAND_METHODS = {"post", "put", "patch", "delete"}


def _command_routes_off_the_bus(path: Path) -> list[str]:
    """Command routes (POST/PUT/PATCH/DELETE) of a module that run no ``….bus.run(…)``, neither
    themselves nor through a function of the module that does (evaluation's ``_run``)."""
    import ast

    def runs_on_the_bus(fn: ast.AST, helpers: set[str]) -> bool:
        for n in ast.walk(fn):
            if not isinstance(n, ast.Call):
                continue
            f = n.func
            if isinstance(f, ast.Attribute) and f.attr == "run" and isinstance(f.value, ast.Attribute) and f.value.attr == "bus":
                return True
            if isinstance(f, ast.Name) and f.id in helpers:
                return True
        return False

    functions = [fn for fn in ast.walk(ast.parse(path.read_text())) if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)]
    helpers = {fn.name for fn in functions if runs_on_the_bus(fn, set())}
    offenders = []
    for fn in functions:
        is_command = any(
            isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr in COMMAND_METHODS
            for d in fn.decorator_list
        )
        if is_command and not runs_on_the_bus(fn, helpers):
            offenders.append(f"{path.stem}:{fn.name}")
    return offenders


@pytest.mark.parametrize("service", TYPED_COMMANDS)
def test_every_command_route_goes_through_the_command_bus(service):
    # Every API module of the service (api/*.py and any …/api.py, e.g. registry/procurement/api.py):
    # no route runs a command around the bus (run_command with lambdas), and each command route
    # states a typed command run on the service's CommandBus.
    modules = _api_modules(service)
    assert modules
    assert [p.name for p in modules if "run_command" in p.read_text()] == []
    offenders = [o for p in modules for o in _command_routes_off_the_bus(p)]
    assert offenders == [], f"command routes around the CommandBus: {offenders}"


@pytest.mark.parametrize("service", ["finance", "registry", "evaluation", "services_log"])
def test_no_service_application_carries_its_reactions(service):
    # Every service's reactions to upstream events are an object the consumer is wired to, never
    # methods (own or inherited from a mixin) of its Application.
    import importlib

    spec = importlib.import_module(f"{service}.main").SPEC
    app = spec.application({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    try:
        assert [name for name in dir(type(app)) if name.startswith("on_")] == []
    finally:
        app.close()


# …of which every read route (GET) states a typed query answered by the service's QueryBus
# (shared/infra/queries.py), so ownership narrowing lives in the registered handler, not the route.
TYPED_QUERIES: list[str] = ["finance", "evaluation", "registry", "services_log"]
# GET routes that read no domain state through the bus, each with why (module:function → reason).
QUERY_EXEMPT: dict[str, str] = {
    "public:results": "evaluation's public results (R-EVAL-8): no token, so no caller to ask the QueryBus as; "
    "the published list is the same for everyone",
    "deliveries:import_template": "the import template: the columns, kinds and areas, no domain state",
}


def _api_modules(service: str) -> list[Path]:
    package = ROOT / "services" / service.replace("_", "-") / service
    return sorted(package.rglob("api.py")) + sorted((package / "api").rglob("*.py"))


def _get_routes_without_ask(path: Path) -> list[str]:
    import ast

    tree = ast.parse(path.read_text())
    offenders = []
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        is_get = any(
            isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr == "get"
            for d in fn.decorator_list
        )
        if not is_get or f"{path.stem}:{fn.name}" in QUERY_EXEMPT:
            continue
        asks = any(
            isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "ask" for n in ast.walk(fn)
        )
        if not asks:
            offenders.append(f"{path.stem}:{fn.name}")
    return offenders


@pytest.mark.parametrize("service", TYPED_QUERIES)
def test_every_read_route_asks_a_typed_query(service):
    offenders = [o for p in _api_modules(service) for o in _get_routes_without_ask(p)]
    assert offenders == [], f"GET routes reading around the QueryBus: {offenders}"


def test_the_query_route_check_can_fail(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text(
        "@router.get('/x')\ndef x(store):\n    return store.read()\n\n@router.get('/y')\ndef y(bus):\n    return bus.ask(Q())\n"
    )
    assert _get_routes_without_ask(planted) == ["planted:x"]
