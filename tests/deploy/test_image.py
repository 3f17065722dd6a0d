"""The image (deploy/Dockerfile) installs the platform with `pip install .`: a wheel built from
pyproject.toml must carry every Python package of the services, or a service that imports fine
from the source tree (editable install) fails to start in its container."""

from __future__ import annotations

import tomllib

from tests.deploy.cluster import DEPLOY

ROOT = DEPLOY.parent


def test_pip_install_ships_every_python_package_of_the_services():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    needed = set()
    for top, directory in config["package-dir"].items():
        for init in (ROOT / directory).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / directory)
            needed.add(".".join((top, *rel.parts)))
    missing = needed - set(config["packages"])
    assert not missing, f"pyproject.toml [tool.setuptools] packages lacks {sorted(missing)}: the image would not import them"
