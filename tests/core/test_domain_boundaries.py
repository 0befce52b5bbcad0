"""The domain-boundary contract catches what it promises to, and the drawn graph is current."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = shutil.which("lint-imports", path=str(Path(sys.executable).parent))

CONFIG = """
[tool.importlinter]
root_package = "shop"
exclude_type_checking_imports = true
contract_types = ["domain_boundaries: lint.domain_boundaries.DomainBoundariesContract"]

[[tool.importlinter.contracts]]
name = "boundaries"
type = "domain_boundaries"
root = "shop"
foundation = ["core"]
clients = ["web"]
public_modules = ["service", "schemas", "events"]
top_rooms = ["views", "cli"]
"""


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, body in {"shop/__init__.py": "", **files}.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(body))
        for parent in path.parents:
            if parent == tmp_path:
                break
            (parent / "__init__.py").touch()
    (tmp_path / "pyproject.toml").write_text(CONFIG)
    return tmp_path


def _lint(tmp_path: Path) -> subprocess.CompletedProcess:
    if LINT_IMPORTS is None:
        pytest.fail("lint-imports is not installed in the test environment (pip install -e '.[dev]')")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}", "COLUMNS": "200"}
    return subprocess.run(
        [LINT_IMPORTS, str(tmp_path / "pyproject.toml"), "--no-cache"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


GOOD = {
    "shop/core/database.py": "X = 1\n",
    "shop/orders/models.py": "from shop.core import database\n",
    "shop/orders/service.py": "from shop.orders import models\nfrom shop.stock import service\n",
    "shop/stock/models.py": "",
    "shop/stock/service.py": "from shop.stock import models\n",
    "shop/web/pages.py": "from shop.orders import service\n",
}


def test_a_clean_tree_keeps_the_contract(tmp_path):
    result = _lint(_package(tmp_path, GOOD))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("extra", "rule"),
    [
        ({"shop/orders/report.py": "from shop.stock import models\n"}, "tables:"),
        ({"shop/orders/report.py": "from shop.stock import pricing\n",
          "shop/stock/pricing.py": ""}, "public:"),
        ({"shop/core/clock.py": "from shop.orders import service\n"}, "layers:"),
        ({"shop/orders/hooks.py": "from shop.web import pages\n"}, "layers:"),
        ({"shop/stock/sync.py": "from shop.orders import service\n"}, "cycle:"),
    ],
    ids=["another-domains-table", "a-private-module", "core-imports-a-domain",
         "a-domain-imports-a-client", "a-cycle-between-domains"],
)
def test_each_kind_of_breach_is_caught(tmp_path, extra, rule):
    result = _lint(_package(tmp_path, {**GOOD, **extra}))
    assert result.returncode != 0
    assert rule in result.stdout, result.stdout


def test_a_domains_routes_may_depend_on_a_domain_that_depends_on_it(tmp_path):
    """views/cli sit on top of a domain: they do not close a cycle."""
    result = _lint(_package(tmp_path, {**GOOD, "shop/stock/views.py": "from shop.orders import service\n"}))
    assert result.returncode == 0, result.stdout


def test_the_architecture_doc_draws_the_current_graph():
    result = subprocess.run(
        [sys.executable, "-m", "lint.domain_graph", "--check"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
