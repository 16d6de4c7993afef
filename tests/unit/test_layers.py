"""The layer rules of ARCHITECTURE.md, checked on the source (an import-linter equivalent)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "opencrm"

FORBIDDEN = {
    "core": {"sqlalchemy", "alembic", "psycopg", "flask", "django", "twilio", "openpyxl"},
    "storage": {"flask", "django", "twilio", "openpyxl"},
    "plugins": {"opencrm_flask", "opencrm_django", "flask", "django"},
    # The REST API is written once, for every adapter: no web framework, no ORM.
    "http": {
        "flask",
        "werkzeug",
        "django",
        "starlette",
        "sqlalchemy",
        "opencrm_flask",
        "opencrm_django",
        "twilio",
        "openpyxl",
    },
}
ADAPTERS = Path(__file__).resolve().parents[2] / "adapters"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def violations(layer: str) -> list[str]:
    bad = []
    for path in sorted((SRC / layer).rglob("*.py")):
        for module in imported_modules(path):
            if module.split(".")[0] in FORBIDDEN[layer]:
                bad.append(f"{path.relative_to(SRC)} imports {module}")
    return bad


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_nothing_forbidden(layer: str) -> None:
    assert violations(layer) == []


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text("import os\nfrom sqlalchemy.orm import Session\n")
    assert "sqlalchemy.orm" in imported_modules(sample)


def test_core_does_not_import_storage_or_the_facade() -> None:
    bad = []
    for path in sorted((SRC / "core").rglob("*.py")):
        for module in imported_modules(path):
            if module.startswith(
                ("opencrm.storage", "opencrm.crm", "opencrm.plugins", "opencrm.io")
            ):
                bad.append(f"{path.relative_to(SRC)} imports {module}")
    assert bad == []


def test_http_layer_uses_only_the_public_api_and_no_storage() -> None:
    """Built-in plugins (the invoice renderer) are reached through the session too."""
    bad = []
    for path in sorted((SRC / "http").rglob("*.py")):
        for module in imported_modules(path):
            if module.startswith(
                ("opencrm.storage", "opencrm.core.services", "opencrm.plugins.builtin")
            ):
                bad.append(f"{path.relative_to(SRC)} imports {module}")
    assert bad == []


def test_adapters_hold_no_storage_or_core_internals() -> None:
    """Adapters translate requests; queries and handlers live in opencrm.http."""
    bad = []
    for path in sorted(ADAPTERS.rglob("*.py")):
        for module in imported_modules(path):
            if module.startswith(("opencrm.core", "opencrm.storage", "sqlalchemy")):
                bad.append(f"{path.relative_to(ADAPTERS)} imports {module}")
    assert bad == []


def test_importing_opencrm_creates_no_engine() -> None:
    code = (
        "import sqlalchemy\n"
        "def refuse(*a, **k):\n"
        "    raise SystemExit('engine created at import time')\n"
        "sqlalchemy.create_engine = refuse\n"
        "import pkgutil, importlib, opencrm\n"
        "for m in pkgutil.walk_packages(opencrm.__path__, 'opencrm.'):\n"
        "    if '.migrations.' not in m.name:\n"
        "        importlib.import_module(m.name)\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.stdout.strip() == "ok", result.stderr
