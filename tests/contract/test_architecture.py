"""The architecture is enforced, not just described: import contracts (pyproject [tool.importlinter])."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
